/**
 * The benchmark's results: the table printed at the end, the JSON beside it and
 * the memory-over-time chart (vega-lite, rendered to SVG by vega in Node).
 */
import type { UpkeepSummary } from "../../infra/ops/upkeep";
import type { StatusReport } from "../../infra/ops/status";
import { CPU_FIGURES_HEADING, formatCpuFigures, type CpuFigures, type VpsLoad } from "../peak/cpu";
import type { CacheSize } from "./caches";
import type { Parts, Sample } from "./memory";
import type { TimeSplit } from "./server-time";
import type { WorkloadResult } from "./workload";

export const SERVICES = ["postgres", "synapse", "qq", "wechat", "watchdog", "docker-filter", "bridge-queue"] as const;
export type Service = (typeof SERVICES)[number];

export interface DiskFigures {
  /** Local uploads with their thumbnails. */
  mediaLocal: number;
  /** The thumbnails Synapse wrote for them (absent in results written before 2026-12-07). */
  localThumbnails?: number;
  mediaRemote: number;
  databases: Record<string, number>;
}

export interface BackupFigures {
  first: { seconds: number; readBytes: number; addedBytes: number };
  second: { seconds: number; readBytes: number; addedBytes: number };
  repositoryBytes: number;
  restoreSeconds: number;
}

export interface DeploymentResult {
  label: string;
  deploySeconds: number;
  /** Working set (bytes) per service: after start and settling, at its highest (1 s sampling), at the end. */
  idle: Record<Service, number>;
  peak: Record<Service, number>;
  end: Record<Service, number>;
  /** Highest sum of the services' working sets at one instant. */
  peakTotal: number;
  /** What each service's working set was made of at its peak (memory.ts); absent in runs before it was read. */
  peakParts?: Partial<Record<Service, Parts>>;
  /** The cgroup's own peak, page cache included (memory.peak / max_usage_in_bytes). */
  cgroupPeak: Record<Service, number>;
  limits: Record<Service, number | null>;
  oomKills: Record<Service, number>;
  disk: { idle: DiskFigures; end: DiskFigures };
  workload: WorkloadResult;
  /** Over the send phase: each container's CPU and throttling (cpu.stat), and the VPS's CPU. */
  sendCpu?: { containers: Record<string, CpuFigures>; vps: VpsLoad };
  /** Share of the send phase the kit's queue held the bridges to its inFlight (admission.ts); none without a queue. */
  queueHeld?: number;
  /** Synapse's own time and the rest, per request (server-time.ts); none where Synapse logs no requests. */
  timeSplit?: { send?: TimeSplit; upload?: TimeSplit };
  /** Synapse's caches at the end, largest first, where a variant turned its metrics on (caches.ts). */
  caches?: CacheSize[];
  /**
   * The upkeep job run by hand after the workload with a 1 s bridged-media lifetime (so the
   * workload's ghost uploads are what it expires): its summary line (templates/upkeep/upkeep.py).
   */
  upkeep?: UpkeepSummary;
  /** The kit's backups after the upkeep run (main.ts runBackups). */
  backup?: BackupFigures;
  /** MiB per service, and their total, over time: seconds since the workload started. */
  series: { t: number; service: Service | "total"; mib: number }[];
}

const MiB = 1024 * 1024;
const mib = (n: number) => n / MiB;
const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

export function serviceOf(container: string): Service {
  const s = SERVICES.find((service) => container.endsWith(`-${service}`));
  if (!s) throw new Error(`not a service container: ${container}`);
  return s;
}

export function byService(perContainer: Record<string, number>): Record<Service, number> {
  const out = Object.fromEntries(SERVICES.map((s) => [s, 0])) as Record<Service, number>;
  for (const [c, v] of Object.entries(perContainer)) out[serviceOf(c)] = v;
  return out;
}

export function diskFigures(r: StatusReport): DiskFigures {
  return {
    mediaLocal: (r.media?.local ?? 0) + (r.media?.localThumbnails ?? 0),
    localThumbnails: r.media?.localThumbnails ?? 0,
    mediaRemote: (r.media?.remote ?? 0) + (r.media?.remoteThumbnails ?? 0),
    databases: Object.fromEntries(r.databases.filter((d) => d.name !== "postgres").map((d) => [d.name, d.bytes])),
  };
}

/** One point per service and one for their sum, per sample (a total per sample, never per rounded second). */
export function seriesOf(samples: Sample[]): DeploymentResult["series"] {
  const round = (n: number) => Math.round(n * 10) / 10;
  return samples.flatMap((s) => [
    ...Object.entries(s.bytes).map(([c, b]) => ({ t: round(s.t), service: serviceOf(c), mib: round(mib(b)) })),
    { t: round(s.t), service: "total" as const, mib: round(mib(sum(s.bytes))) },
  ]);
}

/** The targets, each with its figures: a missed target is reported, never hidden. */
export function targets(base: DeploymentResult, kit: DeploymentResult): { target: string; met: boolean; figures: string }[] {
  const kitOom = sum(kit.oomKills);
  const within = (what: string, k: number, b: number) => ({
    target: `bridged ${what} p99 at most 1.2 times the baseline's`,
    met: k <= 1.2 * b,
    figures: `${k} / ${b} ms = ${(k / Math.max(1, b)).toFixed(2)}`,
  });
  return [
    {
      target: "kit's total peak at most 0.5 of the baseline's",
      met: kit.peakTotal <= 0.5 * base.peakTotal,
      figures: `${mib(kit.peakTotal).toFixed(0)} / ${mib(base.peakTotal).toFixed(0)} MiB = ${(kit.peakTotal / base.peakTotal).toFixed(2)}`,
    },
    { target: "kit's total peak below 600 MB", met: kit.peakTotal < 600e6, figures: `${(kit.peakTotal / 1e6).toFixed(0)} MB` },
    { target: "no OOM kill", met: kitOom === 0 && sum(base.oomKills) === 0, figures: `kit ${kitOom}, baseline ${sum(base.oomKills)}` },
    { target: "no message lost", met: kit.workload.lost === 0 && base.workload.lost === 0, figures: `kit ${kit.workload.lost}, baseline ${base.workload.lost}` },
    within("send", kit.workload.latencyMs.sendP99, base.workload.latencyMs.sendP99),
    within("upload", kit.workload.latencyMs.uploadP99, base.workload.latencyMs.uploadP99),
  ];
}

export function grid(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ").trimEnd());
}

export function formatReport(results: DeploymentResult[]): string {
  const base = results.find((r) => r.label === "baseline");
  const peer = results.find((r) => r.label === "mdad");
  const kit = results.find((r) => r.label === "kit");
  const f0 = (n: number) => mib(n).toFixed(0);
  const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : "-");
  const lines: string[] = [];
  const head = ["memory (MiB, working set)"];
  for (const r of results) head.push(`${r.label} idle`, "peak", "end", "limit");
  if (base && kit) head.push("kit/base idle", "peak");
  if (peer && kit) head.push("kit/mdad peak");
  const rows = [head];
  for (const s of SERVICES) {
    const row: string[] = [s];
    for (const r of results) row.push(f0(r.idle[s]), f0(r.peak[s]), f0(r.end[s]), r.limits[s] === null ? "none" : f0(r.limits[s]!));
    if (base && kit) row.push(ratio(kit.idle[s], base.idle[s]), ratio(kit.peak[s], base.peak[s]));
    if (peer && kit) row.push(ratio(kit.peak[s], peer.peak[s]));
    rows.push(row);
  }
  const total = ["total (peak: at one instant)"];
  const limited = (r: DeploymentResult) => Object.values(r.limits).some((l) => l !== null);
  for (const r of results) total.push(f0(sum(r.idle)), f0(r.peakTotal), f0(sum(r.end)), limited(r) ? f0(sum(r.limits as Record<string, number>)) : "none");
  if (base && kit) total.push(ratio(sum(kit.idle), sum(base.idle)), ratio(kit.peakTotal, base.peakTotal));
  if (peer && kit) total.push(ratio(kit.peakTotal, peer.peakTotal));
  rows.push(total);
  lines.push(...grid(rows), "");

  const w = (r: DeploymentResult) => r.workload;
  const other: string[][] = [["", ...results.map((r) => r.label)]];
  const add = (name: string, f: (r: DeploymentResult) => string) => other.push([name, ...results.map(f)]);
  add("deploy, s", (r) => r.deploySeconds.toFixed(0));
  add("setup (ghosts, rooms, joins), s", (r) => w(r).setupSeconds.toFixed(0));
  add("send phase, s", (r) => w(r).sendSeconds.toFixed(0));
  add("messages acknowledged", (r) => String(w(r).acknowledged.messages));
  add("uploads acknowledged", (r) => `${w(r).acknowledged.uploads} (${(w(r).uploadedBytes / MiB).toFixed(0)} MiB)`);
  add("lost (acknowledged, not read back)", (r) => String(w(r).lost));
  add("send latency p50 / p99, ms", (r) => `${w(r).latencyMs.sendP50} / ${w(r).latencyMs.sendP99}`);
  add("upload latency p50 / p99, ms", (r) => `${w(r).latencyMs.uploadP50} / ${w(r).latencyMs.uploadP99}`);
  const split = (t: TimeSplit | undefined, f: (x: TimeSplit) => string) => (t ? f(t) : "-");
  for (const kind of ["send", "upload"] as const) {
    add(`  ${kind}: in Synapse p50 / p99, ms`, (r) => split(r.timeSplit?.[kind], (t) => `${t.synapseP50} / ${t.synapseP99}`));
    add(`  ${kind}: outside it (queue, network) p50 / p99`, (r) => split(r.timeSplit?.[kind], (t) => `${t.outsideP50} / ${t.outsideP99}`));
  }
  if (results.some((r) => r.caches)) {
    for (let i = 0; i < 8; i++) add(i ? "" : "largest caches at the end: entries / bound", (r) => (r.caches?.[i] ? `${r.caches[i].name} ${r.caches[i].size} / ${r.caches[i].max}` : "-"));
  }
  // Steal is the hypervisor's: a noisy neighbour shows here, not as the kit's own work.
  add("send phase: the VPS's CPU busy / of it stolen, %", (r) => (r.sendCpu ? `${(100 * r.sendCpu.vps.busy).toFixed(0)} / ${r.sendCpu.vps.steal === undefined ? "-" : (100 * r.sendCpu.vps.steal).toFixed(0)}` : "-"));
  add("  the queue holding the bridges, % of it", (r) => (r.queueHeld === undefined ? "-" : (100 * r.queueHeld).toFixed(0)));
  for (const svc of ["synapse", "postgres", "bridge-queue", "qq"]) {
    add(`  ${svc}: ${CPU_FIGURES_HEADING}`, (r) => {
      const c = r.sendCpu?.containers[svc];
      return c ? formatCpuFigures(c) : "-";
    });
  }
  add("errors by status", (r) => Object.entries(w(r).errors).map(([k, v]) => `${k}: ${v}`).join(", ") || "none");
  add("OOM kills", (r) => String(sum(r.oomKills)));
  add("cgroup peak incl. page cache, MiB", (r) => f0(sum(r.cgroupPeak)));
  for (const svc of ["postgres", "synapse"] as const) {
    add(`${svc} at its peak: anon / shmem / active file, MiB`, (r) => {
      const p = r.peakParts?.[svc];
      return p ? `${f0(p.anon)} / ${f0(p.shmem)} / ${f0(p.activeFile)}` : "-";
    });
  }
  add("owner's /sync requests", (r) => String(w(r).syncs));
  add("owner's /sync answers: p50 / p99 ms, events each", (r) => {
    const y = w(r).sync;
    return y ? `${y.p50} / ${y.p99}, ${y.eventsPerAnswer}` : "-";
  });
  add("media store growth, local, MiB", (r) => (mib(r.disk.end.mediaLocal - r.disk.idle.mediaLocal)).toFixed(1));
  add("  of it thumbnails, MiB", (r) => (r.disk.end.localThumbnails === undefined ? "-" : mib(r.disk.end.localThumbnails - (r.disk.idle.localThumbnails ?? 0)).toFixed(1)));
  add("media store growth, remote, MiB", (r) => (mib(r.disk.end.mediaRemote - r.disk.idle.mediaRemote)).toFixed(1));
  for (const db of Object.keys(results[0].disk.end.databases)) {
    add(`database ${db} growth, MiB`, (r) => mib((r.disk.end.databases[db] ?? 0) - (r.disk.idle.databases[db] ?? 0)).toFixed(1));
  }
  if (results.some((r) => r.upkeep)) {
    const u = (r: DeploymentResult, f: (x: UpkeepSummary) => string) => (r.upkeep ? f(r.upkeep) : "-");
    add("upkeep by hand (bridged media 1 s): s", (r) => u(r, (x) => `${x.seconds}${x.failed.length ? ` FAILED ${x.failed.join(",")}` : ""}`));
    add("  bridged media deleted, MiB freed", (r) => u(r, (x) => `${x.media?.bridged.deleted ?? "-"}, ${mib(x.freedBytes).toFixed(1)}`));
    add("  media store before -> after, MiB", (r) => u(r, (x) => (x.before && x.after ? `${mib(x.before.media.total).toFixed(1)} -> ${mib(x.after.media.total).toFixed(1)}` : "-")));
    add("  database before -> after, MiB", (r) => u(r, (x) => (x.before && x.after ? `${mib(x.before.database).toFixed(1)} -> ${mib(x.after.database).toFixed(1)}` : "-")));
    add("  state_groups_state rows", (r) => u(r, (x) => (x.stateCompression ? `${x.stateCompression.rowsBefore} -> ${x.stateCompression.rowsAfter}` : "-")));
  }
  if (results.some((r) => r.backup)) {
    const b = (r: DeploymentResult, f: (x: BackupFigures) => string) => (r.backup ? f(r.backup) : "-");
    add("backup (restic), first: s", (r) => b(r, (x) => x.first.seconds.toFixed(1)));
    add("  read, MiB; added to the repository, MiB", (r) => b(r, (x) => `${mib(x.first.readBytes).toFixed(1)}; ${mib(x.first.addedBytes).toFixed(1)}`));
    add("  repository size, MiB", (r) => b(r, (x) => mib(x.repositoryBytes).toFixed(1)));
    add("backup, second: s; added, MiB", (r) => b(r, (x) => `${x.second.seconds.toFixed(1)}; ${mib(x.second.addedBytes).toFixed(2)}`));
    add("restore over the deployment: s", (r) => b(r, (x) => x.restoreSeconds.toFixed(1)));
  }
  lines.push(...grid(other));
  if (base && kit) {
    lines.push("", "targets");
    for (const t of targets(base, kit)) lines.push(`  ${t.met ? "met   " : "MISSED"}  ${t.target}: ${t.figures}`);
  }
  return lines.join("\n");
}

/** Memory over time, one panel per service plus the total, both deployments in each. */
export async function chartSvg(results: DeploymentResult[], title: string): Promise<string> {
  const values: { t: number; deployment: string; service: string; y: number }[] = [];
  for (const r of results) for (const p of r.series) values.push({ t: p.t, deployment: r.label, service: p.service, y: p.mib });
  return lineChartSvg(values, { title, panels: ["total", ...SERVICES], deployments: results.map((r) => r.label), x: "seconds since the workload started", y: "MiB" });
}

/** Lines over time, one panel per service, one colour per deployment (vega-lite, rendered to SVG by vega in Node). */
export async function lineChartSvg(
  values: { t: number; deployment: string; service: string; y: number }[],
  o: { title: string; panels: string[]; deployments: string[]; x: string; y: string },
): Promise<string> {
  // vega-lite's types resolve only under node16 module resolution; its one function is typed here.
  const vl = (await import("vega-lite" as string)) as { compile(spec: unknown): { spec: object } };
  const vega = await import("vega");
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: o.title,
    data: { values },
    facet: { row: { field: "service", type: "nominal", sort: o.panels, title: null } },
    spec: {
      width: 640,
      height: 110,
      mark: { type: "line", strokeWidth: 1.2 },
      encoding: {
        x: { field: "t", type: "quantitative", title: o.x },
        y: { field: "y", type: "quantitative", title: o.y },
        color: { field: "deployment", type: "nominal", scale: { domain: o.deployments, range: ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"] } },
      },
    },
    resolve: { scale: { y: "independent" } },
  };
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled as never), { renderer: "none" });
  return view.toSVG();
}
