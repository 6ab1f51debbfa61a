/**
 * npm run bench:footprint [-- --short | --medium] [--out <dir>] [--only baseline,mdad,kit] [--variant name=<json> ...] [--reps n] [--skip-ops]
 *
 * Deploys the baseline (the hand-made setup), the peer (the same with matrix-docker-ansible-deploy's
 * defaults for a 1 GB host, peer.ts) and then the kit on this machine as
 * the VPS (bench/footprint/run.sh sets it up), runs the same workload on each,
 * every container, and the host's nginx and sshd, confined to one CPU (bench/peak/pin.ts),
 * and prints memory (idle, peak, end, from the cgroups), latency, errors, OOM
 * kills, lost messages and disk growth side by side; writes footprint.json and
 * footprint.svg (memory over time) to --out. --short is the e2e run's small
 * version, which keeps the benchmark working; its figures mean little.
 * --variant adds a deployment of the kit with stack settings replaced, e.g.
 * --variant 'no-autotune={"matrix:synapse":{"extraConfig":{"caches":{"cache_autotuning":null}}}}',
 * to measure what one tuning choice is worth in the same run. After the workload each kit
 * deployment runs its upkeep job by hand with a 1 s bridged-media lifetime: what it frees
 * (the workload's ghost uploads), the sizes before and after, state compression, its time.
 * Before that, each kit deployment backs up twice with restic (time, size read, size added: the
 * second shows deduplication), measures its repository, and restores the last snapshot over itself.
 * --reps n runs every deployment n times, interleaved and rotated (baseline, kit; kit, baseline; ...), and
 * prints each ratio to the baseline as the median and range over the repetitions; the backups and
 * the upkeep run are measured in the first repetition only (no ratio uses them), and not at all
 * with --skip-ops (a sweep of tuning variants saves their minutes). Over the send phase, each
 * container's CPU and throttling and Synapse's own time per request (from its access log) say
 * where the latency goes. Every ratio is printed against the baseline and the peer. --medium: a
 * workload between the two (workload.ts MEDIUM), for repetitions of a size that fits an hour.
 * Exit 1 when a deployment fails to deploy or run (named at the end; the others are still measured),
 * loses an acknowledged message, or its upkeep run fails.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { collect, parseStatus, statusScript } from "../../infra/ops/status";
import { parseBackupResult } from "../../infra/ops/backup/results";
import { lastUpkeepSummary, type UpkeepSummary } from "../../infra/ops/upkeep";
import { removeLeftovers, type Deployment } from "./deploy";
import { Sampler } from "./memory";
import { byService, chartSvg, diskFigures, formatReport, serviceOf, seriesOf, SERVICES, type BackupFigures, type DeploymentResult } from "./report";
import { containersOf, CpuSampler } from "../peak/cpu";
import { pinContainers, unpinHost } from "../peak/pin";
import { formatRatios, measureEach, ownerToken, runsFrom, sleep, type Run } from "./runs";
import { splitTimes, synapseTimes } from "./server-time";
import { cacheSizes } from "./caches";
import { queueHeldShare } from "./admission";
import { FULL, MEDIUM, runWorkload, SHORT } from "./workload";

/** Each workload, and how long a deployment idles before it (its idle figures). */
const MODES = { short: { plan: SHORT, settleSeconds: 10 }, medium: { plan: MEDIUM, settleSeconds: 30 }, full: { plan: FULL, settleSeconds: 60 } } as const;
type Mode = keyof typeof MODES;

const log = (l: string) => console.log(`[bench] ${l}`);

async function snapshot(d: Deployment) {
  return parseStatus(await collect({ kind: "local" }, statusScript(d.subject)));
}

/** The kit's upkeep job, by hand, with a 1 s bridged-media lifetime: what it frees after an evening's traffic. */
function runUpkeep(runScript: string, label: string): UpkeepSummary {
  log(`${label}: upkeep run by hand`);
  const out = execFileSync(runScript, ["--bridged-media-lifetime-seconds", "1"], { encoding: "utf8", timeout: 1_800_000 });
  const summary = lastUpkeepSummary(out);
  if (!summary) throw new Error(`the upkeep job printed no summary:\n${out}`);
  log(`${label}: upkeep freed ${(summary.freedBytes / 1024 ** 2).toFixed(1)} MiB in ${summary.seconds} s${summary.failed.length ? `; FAILED: ${summary.failed.join(", ")}` : ""}`);
  return summary;
}

/**
 * The kit's backup after the workload: the first (everything), a second (what deduplication
 * leaves), the repository's size, and a restore of the last one over the deployment (--force).
 */
function runBackups(b: NonNullable<Deployment["backup"]>, label: string): BackupFigures {
  const backup = () => {
    const t = Date.now();
    execFileSync(b.script, ["manual"], { encoding: "utf8", timeout: 3_600_000, stdio: ["ignore", "pipe", "pipe"] });
    const r = parseBackupResult(fs.readFileSync(b.statusFile, "utf8"));
    if (!r?.ok || !r.summary) throw new Error(`${label}: the backup failed: ${r?.error ?? "no result"}`);
    return { seconds: (Date.now() - t) / 1000, readBytes: r.summary.total_bytes_processed, addedBytes: r.summary.data_added };
  };
  log(`${label}: backup (restic)`);
  const first = backup();
  const second = backup();
  const repositoryBytes = Number(execFileSync("du", ["-sb", b.repository], { encoding: "utf8" }).split("\t")[0]);
  log(`${label}: restore of the last snapshot over the deployment`);
  const t = Date.now();
  execFileSync(b.restore, ["latest", "--force"], { encoding: "utf8", timeout: 3_600_000, stdio: ["ignore", "pipe", "pipe"] });
  const figures = { first, second, repositoryBytes, restoreSeconds: (Date.now() - t) / 1000 };
  log(`${label}: backup ${first.seconds.toFixed(0)} s, repository ${(repositoryBytes / 1024 ** 2).toFixed(1)} MiB, second backup +${(second.addedBytes / 1024 ** 2).toFixed(2)} MiB, restore ${figures.restoreSeconds.toFixed(0)} s`);
  return figures;
}

async function measure({ label, deploy }: Run, mode: Mode, rep: number, skipOps: boolean): Promise<DeploymentResult & { rep: number }> {
  log(`${label}: deploying`);
  const t0 = Date.now();
  const d = await deploy();
  try {
    // One CPU for both sides, as on the VPS the kit's defaults are for (cpu.total 1): unpinned on a
    // bigger machine the baseline, without caps, used two CPUs against the kit's 0.75 (bench/peak/pin.ts).
    pinContainers(Object.values(containersOf(d.namePrefix)));
    const deploySeconds = (Date.now() - t0) / 1000;
    const owner = await ownerToken(d);
    const { plan, settleSeconds: settle } = MODES[mode];
    log(`${label}: deployed in ${deploySeconds.toFixed(0)} s; idle for ${settle} s`);
    await sleep(settle * 1000);
    const idle = await snapshot(d);
    const sampler = new Sampler(d.subject.containers);
    sampler.begin();
    log(`${label}: workload ${JSON.stringify(plan)}`);
    // Each container's CPU and throttling (cpu.stat) and the VPS's CPU over the send phase: where the latency goes.
    const cpu = new CpuSampler(containersOf(d.namePrefix));
    let sendCpu: DeploymentResult["sendCpu"];
    const phase = { from: 0, to: 0 };
    const target = { bridgesUrl: d.bridgesUrl, ownerFront: d.front, domain: d.domain, asTokens: d.asTokens, ownerToken: owner.token, ownerId: owner.userId };
    const workload = await runWorkload(target, plan, log, {
      sendStarted: () => ((phase.from = Date.now()), cpu.begin()),
      sendEnded: () => ((phase.to = Date.now()), (sendCpu = { containers: cpu.end(), vps: cpu.vps() })),
    });
    const queueHeld = containersOf(d.namePrefix)["bridge-queue"] ? queueHeldShare(`${d.namePrefix}-bridge-queue`, phase.from, phase.to) : undefined;
    const samples = sampler.end();
    const caches = cacheSizes(`${d.namePrefix}-synapse`);
    const times = synapseTimes(d.synapseLog());
    const timeSplit = { send: splitTimes(workload.requests?.send ?? [], times.send), upload: splitTimes(workload.requests?.upload ?? [], times.upload) };
    delete workload.requests;
    const end = await snapshot(d);
    const ws = (r: typeof idle) => byService(Object.fromEntries(r.containers.map((c) => [c.name, c.memory?.workingSetBytes ?? 0])));
    const peaks = sampler.peaks();
    const result: DeploymentResult & { rep: number } = {
      label,
      rep,
      deploySeconds,
      idle: ws(idle),
      peak: byService(peaks.perContainer),
      end: ws(end),
      peakTotal: peaks.total,
      peakParts: Object.fromEntries(Object.entries(sampler.partsAtPeak).map(([c, p]) => [serviceOf(c), { anon: p.anon, shmem: p.shmem, activeFile: p.activeFile }])),
      cgroupPeak: byService(Object.fromEntries(end.containers.map((c) => [c.name, c.memory?.peakBytes ?? 0]))),
      limits: Object.fromEntries(SERVICES.map((s) => [s, null])) as DeploymentResult["limits"],
      oomKills: byService(Object.fromEntries(end.containers.map((c) => [c.name, (c.memory?.oomKills ?? 0) + (c.oomKilled ? 1 : 0)]))),
      disk: { idle: diskFigures(idle), end: diskFigures(end) },
      workload,
      sendCpu,
      queueHeld,
      timeSplit,
      caches,
      series: seriesOf(samples),
    };
    // Before the upkeep job expires the workload's ghost uploads: the backup saves the whole data set.
    if (d.backup && rep === 1 && !skipOps) result.backup = runBackups(d.backup, label);
    if (d.upkeepRun && rep === 1 && !skipOps) result.upkeep = runUpkeep(d.upkeepRun, label);
    for (const c of end.containers) result.limits[serviceOf(c.name)] = c.memory?.limitBytes ?? null;
    for (const c of end.containers) if (c.state !== "running") log(`${label}: ${c.name} is ${c.state} at the end`);
    const l = workload.latencyMs;
    log(`${label}: peak ${(peaks.total / 1024 ** 2).toFixed(0)} MiB, ${workload.acknowledged.messages} acknowledged, ${workload.lost} lost, send p50/p99 ${l.sendP50}/${l.sendP99} ms, upload ${l.uploadP50}/${l.uploadP99} ms, send phase ${workload.sendSeconds.toFixed(0)} s`);
    return result;
  } finally {
    log(`${label}: tearing down`);
    await d.teardown();
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { short: { type: "boolean" }, medium: { type: "boolean" }, out: { type: "string" }, only: { type: "string" }, variant: { type: "string", multiple: true }, reps: { type: "string" }, "skip-ops": { type: "boolean" } },
  });
  const runs = runsFrom(values.only, values.variant ?? [], log);
  const reps = Number(values.reps ?? 1);
  if (typeof runs === "string" || !(Number.isInteger(reps) && reps >= 1)) {
    console.error(`bench:footprint: ${typeof runs === "string" ? runs : `--reps wants a whole number from 1, got ${values.reps}`}`);
    return 2;
  }
  if (values.short && values.medium) {
    console.error("bench:footprint: --short or --medium, not both");
    return 2;
  }
  const mode: Mode = values.short ? "short" : values.medium ? "medium" : "full";
  const out = path.resolve(values.out ?? "bench/results");
  fs.mkdirSync(out, { recursive: true });
  const all: (DeploymentResult & { rep: number })[] = [];
  const name = mode === "full" ? "footprint" : `footprint-${mode}`;
  const when = new Date().toISOString();
  const save = () => fs.writeFileSync(path.join(out, `${name}.json`), `${JSON.stringify({ when, mode, reps, results: all }, null, 1)}\n`);
  // A deployment that fails is named and the sweep goes on; the next deployment clears what it
  // left (removeLeftovers), and the run exits 1 at the end. Saved after each deployment: a long
  // sweep can be read while it runs.
  let failed: string[] = [];
  try {
    failed = await measureEach(runs, reps, (run, rep) => measure(run, mode, rep, values["skip-ops"] ?? false), (r) => (all.push(r), save()), log);
  } finally {
    unpinHost();
    removeLeftovers();
  }
  if (all.length === 0) throw new Error(`every deployment failed:\n${failed.join("\n")}`);
  // The table and the chart show the first repetition; the ratios below, every one.
  const results = all.filter((r) => r.rep === 1);
  fs.writeFileSync(path.join(out, `${name}.svg`), await chartSvg(results, `Memory (working set) over time, ${mode} workload, ${when.slice(0, 10)}`));
  console.log(`\n== footprint (${mode} workload${reps > 1 ? `, repetition 1 of ${reps}` : ""})\n${formatReport(results)}`);
  // Every ratio against the baseline and against the peer (MDAD's defaults), each over the repetitions.
  const figures: [string, (r: DeploymentResult) => number][] = [
    ["total peak", (r) => r.peakTotal],
    ["synapse peak", (r) => r.peak.synapse],
    ["postgres peak", (r) => r.peak.postgres],
    ["send p99", (r) => r.workload.latencyMs.sendP99],
    ["upload p99", (r) => r.workload.latencyMs.uploadP99],
    ["send p50", (r) => r.workload.latencyMs.sendP50],
    ["idle total", (r) => Object.values(r.idle).reduce((a, b) => a + b, 0)],
  ];
  for (const reference of ["baseline", "mdad"]) if (all.some((r) => r.label === reference)) console.log(`\n${formatRatios(all, figures, reference).join("\n")}`);
  console.log(`\nwrote ${path.join(out, `${name}.json`)} and ${path.join(out, `${name}.svg`)}`);
  if (failed.length) console.log(`\nfailed, not measured:\n${failed.map((f) => `  ${f}`).join("\n")}`);
  return failed.length > 0 || all.some((r) => r.workload.lost > 0 || r.workload.acknowledged.messages === 0 || (r.upkeep?.failed.length ?? 0) > 0) ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(`bench:footprint: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    // Exit now: a run that failed part-way can leave probes' timers and sockets open, which would
    // keep the process (and the VPS run.sh set up for it) alive. Its deployment was torn down, or
    // the next run's deploy removes what is left (removeLeftovers in deploy.ts).
    process.exit(1);
  },
);
