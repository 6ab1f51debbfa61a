/** A shipped stack's settings, as the tests need them: secrets aside (example stacks cannot ship encrypted values). */
import { readStackFile, stackFilePath, validate } from "../../infra/config";
import type { Settings } from "../../infra/settings";

/** `values` (full keys, e.g. "matrix:federation") replace the stack file's, and go through the same validation. */
export function stackSettings(stack: string, values: Record<string, unknown> = {}): Settings {
  const raw = readStackFile(stackFilePath(stack));
  const v = validate(stack, { ...raw, values: { ...raw.values, ...values } }, { requireSecrets: false });
  if (!v.ok) throw new Error(`stack ${stack} is invalid:\n${v.errors.join("\n")}`);
  return v.settings;
}

/** The federation modes other than the default "open", as stack values (docs/settings.md, "Federation and heavy rooms"). */
export const FEDERATION_VARIANTS: Record<"allow-list" | "off", Record<string, unknown>> = {
  "allow-list": { "matrix:federation": { mode: "allow-list", allowedServers: ["matrix.org", "friends.example.net:8448"], roomComplexityLimit: 3 } },
  off: { "matrix:federation": { mode: "off", roomComplexityLimit: null } },
};
