/**
 * Small-host tuning of Synapse and PostgreSQL, derived from the memory budget
 * (config/budget.ts) so that a container's settings always fit its limit.
 * The figures behind each choice come from `npm run bench:footprint` (docs/benchmarks.md,
 * "Footprint"); change a number here only with a run of it.
 */
import { enabledBridges, type Settings } from "../settings";

const MiB = 1024 * 1024;

/** Connection pools that share PostgreSQL's max_connections. */
export const POOLS = {
  /**
   * Synapse's twisted adbapi pool. Each connection is a PostgreSQL backend of its own, about 6 MiB
   * at the peak: 2..5 instead of Synapse's documented 5..10 took 29 MiB off PostgreSQL's peak
   * (0.89 of the total) in three interleaved rounds of the footprint benchmark on one CPU, with
   * the bridged send p99 within the rounds' spread and the upload p99 at 0.4 of 5..10's
   * (docs/benchmarks.md, "Synapse's levers, three rounds"). On one CPU more connections do not
   * make more of the work run at once; fewer do make it wait: at 1..3 the bridged send p99 was
   * 2.6 times 2..5's, the time spent inside Synapse, for 8 MiB less.
   */
  synapse: { cp_min: 2, cp_max: 5 },
  /** Each mautrix bridge's database/sql pool (max_open_conns / max_idle_conns). */
  bridge: { max_open_conns: 5, max_idle_conns: 1 },
  /** psql from `npm run status`, a backup, an admin's shell. */
  maintenance: 3,
  /** PostgreSQL's own default, kept for the superuser. */
  superuserReserved: 3,
} as const;

/**
 * The most connections Synapse's pool opens, as homeserver.yaml will have it: the kit's, or what
 * `synapse.extraConfig`'s `database.args.cp_max` sets (deep-merged after the kit's keys).
 */
function synapsePoolMax(s: Settings): number {
  const cpMax = (s.synapse.extraConfig as { database?: { args?: { cp_max?: unknown } } }).database?.args?.cp_max;
  return typeof cpMax === "number" ? cpMax : POOLS.synapse.cp_max;
}

/** Every pool that can connect at once, plus the reserves: no connection is ever refused. */
export function postgresMaxConnections(s: Settings): number {
  return synapsePoolMax(s) + enabledBridges(s).length * POOLS.bridge.max_open_conns + POOLS.maintenance + POOLS.superuserReserved;
}

/**
 * PostgreSQL's server settings, passed as `postgres -c name=value`. Shared memory counts
 * against the container's limit as soon as it is touched, and every connection adds its own
 * process, so both are sized from the budget and the pools rather than left at the defaults
 * (128MB shared_buffers, 100 connections, 64MB maintenance_work_mem, 3 autovacuum workers).
 */
export function postgresSettings(s: Settings): [string, string][] {
  const limitMiB = Math.floor(s.postgres.memoryLimitBytes / MiB);
  const kit: [string, string][] = [
    ["shared_buffers", s.postgres.sharedBuffers],
    ["max_connections", String(postgresMaxConnections(s))],
    // Per sort/hash node per connection: 4MB x a few nodes x 21 connections stays inside the limit.
    ["work_mem", "4MB"],
    ["maintenance_work_mem", `${Math.max(8, Math.floor(limitMiB / 12))}MB`],
    // One chat server's tables: two workers keep up; each can take maintenance_work_mem.
    ["autovacuum_max_workers", "2"],
    // A planner hint, not an allocation: what the page cache may hold for us besides shared_buffers.
    ["effective_cache_size", `${Math.max(32, Math.floor(limitMiB / 2))}MB`],
  ];
  // postgres.extraSettings: a kit's option replaced in place, any other added after them.
  const extra = Object.entries(s.postgres.extraSettings).map(([k, v]): [string, string] => [k, String(v)]);
  return [...kit.map(([k, v]): [string, string] => [k, extra.find(([e]) => e === k)?.[1] ?? v]), ...extra.filter(([k]) => !kit.some(([n]) => n === k))];
}

/** Synapse's allocator settings as environment variables (the image preloads jemalloc). */
export function synapseAllocatorEnv(s: Settings): { name: string; value: string }[] {
  return [
    ...(s.synapse.pythonMalloc === "malloc" ? [{ name: "PYTHONMALLOC", value: "malloc" }] : []),
    ...(s.synapse.jemallocConf === null ? [] : [{ name: "MALLOC_CONF", value: s.synapse.jemallocConf }]),
  ];
}

/**
 * Synapse's caches. cache_autotuning needs jemalloc (the official image preloads it) and
 * compares jemalloc's "allocated" (the whole process, not only the caches) with these
 * figures, so they are fractions of the container's limit: eviction starts at half of it
 * and goes down to three eighths, leaving the rest for request bursts (a 50 MB upload).
 * The factor (0.5) is Synapse's own default: its docs warn that smaller caches can cost more memory.
 */
export function synapseCaches(s: Settings): Record<string, unknown> {
  const limitMiB = Math.floor(s.synapse.memoryLimitBytes / MiB);
  return {
    global_factor: s.synapse.cachesGlobalFactor,
    cache_autotuning: {
      max_cache_memory_usage: `${Math.floor(limitMiB / 2)}M`,
      target_cache_memory_usage: `${Math.floor((limitMiB * 3) / 8)}M`,
      min_cache_ttl: "5m",
    },
    // Entries unused for 30 minutes go, so the evening peak's caches do not stay all night.
    expire_caches: true,
    cache_entry_ttl: "30m",
  };
}

/**
 * The thumbnails Synapse writes for every uploaded picture before it answers the upload, and the
 * bridges upload every picture of every group. Each size is one resampling pass over the whole
 * picture: Synapse 1.163's thumbnailer took 139 ms of CPU for a 3-megapixel photo with its five
 * default sizes, 64 ms with these two. In two rounds of the footprint benchmark's medium workload
 * with photos these two made the bridged upload p99 0.54 of the hand-made setup's (0.74 with five),
 * the total peak 0.87 (0.93) and the thumbnails on disk 0.59 as large (docs/benchmarks.md,
 * "Bridged pictures"). Element asks for 800x600 scaled in the timeline and small crops for
 * avatars; Synapse answers any other size with the nearest of these (a larger one when there is one).
 */
export const THUMBNAIL_SIZES = [
  { width: 96, height: 96, method: "crop" },
  { width: 800, height: 600, method: "scale" },
] as const;
