/**
 * docs/settings.md is the reference of every setting: each key of the schema (infra/config/schema.ts)
 * has a row in its table, and each key a row names is one of the schema's, so neither the
 * reference nor the schema can move without the other. A key under a per-service object
 * (`cpu.synapse.limit`) is documented by its pattern's row (`cpu.<service>.limit`) when that row
 * names the service.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { schema, SECRET_KEYS } from "../../infra/config/schema";

const DOC = fs.readFileSync(path.resolve(__dirname, "../../docs/settings.md"), "utf8");

/** Wrappers that do not change a setting's key (optional, defaults, transforms). */
const WRAPPERS = ["optional", "default", "prefault", "nullable", "pipe", "readonly", "catch", "nonoptional"];

function unwrap(t: any): any {
  while (WRAPPERS.includes(t?._zod?.def?.type)) t = t._zod.def.innerType ?? t._zod.def.in;
  return t;
}

/** Every leaf key of a zod schema, dotted ("synapse.mediaRetention.bridgedMediaLifetime"). */
function schemaKeys(t: any, at = ""): string[] {
  const d = unwrap(t)._zod.def;
  if (d.type === "object") return Object.entries(d.shape).flatMap(([k, v]) => schemaKeys(v, at ? `${at}.${k}` : k));
  if (d.type === "union") {
    const keys = d.options.flatMap((o: unknown) => schemaKeys(o, at));
    return keys.length > 0 ? [...new Set<string>(keys)] : [at];
  }
  return [at];
}

/** The table rows of a section ("## Every setting"): the keys each row's first cell names, and the row. */
function documentedRows(section = "Every setting"): { keys: string[]; row: string }[] {
  const table = DOC.split(`\n## ${section}\n`)[1].split("\n## ")[0];
  return table
    .split("\n")
    .filter((l) => l.startsWith("| `"))
    .map((row) => ({ keys: [...row.split(" | ")[0].matchAll(/`([^`]+)`/g)].map((m) => m[1]), row }));
}

const keys = [...new Set(schemaKeys(schema))];
const rows = documentedRows();

function documentedBy(key: string): string | undefined {
  const exact = rows.find((r) => r.keys.includes(key));
  if (exact) return exact.keys.join(", ");
  const parts = key.split(".");
  for (const r of rows) {
    for (const k of r.keys) {
      const pattern = k.split(".");
      if (pattern.length !== parts.length) continue;
      const open = pattern.findIndex((p) => /^<.+>$/.test(p));
      if (open >= 0 && pattern.every((p, i) => i === open || p === parts[i]) && r.row.includes(`\`${parts[open]}\``)) return k;
    }
  }
  return undefined;
}

test("the schema's keys are read from it (a per-service key, a union's keys)", () => {
  assert.ok(keys.includes("synapse.mediaRetention.bridgedMediaLifetime"));
  assert.ok(keys.includes("cpu.docker-filter.shares"));
  assert.ok(keys.includes("target.hostKey") && keys.includes("target.kind"));
});

test("every secret setting has its row under Secrets, and that table names no other", () => {
  assert.deepEqual(documentedRows("Secrets").flatMap((r) => r.keys).sort(), [...SECRET_KEYS].sort());
});

test("every setting of the schema has its row in docs/settings.md", () => {
  assert.deepEqual(keys.filter((k) => !documentedBy(k)), []);
});

test("every key a row of docs/settings.md names is a setting of the schema", () => {
  const named = rows.flatMap((r) => r.keys).filter((k) => !k.includes("<"));
  assert.deepEqual(named.filter((k) => !keys.includes(k)), []);
});

test("a key with no row, or a row with no key, is found (a made-up key each way)", () => {
  assert.equal(documentedBy("synapse.noSuchSetting"), undefined);
  assert.equal(documentedBy("cpu.nosuchservice.limit"), undefined, "a pattern's row documents only the services it names");
  assert.equal(documentedBy("cpu.upkeep.limit"), "cpu.<service>.limit");
});
