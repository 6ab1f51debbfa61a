/**
 * bench:footprint's third side and its readings: MDAD's values as its roles compute them for a
 * 1 GiB, one-CPU host; Synapse's time per request from its access log; cache sizes from its
 * metrics; ratios against the peer as well as the baseline.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseCacheSizes } from "../../bench/footprint/caches";
import { peerHomeserver, peerPostgresSettings } from "../../bench/footprint/peer";
import { formatRatios } from "../../bench/footprint/runs";
import { splitTimes, synapseTimes } from "../../bench/footprint/server-time";

test("MDAD's PostgreSQL options for 1 GiB and one CPU, as its pgtune port computes them (wal_buffers falling back to shared_buffers)", () => {
  const o = Object.fromEntries(peerPostgresSettings());
  assert.deepEqual(
    [o.max_connections, o.shared_buffers, o.effective_cache_size, o.maintenance_work_mem, o.wal_buffers, o.work_mem, o.max_parallel_workers_per_gather, o.huge_pages],
    ["200", "256MB", "768MB", "64MB", "256MB", "1310kB", "1", "off"],
  );
  // Two CPUs and 2 GiB: the same rules, other figures.
  const two = Object.fromEntries(peerPostgresSettings(2048 * 1024 * 1024, 2));
  assert.deepEqual([two.shared_buffers, two.work_mem, two.max_worker_processes], ["512MB", "2621kB", "2"]);
});

test("MDAD's Synapse caches for 1 GiB: factor 10, 100K events, autotuning at RAM/8 and RAM/16, presence on", () => {
  const h = peerHomeserver() as any;
  assert.equal(h.event_cache_size, "100K");
  assert.equal(h.caches.global_factor, 10);
  assert.equal(h.caches.cache_autotuning.max_cache_memory_usage, 128 * 1024 * 1024);
  assert.equal(h.caches.cache_autotuning.target_cache_memory_usage, 64 * 1024 * 1024);
  assert.equal(h.presence.enabled, true);
});

const line = (sec: string, send: string, method: string, path: string) =>
  `2026-12-06 09:00:00,000 - synapse.access.http.8008 - 473 - INFO - ${method}-12 - 172.18.0.5 - 8008 - {@qq_1:e2e.localhost} Processed request: ${sec}sec/${send}sec ru=(0.010sec, 0.000sec) db=(0.001sec/0.004sec/3) 70B 200 "${method} ${path} HTTP/1.1" "Go-http-client/1.1" [0 dbevts]`;

test("Synapse's own time per send and upload, by the send's number, against the workload's latency", () => {
  const log = [
    line("0.120", "0.001", "PUT", "/_matrix/client/v3/rooms/!a:e2e.localhost/send/m.room.message/bench-7?user_id=%40qq_1%3Ae2e.localhost"),
    line("0.300", "-0.000", "POST", "/_matrix/media/v3/upload?filename=bench-9.bin&user_id=%40qq_1%3Ae2e.localhost"),
    line("0.050", "0.000", "GET", "/_matrix/client/v3/sync?timeout=30000"),
    "2026-12-06 09:00:00,000 - synapse.handlers - 1 - INFO - something else",
  ].join("\n");
  const t = synapseTimes(log);
  assert.deepEqual([...t.send], [[7, 121]]);
  assert.deepEqual([...t.upload], [[9, 300]]);
  assert.deepEqual(splitTimes([[7, 500], [8, 900]], t.send), { matched: 1, synapseP50: 121, synapseP99: 121, outsideP50: 379, outsideP99: 379 });
  assert.equal(splitTimes([[8, 900]], t.send), undefined);
});

test("cache sizes from Synapse's metrics, largest first", () => {
  const text = [
    '# HELP synapse_util_caches_cache_size ',
    'synapse_util_caches_cache_size{name="getEvent"} 3000.0',
    'synapse_util_caches_cache_max_size{name="getEvent"} 10000.0',
    'synapse_util_caches_cache_size{name="*stateGroupCache*",server_name="e2e.localhost"} 120.0',
    'synapse_util_caches_cache_max_size{name="*stateGroupCache*",server_name="e2e.localhost"} 500.0',
  ].join("\n");
  assert.deepEqual(parseCacheSizes(text), [
    { name: "getEvent", size: 3000, max: 10000 },
    { name: "*stateGroupCache*", size: 120, max: 500 },
  ]);
});

test("ratios against the peer: the kits after it, each paired with the peer of its own round", () => {
  const rs = [
    { label: "baseline", rep: 1, v: 100 },
    { label: "mdad", rep: 1, v: 400 },
    { label: "kit", rep: 1, v: 100 },
    { label: "baseline", rep: 2, v: 100 },
    { label: "mdad", rep: 2, v: 200 },
    { label: "kit", rep: 2, v: 100 },
  ];
  assert.deepEqual(formatRatios(rs, [["v", (r) => r.v]], "mdad"), ["ratios to the peer (mdad), median (range) over 2 interleaved repetitions", `  ${"kit/mdad v".padEnd(44)} 0.38 (0.25-0.50)`]);
  assert.deepEqual(formatRatios(rs, [["v", (r) => r.v]]).slice(1), [`  ${"mdad/baseline v".padEnd(44)} 3.00 (2.00-4.00)`, `  ${"kit/baseline v".padEnd(44)} 1.00 (1.00-1.00)`]);
});

test("the queue's held share: held from the start, each logged change moving it, clipped to the phase", async () => {
  const { heldShare } = await import("../../bench/footprint/admission");
  const t = (s: number) => new Date(Date.UTC(2026, 11, 6, 9, 0, s)).toISOString();
  const from = Date.parse(t(10));
  const to = Date.parse(t(20));
  const log = [`${t(5)} [NOTICE] admission: bridges free (CPU 40% busy)`, `${t(12)} [NOTICE] admission: bridges held (CPU 97% busy)`, `${t(14)} [NOTICE] admission: bridges free (CPU 60% busy)`, `${t(30)} [NOTICE] admission: bridges held (CPU 99% busy)`].join("\n");
  assert.equal(heldShare(log, from, to), 0.2);
  assert.equal(heldShare("", from, to), 1);
});
