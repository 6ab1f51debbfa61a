/** The benchmarks' repetitions (order, spread, ratios) and bench:peak's targets and table. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { failureReason, formatRatios, formatSpread, interleave, measureEach, ratios, spread } from "../../bench/footprint/runs";
import { SHORT } from "../../bench/footprint/workload";
import { pressureSome } from "../../bench/peak/cpu";
import { formatIdleReport, formatPeakReport, peakTargets, type PeakResult } from "../../bench/peak/report";
import { sweepTable } from "../../bench/footprint/sweep";

test("repetitions are interleaved, one of each run per round, each round starting one run later", () => {
  assert.deepEqual(
    interleave(["baseline", "kit"], 3).map(({ run, rep }) => `${run}${rep}`),
    ["baseline1", "kit1", "kit2", "baseline2", "baseline3", "kit3"],
  );
  assert.deepEqual(
    interleave(["baseline", "kit", "kit+v"], 3).map(({ run, rep }) => `${run}${rep}`),
    ["baseline1", "kit1", "kit+v1", "kit2", "kit+v2", "baseline2", "kit+v3", "baseline3", "kit3"],
  );
});

test("a run that fails is named with its repetition and the others still run, in order", async () => {
  const kept: string[] = [];
  const logged: string[] = [];
  const runs = [{ label: "kit" }, { label: "kit+gc" }, { label: "kit+pg" }];
  const failed = await measureEach(
    runs,
    2,
    async (run, rep) => {
      if (run.label === "kit+gc") throw new Error("apply stopped: Synapse refused gc_min_interval\nthe script, 2,000 characters");
      return `${run.label}${rep}`;
    },
    (r) => kept.push(r),
    (l) => logged.push(l),
  );
  assert.deepEqual(kept, ["kit1", "kit+pg1", "kit+pg2", "kit2"]);
  assert.deepEqual(failed, ["kit+gc (repetition 1): apply stopped: Synapse refused gc_min_interval", "kit+gc (repetition 2): apply stopped: Synapse refused gc_min_interval"]);
  assert.deepEqual(logged, ["kit+gc: FAILED, going on without it: apply stopped: Synapse refused gc_min_interval", "kit+gc: FAILED, going on without it: apply stopped: Synapse refused gc_min_interval"]);
});

test("a failed apply is named by the kit's own lines and the log lines they quote, not by the provider's echo of its script", () => {
  const message = [
    'apply stopped: Process exited with status 1: running "# matrix-kit: wait for mx-e2e-synapse to report healthy after it was created (up to 300 s).\\n# When it does not, the update stops here',
    "matrix-kit: mx-e2e-synapse (image kit-e2e/synapse:v1.163.2) did not become healthy: it exited and was restarted 2 times. Its last log lines:",
    "  | start.py: starting synapse with args -m synapse.app.homeserver --config-path /config/homeserver.yaml",
    "  | ",
    "  | Error in configuration:",
    "  |   Value of `gc_min_interval` must be a list of three durations if set",
    "  | start.py: starting synapse with args -m synapse.app.homeserver --config-path /config/homeserver.yaml",
    "  Undo the stack's last change and run npm run up -- e2e again.",
    "",
    "    at runCommand (/work/test/harness/provider-io.ts:54:11)",
  ].join("\n");
  assert.equal(
    failureReason(message),
    "matrix-kit: mx-e2e-synapse (image kit-e2e/synapse:v1.163.2) did not become healthy: it exited and was restarted 2 times. Its last log lines: / start.py: starting synapse with args -m synapse.app.homeserver --config-path /config/homeserver.yaml / Error in configuration: / Value of `gc_min_interval` must be a list of three durations if set",
  );
  assert.equal(failureReason("connect ECONNREFUSED 127.0.0.1:2222\n    at x"), "connect ECONNREFUSED 127.0.0.1:2222");
  assert.equal(failureReason("matrix-kit: " + "x".repeat(1000)).length, 600);
});

test("a spread is the median and the range; an even count takes the middle two's mean", () => {
  assert.deepEqual(spread([0.81, 0.54, 0.6]), { median: 0.6, min: 0.54, max: 0.81, n: 3 });
  assert.equal(spread([1, 2, 3, 10]).median, 2.5);
  assert.equal(formatSpread(spread([0.81, 0.54, 0.6])), "0.60 (0.54-0.81)");
  assert.equal(formatSpread(spread([1234]), 0), "1234");
});

test("ratios pair each run with the baseline of its own repetition", () => {
  const rs = [
    { label: "baseline", rep: 1, v: 100 },
    { label: "kit", rep: 1, v: 50 },
    { label: "baseline", rep: 2, v: 200 },
    { label: "kit", rep: 2, v: 300 },
    { label: "kit", rep: 3, v: 1 }, // no baseline in round 3: no ratio
  ];
  assert.deepEqual(ratios(rs, "kit", (r) => r.v), [0.5, 1.5]);
  assert.deepEqual(formatRatios(rs, [["v", (r) => r.v]]), ["ratios to the baseline, median (range) over 3 interleaved repetitions", `  ${"kit/baseline v".padEnd(44)} 1.00 (0.50-1.50)`]);
});

const probe = (p50: number, p99: number, failures = 0) => ({ count: 60, failures, p50, p99 });

function peak(label: string, rep: number, o: { sendP99: number; siteP99: number; fiveXX?: number; lost?: number }): PeakResult {
  return {
    label,
    rep,
    deploySeconds: 10,
    idle: { site: probe(1, 4), ssh: probe(40, 60), owner: { send: probe(20, 40), sync: probe(30, 50), undelivered: 0 } },
    burst: {
      seconds: 60,
      site: probe(2, o.siteP99),
      ssh: probe(50, 100),
      owner: { send: probe(200, o.sendP99), sync: probe(300, 900), undelivered: 0 },
      cpu: { synapse: { usageSeconds: 45, cores: 0.75, nrThrottled: 120, throttledSeconds: 9.5, waitingSeconds: 31.2 } },
      load: { mean: 3.2, max: 5.1, busy: 0.97, iowait: 0.02, interrupts: 0.06, steal: 0.01, host: { nginx: 0.04, "docker-proxy": 0.12, sshd: 0.03, engine: 0.01 } },
      ...(label === "baseline" ? {} : { queueHeld: rep / 10 }),
    },
    clients: { clients: 20, seconds: 60, requests: 5000, statuses: { "200": 5000 - (o.fiveXX ?? 0), ...(o.fiveXX ? { "502": o.fiveXX } : {}) }, fiveXX: o.fiveXX ?? 0, latency: probe(100, 400) },
    workload: {
      plan: SHORT,
      setupSeconds: 5,
      sendSeconds: 60,
      acknowledged: { messages: 600, uploads: 40 },
      lost: o.lost ?? 0,
      errors: {},
      latencyMs: { sendP50: 100, sendP99: 900, uploadP50: 30, uploadP99: 80 },
      uploadedBytes: 0,
      syncs: 10,
    },
    series: [],
  };
}

test("the targets read the medians: site within 2x of idle, send under 1 s and within 2x of the owner's idle send, no 5xx, nothing lost", () => {
  const met = peakTargets([peak("kit", 1, { sendP99: 70, siteP99: 8 }), peak("kit", 2, { sendP99: 5000, siteP99: 8 }), peak("kit", 3, { sendP99: 80, siteP99: 7 })]);
  assert.deepEqual(met.map((t) => t.met), [true, true, true, true, true, true]);
  assert.equal(met[2].figures, "80 ms");
  assert.equal(met[3].figures, "80 / 40 ms = 2.00");
  const missed = peakTargets([peak("kit", 1, { sendP99: 1000, siteP99: 9, fiveXX: 1, lost: 2 })]);
  assert.deepEqual(missed.map((t) => t.met), [false, true, false, false, false, false]);
  assert.equal(missed[0].figures, "9 / 4 ms = 2.25");
  assert.equal(missed[4].figures, "1 5xx in 5000 requests");
});

test("the peak table shows each run's medians with ranges, the ratios and each kit's targets", () => {
  const text = formatPeakReport([
    peak("baseline", 1, { sendP99: 1000, siteP99: 10 }),
    peak("kit", 1, { sendP99: 500, siteP99: 8 }),
    peak("baseline", 2, { sendP99: 2000, siteP99: 10 }),
    peak("kit", 2, { sendP99: 700, siteP99: 8 }),
  ]);
  assert.match(text, /^owner send p50 \/ p99, burst, ms\s+200 \/ 1500 \(1000-2000\)\s+200 \/ 600 \(500-700\)$/m);
  assert.match(text, /^synapse: CPUs, waiting for one s, throttled s \(times\)\s+0\.75, 31, 9\.5 \(120\)\s+0\.75, 31, 9\.5 \(120\)$/m);
  assert.match(text, /^the VPS's CPU: busy \/ iowait \/ interrupts \/ steal, %\s+97 \/ 2 \/ 6 \/ 1\s+97 \/ 2 \/ 6 \/ 1$/m);
  assert.match(text, /^host: nginx \/ docker-proxy \/ sshd \/ engine, CPUs used\s+0\.04 \/ 0\.12 \/ 0\.03 \/ 0\.01\s+0\.04 \/ 0\.12 \/ 0\.03 \/ 0\.01$/m);
  assert.match(text, /^the queue holding the bridges, % of the burst\s+-\s+15$/m);
  assert.match(text, /^owner sends measured, idle \/ burst\s+60 \/ 60\s+60 \/ 60$/m);
  assert.match(text, /kit\/baseline owner send p99, burst\s+0\.42 \(0\.35-0\.50\)/);
  assert.match(text, /targets \(kit\)\n {2}met {5}other site's p99/);
  assert.doesNotMatch(text, /targets \(baseline\)/);
});

test("a result written before the host's processes were measured shows '-' for them, not 0", () => {
  const old = peak("kit", 1, { sendP99: 500, siteP99: 8 });
  old.burst.load = { mean: 3.2, max: 5.1, busy: 0.97, iowait: 0.02 };
  delete old.burst.cpu.synapse.waitingSeconds;
  const text = formatPeakReport([old, peak("kit", 2, { sendP99: 500, siteP99: 8 })]);
  assert.match(text, /^the VPS's CPU: busy \/ iowait \/ interrupts \/ steal, %\s+97 \/ 2 \/ - \/ -$/m);
  assert.match(text, /^host: nginx \/ docker-proxy \/ sshd \/ engine, CPUs used\s+- \/ - \/ - \/ -$/m);
  assert.match(text, /^synapse: CPUs, waiting for one s, throttled s \(times\)\s+0\.75, -, 9\.5 \(120\)$/m);
});

test("the idle table gives each container's share of one CPU", () => {
  const text = formatIdleReport([{ label: "kit", minutes: 10, cpu: { synapse: { usageSeconds: 6, cores: 0.01, nrThrottled: 0, throttledSeconds: 0 } }, engine: { usageSeconds: 12, cores: 0.02 }, load: { mean: 0.1, max: 0.3, busy: 0.031, iowait: 0.002 } }]);
  assert.match(text, /^synapse\s+1\.00 \(6\.0; 0\)$/m);
  assert.match(text, /^all containers\s+1\.00$/m);
  assert.match(text, /^the VPS's CPU: busy \/ iowait, %\s+3\.1 \/ 0\.2$/m);
  assert.match(text, /^Docker engine \(dockerd, containerd, shims\)\s+2\.00 \(12\.0; -\)$/m);
});

test("a sweep's table: each figure's median and range, ratios to the kit, and '-' against a baseline the run did not have", () => {
  const MiB = 1024 * 1024;
  const result = (label: string, rep: number, total: number, sendP99: number) =>
    ({ label, rep, peakTotal: total * MiB, peak: { synapse: 100 * MiB, postgres: (total - 100) * MiB }, workload: { latencyMs: { sendP99, uploadP99: 1000 } } }) as unknown as Parameters<typeof sweepTable>[0][number];
  const rows = sweepTable([result("kit", 1, 320, 4000), result("kit+sb10", 1, 300, 4400), result("kit", 2, 316, 5000), result("kit+sb10", 2, 296, 5000)]);
  assert.equal(rows.length, 3);
  assert.deepEqual(rows[1].split(" | "), ["kit", "318 (316-320)", "100 (100-100)", "218 (216-220)", "4500 (4000-5000)", "1000 (1000-1000)", "-", "-", "-", "-", "-", "-", "-", "-"]);
  assert.deepEqual(rows[2].split(" | ").slice(0, 7), ["kit+sb10", "298 (296-300)", "100 (100-100)", "198 (196-200)", "4700 (4400-5000)", "1000 (1000-1000)", "0.94 (0.94-0.94)"]);
  assert.deepEqual(rows[2].split(" | ").slice(-3), ["-", "-", "-"]);
});

test("the time waiting for the CPU is the pressure file's 'some' total, in microseconds", () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "psi-")), "cpu.pressure");
  // As a container's cgroup holds it (kernel 6.x): "full" counts only when every task stalled.
  fs.writeFileSync(file, "some avg10=62.69 avg60=20.23 avg300=4.75 total=14763938\nfull avg10=29.88 avg60=9.56 avg300=2.23 total=7038534\n");
  assert.equal(pressureSome(file), 14763938);
});
