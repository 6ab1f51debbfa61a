/**
 * node --import tsx bench/footprint/sweep.ts <footprint*.json> [reference-label]
 *
 * One line per deployment of a run with repetitions (a sweep of --variant levers): each figure's
 * median and range over the repetitions, in MiB or ms, and its ratio to the reference deployment
 * of the same round (the kit by default, the lever's starting point) and to the baseline. Nothing is
 * measured here: it reads what the run wrote.
 */
import * as fs from "node:fs";
import type { DeploymentResult } from "./report";
import { formatSpread, ratios, spread } from "./runs";

type Result = DeploymentResult & { rep: number };

const MiB = 1024 * 1024;

export function sweepTable(results: Result[], reference = "kit"): string[] {
  const labels = [...new Set(results.map((r) => r.label))];
  const hasBaseline = labels.includes("baseline");
  const figures: [string, (r: Result) => number, number][] = [
    ["total peak MiB", (r) => r.peakTotal, MiB],
    ["synapse peak", (r) => r.peak.synapse, MiB],
    ["postgres peak", (r) => r.peak.postgres, MiB],
    ["send p99 ms", (r) => r.workload.latencyMs.sendP99, 1],
    ["upload p99 ms", (r) => r.workload.latencyMs.uploadP99, 1],
  ];
  const head = ["deployment", ...figures.map(([n]) => n), ...figures.map(([n]) => `${n.split(" ").slice(0, 2).join(" ")} /${reference}`), "total peak /base", "send p99 /base", "upload p99 /base"];
  const rows = labels.map((l) => {
    const mine = results.filter((r) => r.label === l);
    return [
      l,
      ...figures.map(([, f, unit]) => formatSpread(spread(mine.map((r) => f(r) / unit)), 0)),
      ...figures.map(([, f]) => (l === reference ? "-" : formatSpread(spread(ratios(results, l, f, reference))))),
      // "-" for the baseline itself, and for every row of a run without one (--only kit).
      ...[figures[0], figures[3], figures[4]].map(([, f]) => (l === "baseline" || !hasBaseline ? "-" : formatSpread(spread(ratios(results, l, f))))),
    ];
  });
  return [head, ...rows].map((r) => r.join(" | "));
}

if (require.main === module) {
  const [file, reference] = process.argv.slice(2);
  const run = JSON.parse(fs.readFileSync(file, "utf8")) as { results: Result[] };
  console.log(sweepTable(run.results, reference).join("\n"));
}
