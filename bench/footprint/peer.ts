/**
 * The peer a 1 GB owner would otherwise pick: matrix-docker-ansible-deploy (MDAD), its defaults for
 * Synapse and PostgreSQL as its roles render them on a host with 1 GiB of memory and one CPU. Read
 * from the playbook at commit c0681e4bc2d5 (2026-08-22; it pins Synapse v1.159.0) and the PostgreSQL
 * role it requires there, mother-of-all-self-hosting/ansible-role-postgres v18.6-0 (commit 0aad7d9f85b2).
 * The benchmark runs them on the same images as the other two sides (the kit's Synapse and
 * PostgreSQL), with the hand-made setup's homeserver.yaml for everything else (the same server
 * name, database, media and app services), so what differs is the tuning alone. MDAD sets no
 * memory or CPU limit on its containers, and its bridges talk to Synapse directly: so does this side.
 */

const MiB = 1024 * 1024;

/** MDAD computes from `ansible_facts.memtotal_mb`; a "1 GB" VPS reports a little less than 1024 (what the kernel keeps). */
export const PEER_HOST = { memtotalBytes: 1024 * MiB, cpus: 1 } as const;

/**
 * Synapse's settings MDAD renders into homeserver.yaml (roles/custom/matrix-synapse/defaults/main.yml,
 * through templates/synapse/homeserver.yaml.j2), deep-merged over the hand-made homeserver.yaml.
 */
export function peerHomeserver(memtotalBytes: number = PEER_HOST.memtotalBytes): Record<string, unknown> {
  return {
    // defaults/main.yml:722 matrix_synapse_event_cache_size "100K" (Synapse's own default: 10K).
    event_cache_size: "100K",
    caches: {
      // :732 matrix_synapse_caches_global_factor 10 (Synapse's: 0.5).
      global_factor: 10,
      // :733-735 expire_caches true, cache_entry_ttl "1080m", sync_response_cache_duration "2m".
      expire_caches: true,
      cache_entry_ttl: "1080m",
      sync_response_cache_duration: "2m",
      cache_autotuning: {
        // :750-762 RAM/8 and RAM/16 (capped at 2 GB and 1 GB), in bytes; :748 min_cache_ttl "30s".
        max_cache_memory_usage: Math.min(Math.floor(memtotalBytes / 8), 2 * 1024 * MiB),
        target_cache_memory_usage: Math.min(Math.floor(memtotalBytes / 16), 1024 * MiB),
        min_cache_ttl: "30s",
      },
    },
    // :584 matrix_synapse_presence_enabled true.
    presence: { enabled: true },
    // :1353-1361 txn_limit 0, cp_min 5, cp_max 10 (the hand-made setup's pool too).
    database: { txn_limit: 0, args: { cp_min: 5, cp_max: 10 } },
    // gc_thresholds and gc_min_interval are left commented out in homeserver.yaml.j2 (Synapse's own).
  };
}

/**
 * MDAD's log levels (defaults/main.yml:480-482: synapse, synapse.storage.SQL and root at WARNING),
 * as templates/synapse/synapse.log.config.j2 writes them (to the console; no access log lines).
 */
export function peerLogConfig(): Record<string, unknown> {
  return {
    version: 1,
    formatters: { precise: { format: "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s" } },
    filters: { context: { "()": "synapse.util.logcontext.LoggingContextFilter", request: "" } },
    handlers: { console: { class: "logging.StreamHandler", formatter: "precise", filters: ["context"] } },
    loggers: { synapse: { level: "WARNING" }, "synapse.storage.SQL": { level: "WARNING" } },
    root: { level: "WARNING", handlers: ["console"] },
  };
}

/**
 * PostgreSQL's server options from the role's pgtune port (ansible-role-postgres v18.6-0,
 * defaults/main.yml:43-63 and the `-c` list at :301-319), for `memtotal` and `cpus`, in its order.
 * The role's arithmetic is kept as it is, including wal_buffers: it falls back to shared_buffers
 * itself (256MB here) where pgtune would take 3 % of it, capped at 16MB.
 */
export function peerPostgresSettings(memtotalBytes: number = PEER_HOST.memtotalBytes, cpus: number = PEER_HOST.cpus): [string, string][] {
  const kb = Math.floor(memtotalBytes / 1024);
  // group_vars/matrix_servers:4256: 200 without Synapse workers.
  const maxConnections = 200;
  const sharedBuffersKb = kb / 4;
  const effectiveCacheKb = (kb * 3) / 4;
  const maintenanceKb = kb / 16 / 1024 >= 2048 ? 2097152 : kb / 16;
  const walBuffersKb = (sharedBuffersKb * 3) / 100 / 1024 >= 16 ? 16384 : sharedBuffersKb;
  const perGather = Math.ceil(cpus / 2 > 4 ? 4 : cpus / 2);
  const workMemRaw = Math.floor((kb - sharedBuffersKb) / (maxConnections * 3) / perGather);
  const mb = (k: number) => `${Math.floor(k / 1024)}MB`;
  return [
    ["max_connections", String(maxConnections)],
    ["shared_buffers", mb(sharedBuffersKb)],
    ["effective_cache_size", mb(effectiveCacheKb)],
    ["maintenance_work_mem", mb(maintenanceKb)],
    ["checkpoint_completion_target", "0.9"],
    ["wal_buffers", mb(walBuffersKb)],
    ["default_statistics_target", "100"],
    // postgres_data_storage "ssd".
    ["random_page_cost", "1.1"],
    ["effective_io_concurrency", "200"],
    ["work_mem", `${workMemRaw <= 64 ? 64 : workMemRaw}kB`],
    ["huge_pages", kb / 1024 / 1024 < 32 ? "off" : "try"],
    ["min_wal_size", "1024MB"],
    ["max_wal_size", "4096MB"],
    ["max_worker_processes", String(cpus)],
    ["max_parallel_workers", String(cpus)],
    ["max_parallel_workers_per_gather", String(perGather)],
    ["max_parallel_maintenance_workers", String(perGather)],
  ];
}
