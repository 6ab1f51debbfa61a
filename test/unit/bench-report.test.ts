/** bench:footprint's arithmetic: services from container names, percentiles, the targets (met and missed), the table. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { byService, formatReport, serviceOf, targets, type DeploymentResult } from "../../bench/footprint/report";
import { percentile, SHORT, syncFigures, timelineEvents } from "../../bench/footprint/workload";

const MiB = 1024 * 1024;
const per = (p: number, s: number, q: number, w: number, d = 0, f = 0, g = 0) => ({ postgres: p * MiB, synapse: s * MiB, qq: q * MiB, wechat: w * MiB, watchdog: d * MiB, "docker-filter": f * MiB, "bridge-queue": g * MiB });

function result(label: "baseline" | "kit", peak: ReturnType<typeof per>, p99: number, lost = 0, oom = 0, uploadP99 = 80): DeploymentResult {
  const total = Object.values(peak).reduce((a, b) => a + b, 0);
  return {
    label,
    deploySeconds: 10,
    idle: per(50, 100, 3, 3),
    peak,
    end: peak,
    peakTotal: total,
    cgroupPeak: peak,
    limits: label === "kit" ? per(184, 368, 92, 92, 32, 16, 16) : { postgres: null, synapse: null, qq: null, wechat: null, watchdog: null, "docker-filter": null, "bridge-queue": null },
    oomKills: { postgres: 0, synapse: oom, qq: 0, wechat: 0, watchdog: 0, "docker-filter": 0, "bridge-queue": 0 },
    disk: { idle: { mediaLocal: 0, mediaRemote: 0, databases: { synapse: 0 } }, end: { mediaLocal: 10 * MiB, mediaRemote: 0, databases: { synapse: 5 * MiB } } },
    workload: {
      plan: SHORT,
      setupSeconds: 5,
      sendSeconds: 15,
      acknowledged: { messages: 300, uploads: 12 },
      lost,
      errors: {},
      latencyMs: { sendP50: 100, sendP99: p99, uploadP50: 30, uploadP99 },
      uploadedBytes: 7 * MiB,
      syncs: 100,
      ...(label === "kit" ? { sync: { answers: 99, p50: 420, p99: 2100, eventsPerAnswer: 3.5 } } : {}),
    },
    series: [],
  };
}

test("services come from the containers' names; a stranger is refused", () => {
  assert.equal(serviceOf("mx-base-synapse"), "synapse");
  assert.equal(serviceOf("mx-e2e-wechat"), "wechat");
  assert.equal(serviceOf("mx-e2e-docker-filter"), "docker-filter");
  assert.equal(serviceOf("mx-e2e-bridge-queue"), "bridge-queue");
  assert.throws(() => serviceOf("mx-e2e-nginx"), /not a service container/);
  assert.deepEqual(byService({ "mx-e2e-qq": 5 }), { postgres: 0, synapse: 0, qq: 5, wechat: 0, watchdog: 0, "docker-filter": 0, "bridge-queue": 0 });
});

test("percentile: nearest rank", () => {
  const xs = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(xs, 50), 50);
  assert.equal(percentile(xs, 99), 99);
  assert.equal(percentile([7], 99), 7);
  assert.equal(percentile([], 50), 0);
});

test("targets: met at 0.5 of the baseline, under 600 MB and within 1.2x the baseline's p99s; each one missed is reported as missed", () => {
  const base = result("baseline", per(300, 500, 10, 10), 200);
  const good = targets(base, result("kit", per(100, 300, 5, 5), 240, 0, 0, 96));
  assert.deepEqual(good.map((t) => t.met), [true, true, true, true, true, true]);
  const bad = targets(base, result("kit", per(200, 500, 5, 5), 400, 2, 1, 97));
  assert.deepEqual(bad.map((t) => t.met), [false, false, false, false, false, false]);
  assert.match(bad[0].figures, /710 \/ 820 MiB = 0\.87/);
  assert.match(bad[5].figures, /97 \/ 80 ms = 1\.21/);
  const table = formatReport([base, result("kit", per(200, 500, 5, 5), 400, 2, 1)]);
  assert.match(table, /MISSED  kit's total peak at most 0\.5 of the baseline's/);
  assert.match(table, /MISSED  bridged send p99 at most 1\.2 times the baseline's: 400 \/ 200 ms = 2\.00/);
  assert.match(table, /^total \(peak: at one instant\)\s+156\s+820\s+820\s+none\s+156\s+710\s+710\s+800\s+1\.00\s+0\.87$/m);
  assert.match(table, /lost \(acknowledged, not read back\)\s+0\s+2/);
  // The baseline's result predates the /sync figures: "-", not zeros.
  assert.match(table, /^owner's \/sync answers: p50 \/ p99 ms, events each\s+-\s+420 \/ 2100, 3\.5/m);
});

test("the send phase's CPU per container: used, waiting for the CPU, throttled; '-' where a result lacks a figure", () => {
  const vps = { mean: 1, max: 2, busy: 1, iowait: 0, steal: 0 };
  const kit = { ...result("kit", per(100, 300, 5, 5), 240), sendCpu: { vps, containers: { "bridge-queue": { usageSeconds: 6, cores: 0.01, nrThrottled: 1, throttledSeconds: 0.04, waitingSeconds: 41.6 } } } };
  const base = { ...result("baseline", per(300, 500, 10, 10), 200), sendCpu: { vps, containers: { "bridge-queue": { usageSeconds: 6, cores: 0.01, nrThrottled: 0, throttledSeconds: 0 } } } };
  const table = formatReport([base, kit]);
  assert.match(table, /^ {2}bridge-queue: CPUs, waiting for one s, throttled s \(times\)\s+0\.01, -, 0\.0 \(0\)\s+0\.01, 42, 0\.0 \(1\)$/m);
  assert.match(table, /^ {2}synapse: CPUs, waiting for one s, throttled s \(times\)\s+-\s+-$/m);
});

test("the owner's /sync answers: timeline events counted over the joined rooms, latency by nearest rank", () => {
  assert.equal(timelineEvents({ rooms: { join: { "!a": { timeline: { events: [1, 2, 3] } }, "!b": {}, "!c": { timeline: { events: [4] } } } } }), 4);
  assert.equal(timelineEvents({}), 0);
  assert.deepEqual(syncFigures([300, 100, 200, 400], 10), { answers: 4, p50: 200, p99: 400, eventsPerAnswer: 2.5 });
  assert.deepEqual(syncFigures([], 0), { answers: 0, p50: 0, p99: 0, eventsPerAnswer: 0 });
});

test("the series carries each sample's total: two samples in one second are not added together", async () => {
  const { seriesOf } = await import("../../bench/footprint/report");
  const rows = seriesOf([
    { t: 10.02, bytes: { "mx-e2e-synapse": 100 * MiB, "mx-e2e-postgres": 50 * MiB } },
    { t: 10.4, bytes: { "mx-e2e-synapse": 110 * MiB, "mx-e2e-postgres": 50 * MiB } },
  ]);
  assert.deepEqual(rows.filter((r) => r.service === "total").map((r) => [r.t, r.mib]), [[10, 150], [10.4, 160]]);
});
