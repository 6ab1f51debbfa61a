/**
 * CPU use and throttling of each container, from its cgroup, and the machine's load average.
 * cgroup v2: cpu.stat's usage_usec, nr_throttled, throttled_usec; v1 (this machine): cpuacct.usage
 * (ns) and cpu.stat's nr_throttled, throttled_time (ns). A figure is the counter's delta between
 * begin() and end(), so what a container did before the measured phase does not count.
 */
import * as fs from "node:fs";
import { docker } from "../../test/harness/wait";
import { cgroupStat, dirWith, v2Dirs } from "../../test/harness/cgroup";
import { VPS_CPU } from "./pin";

export interface CpuCounters {
  usageSeconds: number;
  nrThrottled: number;
  throttledSeconds: number;
}

export interface CpuFigures extends CpuCounters {
  /** usage / wall time: 1 is one CPU busy the whole phase. */
  cores: number;
}

function counterReader(id: string): () => CpuCounters {
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
 * CPU seconds of the Docker engine's own processes (dockerd, containerd, the shims, with the
 * reaped children they waited for: runc, health check execs), which no container's cgroup counts.
 * USER_HZ is 100 on Linux.
 */
export function engineCpuSeconds(): number {
  let ticks = 0;
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      if (!/^(dockerd|containerd|containerd-shim)/.test(comm)) continue;
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // utime, stime, cutime, cstime are fields 14-17 of stat, 12-15 after the comm.
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      // a process that has just exited
    }
  }
  return ticks / 100;
}

/** The VPS's CPU from /proc/stat (ticks): busy (all but idle and iowait), waiting on the disk, all. */
function vpsCpuTicks(): { busy: number; iowait: number; all: number } {
  const line = fs.readFileSync("/proc/stat", "utf8").split("\n").find((l) => l.startsWith(`cpu${VPS_CPU} `)) ?? "";
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.split(/\s+/).slice(1, 9).map(Number);
  const all = user + nice + system + idle + iowait + irq + softirq + steal;
  return { busy: all - idle - iowait, iowait, all };
}

/** What the sampler saw of the whole VPS: the load average and how busy its one CPU was. */
export interface VpsLoad {
  mean: number;
  max: number;
  /** Shares of the phase's time on the VPS's CPU: busy (any process, the host's included), iowait. */
  busy: number;
  iowait: number;
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

  /** containers: service -> container name. */
  constructor(private readonly containers: Record<string, string>, private readonly intervalMs = 1000) {}

  begin(): void {
    this.readers = Object.entries(this.containers).map(([service, name]) => [service, counterReader(docker("inspect", "--format", "{{.Id}}", name).trim())]);
    this.start = Date.now();
    this.vps0 = vpsCpuTicks();
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

  /** Per service: the phase's CPU seconds, CPUs on average, and throttling. */
  end(): Record<string, CpuFigures> {
    clearInterval(this.timer);
    this.sample();
    this.vps1 = vpsCpuTicks();
    const wall = (Date.now() - this.start) / 1000;
    const out: Record<string, CpuFigures> = {};
    for (const [s] of this.readers) {
      const a = this.first.get(s)!;
      const b = this.last.get(s)!;
      const usageSeconds = b.usageSeconds - a.usageSeconds;
      out[s] = { usageSeconds, cores: usageSeconds / wall, nrThrottled: b.nrThrottled - a.nrThrottled, throttledSeconds: b.throttledSeconds - a.throttledSeconds };
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
    };
  }
}
