/**
 * The kit's own import graph, read with TypeScript's own preprocessor (every import, export-from,
 * `import type` and require of a relative path), and its cycles (Tarjan's strongly connected
 * components): what test/unit/import-graph.test.ts holds the layout to.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import ts from "typescript";

/** file -> the files it imports, all relative to `root` ("render/all.ts"). */
export type ImportGraph = Map<string, string[]>;

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [p] : [];
  });
}

/** Where a relative specifier lands: x.ts, or x/index.ts; undefined for anything else (JSON data). */
function resolveSpecifier(from: string, spec: string): string | undefined {
  const base = path.resolve(path.dirname(from), spec);
  return [`${base}.ts`, path.join(base, "index.ts"), base].find((p) => p.endsWith(".ts") && fs.existsSync(p));
}

export function importGraph(root: string): ImportGraph {
  const graph: ImportGraph = new Map();
  for (const file of tsFiles(root)) {
    const info = ts.preProcessFile(fs.readFileSync(file, "utf8"), true, true);
    const targets = info.importedFiles
      .map((f) => f.fileName)
      .filter((spec) => spec.startsWith("."))
      .map((spec) => resolveSpecifier(file, spec))
      .filter((p): p is string => p !== undefined)
      .map((p) => path.relative(root, p));
    graph.set(path.relative(root, file), [...new Set(targets)].sort());
  }
  return graph;
}

/** Every group of files that import each other round a circle (a file importing itself included), each sorted. */
export function importCycles(graph: ImportGraph): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(group.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return cycles;
}

/** One import that breaks a rule: who imports what. */
export function importsInto(graph: ImportGraph, from: (f: string) => boolean, into: (f: string) => boolean): string[] {
  return [...graph].flatMap(([f, targets]) => (from(f) ? targets.filter(into).map((t) => `${f} -> ${t}`) : []));
}
