/**
 * What "a file keeps its structure" means for each kind the kit renders, so that a hostile
 * setting value can be judged: the block and directive skeleton of an nginx site, the key
 * paths of a YAML or JSON document, the places of a shell script that are single-quoted.
 * Plus the list of string settings, read from the schema itself.
 */
import type { z } from "zod";

export type Stack = Record<string, unknown>;

/** Set a dotted setting path (`nginx.tls.port`) in a stack's nested values. */
export function setAt(obj: Stack, key: string, value: unknown): void {
  const parts = key.split(".");
  let cur = obj;
  // A numeric part is a list's index (`nginx.adminApiFrom.0`): its holder is an array.
  parts.slice(0, -1).forEach((p, i) => (cur = (cur[p] ??= /^\d+$/.test(parts[i + 1]) ? [] : {}) as Stack));
  cur[parts[parts.length - 1]] = value;
}

/** Whether the object holding a dotted path's last key exists. */
export function hasParent(obj: Stack, key: string): boolean {
  let cur: unknown = obj;
  for (const p of key.split(".").slice(0, -1)) cur = (cur as Stack | undefined)?.[p];
  return cur !== undefined;
}

/** Every setting path whose value is (or may be) a string: `nginx.tls.certificate`, ... */
export function stringSettingPaths(schema: z.ZodType): string[] {
  const out = new Set<string>();
  const walk = (t: z.ZodType, path: string[]): void => {
    const def = (t as unknown as { _zod: { def: Record<string, unknown> & { type: string } } })._zod.def;
    switch (def.type) {
      case "object":
        for (const [k, v] of Object.entries(def.shape as Record<string, z.ZodType>)) walk(v, [...path, k]);
        return;
      case "optional": case "nullable": case "default": case "prefault": case "readonly": case "nonoptional": case "catch":
        return walk(def.innerType as z.ZodType, path);
      case "union":
        for (const o of def.options as z.ZodType[]) walk(o, path);
        return;
      case "pipe":
        return walk(def.in as z.ZodType, path);
      case "array":
        return walk(def.element as z.ZodType, [...path, "0"]);
      case "string":
      case "enum":
        out.add(path.join("."));
        return;
      case "literal":
        if ((def.values as unknown[]).some((v) => typeof v === "string")) out.add(path.join("."));
        return;
      case "number": case "boolean": case "record":
        return; // records are the extraConfig mappings: data merged into YAML, not text in a file
      default:
        throw new Error(`stringSettingPaths: schema type "${def.type}" at ${path.join(".")} is not handled`);
    }
  };
  walk(schema, []);
  return [...out].sort();
}

/**
 * An nginx file's skeleton: one entry per directive, "<enclosing blocks> <directive name>",
 * blocks named by their directive and, for location/if, their arguments. Quotes, escapes
 * and comments are read as nginx reads them, so a value that opens a block, ends a
 * directive or adds one changes the skeleton.
 */
export function nginxSkeleton(text: string): string[] {
  const out: string[] = [];
  const blocks: string[] = [];
  let words: string[] = [];
  let word = "";
  let inWord = false;
  const endWord = () => {
    if (inWord) words.push(word);
    word = "";
    inWord = false;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "'" || c === '"') {
      inWord = true;
      for (i++; i < text.length && text[i] !== c; i++) word += text[i] === "\\" ? text[++i] : text[i];
    } else if (c === "\\") {
      inWord = true;
      word += text[++i];
    } else if (c === "#" && !inWord) {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (/\s/.test(c)) {
      endWord();
    } else if (c === ";" || c === "{") {
      endWord();
      const name = words[0] === "location" || words[0] === "if" ? words.join(" ") : (words[0] ?? "");
      out.push(`${blocks.join(" > ")} ${words[0] ?? "(empty)"}`);
      if (c === "{") blocks.push(name);
      words = [];
    } else if (c === "}") {
      endWord();
      if (words.length > 0) out.push(`${blocks.join(" > ")} ${words[0]} (unterminated)`);
      words = [];
      if (blocks.pop() === undefined) out.push("(unbalanced })");
    } else {
      inWord = true;
      word += c;
    }
  }
  endWord();
  if (words.length > 0 || blocks.length > 0) out.push("(unterminated at end)");
  return out;
}

/** Key paths of parsed YAML/JSON, with `value` in a key written as <V> (keys like "@<admin>:<domain>"). */
export function keyPaths(doc: unknown, value: string, prefix = ""): string[] {
  if (Array.isArray(doc)) return doc.flatMap((d, i) => keyPaths(d, value, `${prefix}[${i}]`));
  if (doc === null || typeof doc !== "object") return [];
  return Object.entries(doc).flatMap(([k, v]) => {
    const p = `${prefix}/${value ? k.split(value).join("<V>") : k}`;
    return [p, ...keyPaths(v, value, p)];
  });
}

type ShellState = "code" | "single" | "double" | "comment";

/** The state of each character of a POSIX shell script: code, inside '...', inside "...", or a comment. */
function shellStates(script: string): ShellState[] {
  const states: ShellState[] = new Array(script.length);
  // A stack of contexts: "$(" inside "..." opens code again, closed by its ")".
  const stack: { ctx: "code" | "double"; parens: number }[] = [{ ctx: "code", parens: 0 }];
  for (let i = 0; i < script.length; i++) {
    const c = script[i];
    const top = stack[stack.length - 1];
    if (top.ctx === "double") {
      states[i] = "double";
      if (c === "\\") states[++i] = "double";
      else if (c === '"') stack.pop();
      else if (c === "$" && script[i + 1] === "(") {
        states[++i] = "double";
        stack.push({ ctx: "code", parens: 0 });
      }
      continue;
    }
    if (c === "'") {
      states[i] = "code";
      for (i++; i < script.length && script[i] !== "'"; i++) states[i] = "single";
      if (i < script.length) states[i] = "code";
    } else if (c === '"') {
      states[i] = "double";
      stack.push({ ctx: "double", parens: 0 });
    } else if (c === "\\") {
      states[i] = "code";
      states[++i] = "code";
    } else if (c === "#" && (i === 0 || /[\s;&|()]/.test(script[i - 1]))) {
      for (; i < script.length && script[i] !== "\n"; i++) states[i] = "comment";
      if (i < script.length) states[i] = "code";
    } else {
      states[i] = "code";
      if (c === "(") top.parens++;
      else if (c === ")") {
        if (top.parens > 0) top.parens--;
        else if (stack.length > 1) stack.pop();
      }
    }
  }
  return states;
}

/**
 * Where `value` appears in `script` other than inside single quotes (as the `sh` helper quotes:
 * a ' inside becomes '\''). Empty when every occurrence is quoted, or there is none.
 */
export function unquotedShellOccurrences(script: string, value: string): string[] {
  const states = shellStates(script);
  const quoted = value.replace(/'/g, `'\\''`);
  const bad: string[] = [];
  // The quoted form first: a raw occurrence inside one (the value's head or tail) is that one.
  const covered: [number, number][] = [];
  for (const form of value === quoted ? [value] : [quoted, value]) {
    for (let at = script.indexOf(form); at >= 0; at = script.indexOf(form, at + 1)) {
      if (covered.some(([a, b]) => at < b && at + form.length > a)) continue;
      covered.push([at, at + form.length]);
      // The quoted form's '\'' runs are the quoting itself; everything else must be inside '...'.
      const isEscape = new Array(form.length).fill(false);
      if (form === quoted) for (let j = form.indexOf(`'\\''`); j >= 0; j = form.indexOf(`'\\''`, j + 4)) isEscape.fill(true, j, j + 4);
      let ok = true;
      for (let j = 0; j < form.length; j++) ok &&= isEscape[j] || states[at + j] === "single";
      const line = script.slice(0, at).split("\n").length;
      if (!ok) bad.push(`line ${line}: ${JSON.stringify(script.split("\n")[line - 1].slice(0, 160))}`);
    }
  }
  return bad;
}
