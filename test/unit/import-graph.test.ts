/**
 * The layout in imports: no file of infra/ reaches itself round a circle of imports, and every
 * import runs downward, from the entry points through the components and operator commands to the
 * renderers, the config and the settings at the bottom. Read with TypeScript's preprocessor
 * (test/harness/import-graph.ts), type-only imports included: a type that runs up ties the layers
 * as surely as a value does.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { describe, test } from "node:test";
import { importCycles, importGraph, importsInto, type ImportGraph } from "../harness/import-graph";

const INFRA = path.resolve(__dirname, "../../infra");

/** Each file's layer, bottom first: an import goes to a lower layer, or within its own folder. */
function layer(file: string): number {
  const top = file.split("/")[0];
  if (["settings.ts", "settings-services.ts", "secrets.ts", "budgets.ts"].includes(file)) return 0;
  if (top === "config") return 1;
  if (top === "render") return 2;
  if (top === "components" || top === "ops" || file === "preflight.ts") return 3;
  if (file === "index.ts" || top === "cli") return 4;
  throw new Error(`${file}: no layer for it here; add its folder to the layers above`);
}
/** A file's folder; the bottom layer's files (the kit's types) count as one, so they may import each other. */
const folder = (file: string) => (file.includes("/") ? file.split("/")[0] : layer(file) === 0 ? "(types)" : file);

function upward(graph: ImportGraph): string[] {
  return [...graph].flatMap(([from, targets]) =>
    targets.filter((to) => folder(from) !== folder(to) && layer(to) >= layer(from)).map((to) => `${from} (layer ${layer(from)}) -> ${to} (layer ${layer(to)})`),
  );
}

describe("infra/'s imports", () => {
  const graph = importGraph(INFRA);

  test("read from every file, relative imports resolved to files (the renderers' shared names among them)", () => {
    assert.ok(graph.size > 80, `${graph.size} files`);
    assert.ok(graph.get("render/containers.ts")?.includes("render/addresses.ts"));
    assert.ok(graph.get("index.ts")?.includes("config/index.ts"), "a folder's index.ts");
  });

  test("no circle: a renderer imports what it shares with others from a module below them all", () => {
    assert.deepEqual(importCycles(graph), []);
  });

  test("every import runs downward (cli and the program, components and operator commands, renderers, config, settings)", () => {
    assert.deepEqual(upward(graph), []);
  });

  test("settings.ts takes nothing from config/ (config/ produces the settings)", () => {
    assert.deepEqual(importsInto(graph, (f) => f === "settings.ts", (f) => f.startsWith("config/")), []);
  });
});

describe("the checks find what they look for (a made-up graph)", () => {
  const made: ImportGraph = new Map([
    ["render/a.ts", ["render/b.ts", "settings.ts"]],
    ["render/b.ts", ["render/c.ts"]],
    ["render/c.ts", ["render/a.ts"]],
    ["render/d.ts", ["render/d.ts"]],
    ["settings.ts", ["config/budget.ts"]],
    ["config/budget.ts", ["settings.ts"]],
    ["components/x.ts", ["render/a.ts"]],
  ]);

  test("each circle, a file importing itself included, once", () => {
    assert.deepEqual(
      importCycles(made).map((g) => g.join(" ")).sort(),
      ["config/budget.ts settings.ts", "render/a.ts render/b.ts render/c.ts", "render/d.ts"],
    );
  });

  test("an import that runs up", () => {
    assert.deepEqual(upward(made), ["settings.ts (layer 0) -> config/budget.ts (layer 1)"]);
  });
});
