/**
 * YAML files are built as data and written with the `yaml` package, so no value
 * can break a file's structure; per-stack `extraConfig` is deep-merged on top.
 */
import { stringify } from "yaml";

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Deep-merge `over` into `base`: objects merge key by key, anything else replaces. */
export function deepMerge(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = isObj(v) && isObj(out[k]) ? deepMerge(out[k] as Obj, v) : v;
  }
  return out;
}

export function toYaml(header: string, data: Obj): string {
  const comment = header
    .split("\n")
    .map((l) => `# ${l}`.trimEnd())
    .join("\n");
  // lineWidth 0: never fold long strings (tokens, regexes) across lines.
  return `${comment}\n${stringify(data, { lineWidth: 0, aliasDuplicateObjects: false })}`;
}

export const MANAGED = (stack: string) => `Managed by matrix-kit (stack ${stack}): generated, edits are overwritten by \`pulumi up\`.`;
