/**
 * The peak benchmark's results: one PeakResult per deployment and repetition, the table (each
 * figure the median over the repetitions, the range beside the ones the targets read), the
 * targets, the ratios to the baseline with their spread, and the CPU-over-time chart.
 */
import { grid, lineChartSvg } from "../footprint/report";
import { formatRatios, formatSpread, spread } from "../footprint/runs";
import type { WorkloadResult } from "../footprint/workload";
import { CPU_FIGURES_HEADING, formatCpuFigures, HOST_PROCESSES, type CpuFigures, type CpuPoint, type HostProcess, type VpsLoad } from "./cpu";
import type { OwnerFigures } from "./owner";
import type { ClientsResult, ProbeFigures } from "./probes";

export interface PeakResult {
  label: string;
  rep: number;
  deploySeconds: number;
  idle: { site: ProbeFigures; ssh: ProbeFigures; owner: OwnerFigures };
  burst: {
    seconds: number;
    site: ProbeFigures;
    ssh: ProbeFigures;
    owner: OwnerFigures;
    cpu: Record<string, CpuFigures>;
    load: VpsLoad;
    /** Share of the burst the bridges' queue held them to its inFlight (footprint/admission.ts); none without a queue. */
    queueHeld?: number;
  };
  /** The first repetition only. */
  clients?: ClientsResult;
  workload: WorkloadResult;
  /** CPUs used per service over the burst, a point a second. */
  series: CpuPoint[];
}

export interface IdleResult {
  label: string;
  minutes: number;
  cpu: Record<string, CpuFigures>;
  /** The Docker engine's own processes (health check execs land there), not in any container's cgroup. */
  engine: { usageSeconds: number; cores: number };
  load: VpsLoad;
}

const HOST_KINDS = Object.keys(HOST_PROCESSES) as HostProcess[];
const labelsOf = (results: { label: string }[]) => [...new Set(results.map((r) => r.label))];
const med = (rs: PeakResult[], f: (r: PeakResult) => number) => spread(rs.map(f));
const ms = (rs: PeakResult[], f: (r: PeakResult) => number) => formatSpread(med(rs, f), 0);
const services = (results: PeakResult[]) => [...new Set(results.flatMap((r) => Object.keys(r.burst.cpu)))].sort();
const sumOf = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

/** The targets for one deployment (the kit's), on its medians: a missed one is shown, never hidden. */
export function peakTargets(rs: PeakResult[]): { target: string; met: boolean; figures: string }[] {
  const m = (f: (r: PeakResult) => number) => med(rs, f).median;
  const within = (what: string, idle: number, burst: number) => ({ target: `${what} p99 through the burst within 2x of idle`, met: burst <= 2 * Math.max(idle, 1), figures: `${burst} / ${idle} ms = ${(burst / Math.max(idle, 1)).toFixed(2)}` });
  const sendP99 = m((r) => r.burst.owner.send.p99);
  const withClients = rs.flatMap((r) => (r.clients ? [r.clients] : []));
  const fiveXX = withClients.reduce((a, c) => a + c.fiveXX, 0);
  const lost = rs.reduce((a, r) => a + r.workload.lost + r.burst.owner.undelivered, 0);
  return [
    within("other site's", m((r) => r.idle.site.p99), m((r) => r.burst.site.p99)),
    within("ssh command's", m((r) => r.idle.ssh.p99), m((r) => r.burst.ssh.p99)),
    { target: "owner's send p99 through the burst under 1 s", met: sendP99 < 1000, figures: `${sendP99} ms` },
    // The owner's own idle figure is the yardstick: a VPS where a send takes 150 ms at rest should not take 600 at the peak.
    within("owner's send", m((r) => r.idle.owner.send.p99), sendP99),
    {
      target: `${withClients[0]?.clients ?? 0} concurrent clients for ${withClients[0]?.seconds ?? 0} s through nginx without a 5xx`,
      met: withClients.length > 0 && fiveXX === 0,
      figures: `${fiveXX} 5xx in ${withClients.reduce((a, c) => a + c.requests, 0)} requests`,
    },
    { target: "nothing lost (bridged messages read back, owner's messages in /sync)", met: lost === 0, figures: String(lost) },
  ];
}

const percent = (share: number) => (100 * share).toFixed(0);

/** The median of a figure older results lack, formatted; "-" unless every repetition has it. */
function medianOfAll(rs: PeakResult[], f: (r: PeakResult) => number | undefined, format: (n: number) => string): string {
  return rs.every((r) => f(r) !== undefined) ? format(med(rs, (r) => f(r)!).median) : "-";
}

export function formatPeakReport(results: PeakResult[]): string {
  const labels = labelsOf(results);
  const of = (l: string) => results.filter((r) => r.label === l);
  const rows: string[][] = [["median (range) over repetitions", ...labels]];
  const add = (name: string, f: (rs: PeakResult[]) => string) => rows.push([name, ...labels.map((l) => f(of(l)))]);
  const pair = (a: (r: PeakResult) => number, b: (r: PeakResult) => number) => (rs: PeakResult[]) => `${med(rs, a).median} / ${ms(rs, b)}`;
  add("repetitions", (rs) => String(rs.length));
  add("other site p50 / p99, idle, ms", pair((r) => r.idle.site.p50, (r) => r.idle.site.p99));
  add("other site p50 / p99, burst, ms", pair((r) => r.burst.site.p50, (r) => r.burst.site.p99));
  add("ssh command p50 / p99, idle, ms", pair((r) => r.idle.ssh.p50, (r) => r.idle.ssh.p99));
  add("ssh command p50 / p99, burst, ms", pair((r) => r.burst.ssh.p50, (r) => r.burst.ssh.p99));
  // A p99 is the slowest of its few samples: the two phases compare fairly only with as many each.
  add("owner sends measured, idle / burst", (rs) => `${med(rs, (r) => r.idle.owner.send.count).median} / ${med(rs, (r) => r.burst.owner.send.count).median}`);
  add("owner send p50 / p99, idle, ms", pair((r) => r.idle.owner.send.p50, (r) => r.idle.owner.send.p99));
  add("owner send p50 / p99, burst, ms", pair((r) => r.burst.owner.send.p50, (r) => r.burst.owner.send.p99));
  add("owner sync p50 / p99, burst, ms", pair((r) => r.burst.owner.sync.p50, (r) => r.burst.owner.sync.p99));
  add("bridged send p50 / p99, burst, ms", pair((r) => r.workload.latencyMs.sendP50, (r) => r.workload.latencyMs.sendP99));
  add("the queue holding the bridges, % of the burst", (rs) => medianOfAll(rs, (r) => r.burst.queueHeld, percent));
  add("burst: s, messages acknowledged", (rs) => `${med(rs, (r) => r.burst.seconds).median.toFixed(0)}, ${med(rs, (r) => r.workload.acknowledged.messages).median}`);
  add("load average (1 min), mean / max", (rs) => `${med(rs, (r) => r.burst.load.mean).median.toFixed(2)} / ${med(rs, (r) => r.burst.load.max).median.toFixed(2)}`);
  const loads: ((l: VpsLoad) => number | undefined)[] = [(l) => l.busy, (l) => l.iowait, (l) => l.interrupts, (l) => l.steal];
  add("the VPS's CPU: busy / iowait / interrupts / steal, %", (rs) => loads.map((f) => medianOfAll(rs, (r) => f(r.burst.load), percent)).join(" / "));
  // What keeps the CPU busy beside the containers: the owner's and the probes' requests cross nginx and docker-proxy.
  add(`host: ${HOST_KINDS.join(" / ")}, CPUs used`, (rs) => HOST_KINDS.map((k) => medianOfAll(rs, (r) => r.burst.load.host?.[k], (n) => n.toFixed(2))).join(" / "));
  for (const s of services(results)) {
    add(`${s}: ${CPU_FIGURES_HEADING}`, (rs) => {
      const c = (f: (x: CpuFigures) => number) => med(rs, (r) => (r.burst.cpu[s] ? f(r.burst.cpu[s]) : 0)).median;
      const waitingSeconds = rs.every((r) => r.burst.cpu[s]?.waitingSeconds !== undefined) ? c((x) => x.waitingSeconds!) : undefined;
      return rs.some((r) => r.burst.cpu[s]) ? formatCpuFigures({ cores: c((x) => x.cores), throttledSeconds: c((x) => x.throttledSeconds), nrThrottled: c((x) => x.nrThrottled), waitingSeconds }) : "-";
    });
  }
  add("all containers: CPUs used", (rs) => med(rs, (r) => sumOf(Object.fromEntries(Object.entries(r.burst.cpu).map(([k, v]) => [k, v.cores])))).median.toFixed(2));
  add("errors (bridged sends; owner sends)", (rs) => `${rs.reduce((a, r) => a + sumOf(r.workload.errors), 0)}; ${rs.reduce((a, r) => a + r.burst.owner.send.failures, 0)}`);
  add("probe failures (site; ssh)", (rs) => `${rs.reduce((a, r) => a + r.idle.site.failures + r.burst.site.failures, 0)}; ${rs.reduce((a, r) => a + r.idle.ssh.failures + r.burst.ssh.failures, 0)}`);
  add("lost (bridged; owner undelivered)", (rs) => `${rs.reduce((a, r) => a + r.workload.lost, 0)}; ${rs.reduce((a, r) => a + r.burst.owner.undelivered, 0)}`);
  const clients = (rs: PeakResult[]) => rs.find((r) => r.clients)?.clients;
  add("clients (first rep.): requests, p50 / p99 ms", (rs) => {
    const c = clients(rs);
    return c ? `${c.requests}, ${c.latency.p50} / ${c.latency.p99}` : "-";
  });
  add("clients (first rep.): statuses", (rs) => Object.entries(clients(rs)?.statuses ?? {}).map(([k, v]) => `${k}: ${v}`).join(", ") || "-");
  const lines = grid(rows);
  if (labels.includes("baseline") && labels.length > 1) {
    lines.push("", ...formatRatios(results, [
      ["owner send p99, burst", (r) => r.burst.owner.send.p99],
      ["owner sync p99, burst", (r) => r.burst.owner.sync.p99],
      ["bridged send p99", (r) => r.workload.latencyMs.sendP99],
      ["other site p99, burst", (r) => r.burst.site.p99],
      ["ssh p99, burst", (r) => r.burst.ssh.p99],
    ]));
  }
  for (const l of labels.filter((x) => x !== "baseline")) {
    lines.push("", `targets (${l})`);
    for (const t of peakTargets(of(l))) lines.push(`  ${t.met ? "met   " : "MISSED"}  ${t.target}: ${t.figures}`);
  }
  return lines.join("\n");
}

export function formatIdleReport(results: IdleResult[]): string {
  const labels = results.map((r) => r.label);
  const all = [...new Set(results.flatMap((r) => Object.keys(r.cpu)))].sort();
  const rows: string[][] = [[`idle over ${results[0]?.minutes ?? 0} min: % of one CPU (CPU s; throttled)`, ...labels]];
  for (const s of all) {
    rows.push([s, ...results.map((r) => (r.cpu[s] ? `${(100 * r.cpu[s].cores).toFixed(2)} (${r.cpu[s].usageSeconds.toFixed(1)}; ${r.cpu[s].nrThrottled})` : "-"))]);
  }
  rows.push(["all containers", ...results.map((r) => `${(100 * sumOf(Object.fromEntries(Object.entries(r.cpu).map(([k, v]) => [k, v.cores])))).toFixed(2)}`)]);
  rows.push(["Docker engine (dockerd, containerd, shims)", ...results.map((r) => `${(100 * r.engine.cores).toFixed(2)} (${r.engine.usageSeconds.toFixed(1)}; -)`)]);
  rows.push(["load average (1 min), mean / max", ...results.map((r) => `${r.load.mean.toFixed(2)} / ${r.load.max.toFixed(2)}`)]);
  rows.push(["the VPS's CPU: busy / iowait, %", ...results.map((r) => `${(100 * r.load.busy).toFixed(1)} / ${(100 * r.load.iowait).toFixed(1)}`)]);
  return grid(rows).join("\n");
}

/** CPUs used over the burst, per service, every deployment's first repetition. */
export function peakChartSvg(results: PeakResult[], title: string): Promise<string> {
  const first = results.filter((r) => r.rep === 1);
  const values = first.flatMap((r) => r.series.map((p) => ({ t: p.t, deployment: r.label, service: p.service, y: p.cores })));
  const totals = new Map<string, { t: number; deployment: string; service: string; y: number }>();
  for (const v of values) {
    const key = `${v.deployment} ${v.t}`;
    const t = totals.get(key) ?? { t: v.t, deployment: v.deployment, service: "total", y: 0 };
    t.y = Math.round((t.y + v.y) * 100) / 100;
    totals.set(key, t);
  }
  return lineChartSvg([...values, ...totals.values()], { title, panels: ["total", ...services(first)], deployments: labelsOf(first), x: "seconds since the burst started", y: "CPUs" });
}
