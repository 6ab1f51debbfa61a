/**
 * When the bridges' queue holds the bridges back, against a REAL HAProxy (this machine's Debian
 * package, as the e2e image has it) running the kit's haproxy.cfg and admission.lua before a
 * stand-in Synapse that counts the requests it holds at once. The kernel's CPU counters are a file
 * the test makes busy or idle, and the owner's clients are requests to the queue's "owner"
 * frontend (what host nginx sends it). What must hold: with cpuBusyThreshold, the limit holds while
 * the CPU is busy, the bridges go in freely while it is not, a lifted limit lets the waiting requests
 * in at once, and the script lives on through its changes; with ownerActiveSeconds, the limit holds
 * only within that many seconds of the owner's last request.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { ADMISSION, bridgeQueueSpec, renderBridgeQueueAdmission, renderBridgeQueueConfig } from "../../infra/render/bridge-queue";
import { ALWAYS_HELD, enabled, get, settings, standInSynapse } from "../harness/bridge-queue";
import { startHaproxy, stopHaproxy } from "../harness/haproxy";
import { freePort } from "../harness/http";
import type { BridgeQueueSettings, Settings } from "../../infra/settings";

/** Long enough for admission.lua to read the counters over HOLD periods and act. */
const settle = () => new Promise((r) => setTimeout(r, ADMISSION.periodMs * (ADMISSION.holdPeriods + 1.5)));

describe("the bridges' queue with cpuBusyThreshold: held while the CPU is busy, free while it is not", () => {
  const s = settings({ "matrix:bridgeQueue": { cpuBusyThreshold: 0.8, ownerActiveSeconds: null } });
  const q = enabled(s);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kit-bridge-queue-admission-"));
  // The kernel's counters as /proc/stat gives them (cpu<n> user nice system idle iowait ...), for every
  // CPU HAProxy may run on; a timer adds ticks as a busy or an idle CPU would.
  const stat = `${dir}/stat`;
  let mode: "busy" | "idle" = "busy";
  let busyTicks = 0;
  let idleTicks = 0;
  const write = () => fs.writeFileSync(`${stat}.new`, Array.from({ length: 64 }, (_, i) => `cpu${i} ${busyTicks} 0 0 ${idleTicks} 0 0 0 0 0 0\n`).join(""));
  const tick = () => {
    if (mode === "busy") busyTicks += 10;
    else idleTicks += 10;
    write();
    fs.renameSync(`${stat}.new`, stat);
  };
  const rig = haproxyWithAdmission(s, q, { dir, stat, tick, holdMs: 300 });

  test("no script with neither setting; with one, haproxy.cfg loads it", () => {
    const always = settings({ "matrix:bridgeQueue": ALWAYS_HELD });
    assert.equal(renderBridgeQueueAdmission(enabled(always)), null);
    assert.doesNotMatch(renderBridgeQueueConfig(always, enabled(always)), /lua-load/);
    assert.match(renderBridgeQueueConfig(s, q), /^\s+lua-load \/usr\/local\/etc\/haproxy\/admission\.lua$/m);
  });

  test(`CPU busy: 30 requests at once, at most inFlight (${q.inFlight}) inside Synapse`, async () => {
    mode = "busy";
    await settle();
    rig.synapse.counts.most = 0;
    const statuses = await Promise.all(Array.from({ length: 30 }, () => get(rig.port)));
    assert.deepEqual(statuses, Array(30).fill(200));
    assert.equal(rig.synapse.counts.most, q.inFlight);
  });

  test("CPU idle: 30 requests at once all go in", async () => {
    mode = "idle";
    await settle();
    rig.synapse.counts.most = 0;
    const t0 = Date.now();
    const statuses = await Promise.all(Array.from({ length: 30 }, () => get(rig.port)));
    assert.deepEqual(statuses, Array(30).fill(200));
    assert.equal(rig.synapse.counts.most, 30);
    assert.ok(Date.now() - t0 < 2 * 300, `${Date.now() - t0} ms`);
  });

  test("the CPU turning idle lets the waiting requests in at once", async () => {
    mode = "busy";
    await settle();
    rig.synapse.counts.most = 0;
    const t0 = Date.now();
    const all = Promise.all(Array.from({ length: 30 }, () => get(rig.port)));
    // Held, 30 requests at 3 a time would take 3 s; the limit lifts after about a second.
    await new Promise((r) => setTimeout(r, 100));
    mode = "idle";
    assert.deepEqual(await all, Array(30).fill(200));
    const ms = Date.now() - t0;
    assert.ok(rig.synapse.counts.most > q.inFlight, `at most ${rig.synapse.counts.most} inside`);
    assert.ok(ms < 2500, `${ms} ms: the waiting ones were not let in when the limit lifted`);
  });

  test("busy again: held again (the script lives on through its changes)", async () => {
    mode = "busy";
    await settle();
    rig.synapse.counts.most = 0;
    assert.deepEqual(await Promise.all(Array.from({ length: 12 }, () => get(rig.port))), Array(12).fill(200));
    assert.equal(rig.synapse.counts.most, q.inFlight);
  });
});

describe("the bridges' queue with ownerActiveSeconds: held only while the owner is active (and the CPU busy)", () => {
  const s = settings({ "matrix:bridgeQueue": { cpuBusyThreshold: 0.8, ownerActiveSeconds: 3 } });
  const q = enabled(s);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kit-bridge-queue-owner-"));
  // A CPU busy all the time: whether the bridges are held is the owner's activity alone.
  const stat = `${dir}/stat`;
  let ticks = 0;
  const tick = () => {
    ticks += 10;
    fs.writeFileSync(`${stat}.new`, Array.from({ length: 64 }, (_, i) => `cpu${i} ${ticks} 0 0 0 0 0 0 0 0 0\n`).join(""));
    fs.renameSync(`${stat}.new`, stat);
  };
  const rig = haproxyWithAdmission(s, q, { dir, stat, tick, holdMs: 200, owner: true });
  const burst = async () => {
    rig.synapse.counts.most = 0;
    assert.deepEqual(await Promise.all(Array.from({ length: 12 }, () => get(rig.port))), Array(12).fill(200));
    return rig.synapse.counts.most;
  };

  test("owner away, CPU busy: the bridges go in freely", async () => {
    await settle();
    assert.equal(await burst(), 12);
  });

  test("owner active, CPU busy: held to inFlight at the next reading; free again once the owner has been away ownerActiveSeconds", async () => {
    await get(rig.ownerPort);
    // One reading sees the owner: held at once (a burst takes 4 x 200 ms, inside the 3 s).
    await new Promise((r) => setTimeout(r, ADMISSION.periodMs * 1.5));
    assert.equal(await burst(), q.inFlight);
    await new Promise((r) => setTimeout(r, 3000));
    await settle();
    assert.equal(await burst(), 12);
  });

  test("the owner's frontend answers 204 at once, whatever the method", async () => {
    for (const method of ["GET", "PUT", "POST"]) {
      const a = await new Promise<number>((resolve, reject) =>
        http.request({ host: "127.0.0.1", port: rig.ownerPort, method, path: "/_kit_owner_active", agent: false }, (res) => (res.resume(), resolve(res.statusCode ?? 0))).on("error", reject).end(),
      );
      assert.equal(a, 204);
    }
  });

  test("the container publishes the owner's port on loopback only, and nothing without the setting", () => {
    assert.deepEqual(bridgeQueueSpec(s, q).ports, [{ internal: 8010, external: 8084, ip: "127.0.0.1" }]);
    const notAsked = settings({ "matrix:bridgeQueue": { ownerActiveSeconds: null } });
    assert.deepEqual(bridgeQueueSpec(notAsked, enabled(notAsked)).ports, []);
  });
});


/**
 * HAProxy with the kit's haproxy.cfg and admission.lua before a stand-in Synapse holding each
 * request `holdMs`, its CPU counters fed by `tick` every 50 ms (and the owner's frontend with
 * `owner`): started before the suite's tests, stopped and cleaned up after them.
 */
function haproxyWithAdmission(s: Settings, q: Extract<BridgeQueueSettings, { enabled: true }>, o: { dir: string; stat: string; tick: () => void; holdMs: number; owner?: boolean }) {
  const rig = { port: 0, ownerPort: 0, synapse: undefined as unknown as Awaited<ReturnType<typeof standInSynapse>> };
  let timer: NodeJS.Timeout | undefined;
  let haproxy: ChildProcess | undefined;
  before(async () => {
    o.tick();
    timer = setInterval(o.tick, 50);
    rig.synapse = await standInSynapse(o.holdMs);
    rig.port = await freePort();
    if (o.owner) rig.ownerPort = await freePort();
    fs.writeFileSync(`${o.dir}/admission.lua`, renderBridgeQueueAdmission(q, { statPath: o.stat })!);
    const cfg = `${o.dir}/haproxy.cfg`;
    const ownerBind = o.owner ? { ownerBind: `127.0.0.1:${rig.ownerPort}` } : {};
    fs.writeFileSync(cfg, renderBridgeQueueConfig(s, q, { bind: `127.0.0.1:${rig.port}`, synapse: `127.0.0.1:${rig.synapse.port}`, resolver: null, admission: `${o.dir}/admission.lua`, ...ownerBind }));
    haproxy = await startHaproxy(cfg, rig.port);
  });
  after(async () => {
    clearInterval(timer);
    await stopHaproxy(haproxy);
    rig.synapse.server.closeAllConnections();
    await new Promise((resolve) => rig.synapse.server.close(resolve));
    fs.rmSync(o.dir, { recursive: true, force: true });
  });
  return rig;
}
