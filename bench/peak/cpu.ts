/**
 * CPU use and throttling of each container, from its cgroup, and the machine's load average.
 * cgroup v2: cpu.stat's usage_usec, nr_throttled, throttled_usec; v1 (this machine): cpuacct.usage
 * (ns) and cpu.stat's nr_throttled, throttled_time (ns). A figure is the counter's delta between
 * begin() and end(), so what a container did before the measured phase does not count.
 * Waiting: cpu.pressure's "some" total (µs), the time some task of the container was ready to run
 * but had no CPU: where a weight (--cpu-shares) costs latency. It is the unified hierarchy's file,
 * also under cgroup v1 ("hybrid"), present when the kernel has pressure stall information.
 */
import * as fs from "node:fs";
import { docker } from "../../test/harness/wait";
import { cgroupStat, dirWith, v2Dirs } from "../../test/harness/cgroup";
import { VPS_CPU } from "./pin";

export interface CpuCounters {
  usageSeconds: number;
  nrThrottled: number;
  throttledSeconds: number;
  /** Absent where the kernel keeps no pressure figures (and in results written before they were read). */
  waitingSeconds?: number;
}

export interface CpuFigures extends CpuCounters {
  /** usage / wall time: 1 is one CPU busy the whole phase. */
  cores: number;
}

/** The microseconds in a pressure file's "some" line (PSI: at least one task stalled). */
export const pressureSome = (file: string) => Number(/^some .*total=(\d+)$/m.exec(fs.readFileSync(file, "utf8"))?.[1] ?? 0);

/** One container's figures as the reports print them: "CPUs, waiting s, throttled s (times)". */
export const CPU_FIGURES_HEADING = "CPUs, waiting for one s, throttled s (times)";
export function formatCpuFigures(c: Omit<CpuFigures, "usageSeconds">): string {
  return `${c.cores.toFixed(2)}, ${c.waitingSeconds === undefined ? "-" : c.waitingSeconds.toFixed(0)}, ${c.throttledSeconds.toFixed(1)} (${c.nrThrottled})`;
}

function counterReader(id: string): () => CpuCounters {
  const counters = cpuCounterReader(id);
  const psi = dirWith([...v2Dirs(id), `/sys/fs/cgroup/unified/docker/${id}`, `/sys/fs/cgroup/unified/system.slice/docker-${id}.scope`], "cpu.pressure");
  return psi ? () => ({ ...counters(), waitingSeconds: pressureSome(`${psi}/cpu.pressure`) / 1e6 }) : counters;
}

function cpuCounterReader(id: string): () => CpuCounters {
  const v2 = dirWith(v2Dirs(id), "cpu.stat");
  if (v2) {
    return () => ({
      usageSeconds: cgroupStat(`${v2}/cpu.stat`, "usage_usec") / 1e6,
      nrThrottled: cgroupStat(`${v2}/cpu.stat`, "nr_throttled"),
      throttledSeconds: cgroupStat(`${v2}/cpu.stat`, "throttled_usec") / 1e6,
    });
  }
  const cpu = dirWith([`/sys/fs/cgroup/cpu/docker/${id}`, `/sys/fs/cgroup/cpu,cpuacct/docker/${id}`], "cpu.stat");
  const acct = dirWith([`/sys/fs/cgroup/cpuacct/docker/${id}`, `/sys/fs/cgroup/cpu,cpuacct/docker/${id}`], "cpuacct.usage");
  if (cpu && acct) {
    return () => ({
      usageSeconds: Number(fs.readFileSync(`${acct}/cpuacct.usage`, "utf8")) / 1e9,
      nrThrottled: cgroupStat(`${cpu}/cpu.stat`, "nr_throttled"),
      throttledSeconds: cgroupStat(`${cpu}/cpu.stat`, "throttled_time") / 1e9,
    });
  }
  throw new Error(`no cpu cgroup found for container ${id.slice(0, 12)}`);
}

/** The running containers whose names start with `prefix-`, by the service part of their name. */
export function containersOf(prefix: string): Record<string, string> {
  const names = docker("ps", "--format", "{{.Names}}", "--filter", `name=^${prefix}-`).split(/\s+/).filter(Boolean);
  return Object.fromEntries(names.map((n) => [n.slice(prefix.length + 1), n]));
}

export interface CpuPoint {
  t: number;
  service: string;
  /** CPUs used over the last interval. */
  cores: number;
}

/**
 * The host's processes that serve the VPS beside the containers, by what they are: host nginx,
 * docker-proxy (one per published port, every request to a container through 127.0.0.1 crosses
 * it), sshd (with the sessions and commands it reaped), and the Docker engine (dockerd, containerd,
 * the shims, with the reaped children they waited for: runc, health check execs). No container's
 * cgroup counts them.
 */
export const HOST_PROCESSES = { nginx: /^nginx$/, "docker-proxy": /^docker-proxy$/, sshd: /^sshd/, engine: /^(dockerd|containerd|containerd-shim)/ } as const;
export type HostProcess = keyof typeof HOST_PROCESSES;

/** CPU seconds so far of each kind of host process (USER_HZ is 100 on Linux). */
export function hostCpuSeconds(): Record<HostProcess, number> {
  const ticks: Record<HostProcess, number> = { nginx: 0, "docker-proxy": 0, sshd: 0, engine: 0 };
  const kinds = Object.entries(HOST_PROCESSES) as [HostProcess, RegExp][];
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const kind = kinds.find(([, re]) => re.test(comm))?.[0];
      if (!kind) continue;
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // utime, stime, cutime, cstime are fields 14-17 of stat, 12-15 after the comm.
      ticks[kind] += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      // a process that has just exited
    }
  }
  return Object.fromEntries(Object.entries(ticks).map(([k, t]) => [k, t / 100])) as Record<HostProcess, number>;
}

/** CPU seconds of the Docker engine's own processes, which no container's cgroup counts. */
export const engineCpuSeconds = (): number => hostCpuSeconds().engine;

/**
 * The VPS's CPU from /proc/stat (ticks): busy (all but idle and iowait), waiting on the disk, in
 * interrupts (the network's packets between nginx, docker-proxy and the containers), taken by the
 * hypervisor for other guests (steal: counted as busy, as it is gone to this VPS), all.
 */
function vpsCpuTicks(): { busy: number; iowait: number; interrupts: number; steal: number; all: number } {
  const line = fs.readFileSync("/proc/stat", "utf8").split("\n").find((l) => l.startsWith(`cpu${VPS_CPU} `)) ?? "";
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.split(/\s+/).slice(1, 9).map(Number);
  const all = user + nice + system + idle + iowait + irq + softirq + steal;
  return { busy: all - idle - iowait, iowait, interrupts: irq + softirq, steal, all };
}

/** What the sampler saw of the whole VPS: the load average and how busy its one CPU was. */
export interface VpsLoad {
  mean: number;
  max: number;
  /** Shares of the phase's time on the VPS's CPU: busy (any process, the host's included), iowait. */
  busy: number;
  iowait: number;
  /** Shares in interrupts and stolen by the hypervisor; absent in results written before they were measured. */
  interrupts?: number;
  steal?: number;
  /** CPUs used by each kind of host process over the phase (on any CPU: the engine is not pinned). */
  host?: Record<HostProcess, number>;
}

const loadAverage = () => Number(fs.readFileSync("/proc/loadavg", "utf8").split(" ")[0]);

export class CpuSampler {
  readonly series: CpuPoint[] = [];
  readonly load: number[] = [];
  private readers: [string, () => CpuCounters][] = [];
  private first = new Map<string, CpuCounters>();
  private last = new Map<string, CpuCounters>();
  private start = 0;
  private timer?: NodeJS.Timeout;
  private vps0 = vpsCpuTicks();
  private vps1 = this.vps0;
  private host0 = hostCpuSeconds();
  private host1 = this.host0;
  private wall = 1;

  /** containers: service -> container name. */
  constructor(private readonly containers: Record<string, string>, private readonly intervalMs = 1000) {}

  begin(): void {
    this.readers = Object.entries(this.containers).map(([service, name]) => [service, counterReader(docker("inspect", "--format", "{{.Id}}", name).trim())]);
    this.start = Date.now();
    this.vps0 = vpsCpuTicks();
    this.host0 = hostCpuSeconds();
    for (const [s, read] of this.readers) this.first.set(s, read());
    this.last = new Map(this.first);
    this.timer = setInterval(() => this.sample(), this.intervalMs);
  }

  private sample(): void {
    const t = (Date.now() - this.start) / 1000;
    this.load.push(loadAverage());
    for (const [s, read] of this.readers) {
      try {
        const now = read();
        this.series.push({ t: Math.round(t * 10) / 10, service: s, cores: Math.round(((now.usageSeconds - this.last.get(s)!.usageSeconds) * 1000 * 100) / this.intervalMs) / 100 });
        this.last.set(s, now);
      } catch {
        // a container that is restarting has no cgroup for a moment
      }
    }
  }

  /** Per service: the phase's CPU seconds, CPUs on average, throttling, and waiting for the CPU. */
  end(): Record<string, CpuFigures> {
    clearInterval(this.timer);
    this.sample();
    this.vps1 = vpsCpuTicks();
    this.host1 = hostCpuSeconds();
    const wall = (this.wall = (Date.now() - this.start) / 1000);
    const out: Record<string, CpuFigures> = {};
    for (const [s] of this.readers) {
      const a = this.first.get(s)!;
      const b = this.last.get(s)!;
      const usageSeconds = b.usageSeconds - a.usageSeconds;
      const waiting = a.waitingSeconds === undefined || b.waitingSeconds === undefined ? {} : { waitingSeconds: b.waitingSeconds - a.waitingSeconds };
      out[s] = { usageSeconds, cores: usageSeconds / wall, nrThrottled: b.nrThrottled - a.nrThrottled, throttledSeconds: b.throttledSeconds - a.throttledSeconds, ...waiting };
    }
    return out;
  }

  /** The load average over the phase, and the VPS's CPU (after end()). */
  vps(): VpsLoad {
    const all = Math.max(1, this.vps1.all - this.vps0.all);
    return {
      mean: this.load.reduce((a, b) => a + b, 0) / Math.max(1, this.load.length),
      max: Math.max(0, ...this.load),
      busy: (this.vps1.busy - this.vps0.busy) / all,
      iowait: (this.vps1.iowait - this.vps0.iowait) / all,
      interrupts: (this.vps1.interrupts - this.vps0.interrupts) / all,
      steal: (this.vps1.steal - this.vps0.steal) / all,
      host: Object.fromEntries(Object.keys(HOST_PROCESSES).map((k) => [k, (this.host1[k as HostProcess] - this.host0[k as HostProcess]) / this.wall])) as Record<HostProcess, number>,
    };
  }
}
