/**
 * Memory of each container over time, read from its cgroup once a second on this
 * machine (the benchmark's VPS is local). The figure is docker stats' one: usage
 * minus inactive page cache, so media written to disk does not count as memory;
 * the cgroup's own peak (page cache included) comes from `npm run status`'s reader.
 */
import * as fs from "node:fs";
import { docker } from "../../test/harness/wait";
import { dirWith, v2Dirs } from "../../test/harness/cgroup";

export interface Sample {
  /** Seconds since the sampler started. */
  t: number;
  /** Working set in bytes, by container name. */
  bytes: Record<string, number>;
}

/**
 * What a working set is made of: the processes' own memory (anon), shared memory (PostgreSQL's
 * shared_buffers), and file pages read or written more than once (active page cache, which the
 * kernel takes back under the limit's pressure).
 */
export interface Parts {
  anon: number;
  shmem: number;
  activeFile: number;
}

interface Reading extends Parts {
  workingSet: number;
}

function cgroupReader(id: string): () => Reading {
  const v2 = dirWith(v2Dirs(id), "memory.current");
  const v1 = dirWith([`/sys/fs/cgroup/memory/docker/${id}`, `/sys/fs/cgroup/memory/system.slice/docker-${id}.scope`], "memory.usage_in_bytes");
  const read = (usage: string, stat: string, k: { inactive: string; active: string; anon: string; shmem: string }) => () => {
    const text = fs.readFileSync(stat, "utf8");
    const get = (key: string) => Number(new RegExp(`^${key} (\\d+)$`, "m").exec(text)?.[1] ?? 0);
    return { workingSet: Number(fs.readFileSync(usage, "utf8")) - get(k.inactive), anon: get(k.anon), shmem: get(k.shmem), activeFile: get(k.active) };
  };
  if (v2) return read(`${v2}/memory.current`, `${v2}/memory.stat`, { inactive: "inactive_file", active: "active_file", anon: "anon", shmem: "shmem" });
  if (v1) return read(`${v1}/memory.usage_in_bytes`, `${v1}/memory.stat`, { inactive: "total_inactive_file", active: "total_active_file", anon: "total_rss", shmem: "total_shmem" });
  throw new Error(`no memory cgroup found for container ${id.slice(0, 12)}`);
}

export class Sampler {
  readonly samples: Sample[] = [];
  private timer?: NodeJS.Timeout;
  private readers: [string, () => Reading][] = [];
  /** Each container's working set's parts at its highest working set. */
  readonly partsAtPeak: Record<string, Parts & { workingSet: number }> = {};
  private start = 0;

  constructor(private readonly containers: string[]) {}

  begin(): void {
    this.readers = this.containers.map((c) => {
      const [id, state] = docker("inspect", "--format", "{{.Id}} {{.State.Status}}", c).trim().split(" ");
      try {
        return [c, cgroupReader(id)];
      } catch (e) {
        // A container that is not running has no cgroup: say which one, and its last words.
        throw new Error(`${(e as Error).message} (${c}, ${state}): ${docker("logs", "--tail", "5", c).trim()}`);
      }
    });
    this.start = Date.now();
    this.sample();
    this.timer = setInterval(() => this.sample(), 1000);
  }

  private sample(): void {
    const bytes: Record<string, number> = {};
    for (const [c, read] of this.readers) {
      try {
        const r = read();
        bytes[c] = Math.max(0, r.workingSet);
        if (r.workingSet > (this.partsAtPeak[c]?.workingSet ?? -1)) this.partsAtPeak[c] = r;
      } catch {
        // a container that is restarting has no cgroup for a moment
      }
    }
    this.samples.push({ t: (Date.now() - this.start) / 1000, bytes });
  }

  end(): Sample[] {
    clearInterval(this.timer);
    this.sample();
    return this.samples;
  }

  /** Highest working set seen, per container and for their sum at one instant. */
  peaks(): { perContainer: Record<string, number>; total: number } {
    const perContainer: Record<string, number> = {};
    let total = 0;
    for (const s of this.samples) {
      let sum = 0;
      for (const [c, b] of Object.entries(s.bytes)) {
        perContainer[c] = Math.max(perContainer[c] ?? 0, b);
        sum += b;
      }
      total = Math.max(total, sum);
    }
    return { perContainer, total };
  }
}
