/**
 * The bridges' queue against a REAL HAProxy (this machine's Debian package, as
 * the e2e image has it): the kit's rendered haproxy.cfg, bound to a free loopback port, in front of
 * a stand-in for Synapse (a Node HTTP server that holds each request a while and records how many
 * it holds at once). What must hold: never more than `inFlight` of the bridges' requests inside
 * Synapse, every waiting request answered in the end (none refused for waiting), and a bridge's
 * idle kept-alive connections not taking a place. Here the limit always holds; when it holds by
 * default (the CPU busy and the owner active) is bridge-queue-admission.test.ts's. The production
 * rendering (Docker's DNS, the container's name, the admission script) passes `haproxy -c` as it is.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { validate } from "../../infra/config";
import { renderBridgeQueueAdmission, renderBridgeQueueConfig } from "../../infra/render/bridge-queue";
import { bridgesHomeserverAddress } from "../../infra/render/addresses";
import { renderBridgeConfig } from "../../infra/render/bridges";
import { renderNginxSite } from "../../infra/render/nginx";
import { deriveSecrets } from "../../infra/secrets";
import { ALWAYS_HELD, enabled, get, settings } from "../harness/bridge-queue";
import { startHaproxy, stopHaproxy } from "../harness/haproxy";
import { freePort } from "../harness/http";

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "kit-bridge-queue-"));
const HOLD_MS = 150;

describe("the bridges' queue: real HAProxy with the kit's haproxy.cfg before a stand-in Synapse", () => {
  const s = settings({ "matrix:bridgeQueue": ALWAYS_HELD });
  const q = enabled(s);
  let port: number;
  let haproxy: ChildProcess | undefined;
  let synapse: http.Server;
  let inside = 0;
  let mostInside = 0;

  before(async () => {
    synapse = http.createServer((_req, res) => {
      inside++;
      mostInside = Math.max(mostInside, inside);
      setTimeout(() => {
        inside--;
        res.writeHead(200, { "Content-Type": "application/json" }).end("{}");
      }, HOLD_MS);
    });
    await new Promise<void>((resolve) => synapse.listen(0, "127.0.0.1", resolve));
    const synapsePort = (synapse.address() as { port: number }).port;
    port = await freePort();
    const cfg = `${TMP}/haproxy.cfg`;
    fs.writeFileSync(cfg, renderBridgeQueueConfig(s, q, { bind: `127.0.0.1:${port}`, synapse: `127.0.0.1:${synapsePort}`, resolver: null }));
    haproxy = await startHaproxy(cfg, port);
  });

  after(async () => {
    await stopHaproxy(haproxy);
    synapse.closeAllConnections();
    await new Promise((resolve) => synapse.close(resolve));
    fs.rmSync(TMP, { recursive: true, force: true });
  });

  test(`30 requests at once: at most inFlight (${q.inFlight}) inside Synapse, every one answered 200`, async () => {
    mostInside = 0;
    const statuses = await Promise.all(Array.from({ length: 30 }, () => get(port)));
    assert.deepEqual(statuses, Array(30).fill(200));
    assert.equal(mostInside, q.inFlight);
  });

  test("kept-alive idle connections take no place: new requests are let in at once", async () => {
    // Bridges (Go's http client) keep their connections open between requests.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    try {
      await Promise.all(Array.from({ length: 8 }, () => get(port, agent)));
      mostInside = 0;
      const t0 = Date.now();
      await Promise.all(Array.from({ length: q.inFlight }, () => get(port)));
      const ms = Date.now() - t0;
      assert.equal(mostInside, q.inFlight);
      // One hold's time, not two: none of them waited behind an idle connection.
      assert.ok(ms < 2 * HOLD_MS, `${q.inFlight} requests took ${ms} ms with 8 idle connections open`);
    } finally {
      agent.destroy();
    }
  });
});

describe("the bridges' queue in the stack", () => {
  test("the production haproxy.cfg (Docker's DNS, Synapse's container name, the admission script) passes haproxy -c", () => {
    const s = settings();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kit-bridge-queue-c-"));
    const cfg = `${dir}/haproxy.cfg`;
    const script = renderBridgeQueueAdmission(enabled(s));
    assert.ok(script, "the default stack watches the CPU and the owner");
    assert.match(renderBridgeQueueConfig(s, enabled(s)), /^\s+lua-load \/usr\/local\/etc\/haproxy\/admission\.lua$/m);
    // The script where the container has it would need /usr/local/etc/haproxy here: beside the file instead.
    fs.writeFileSync(`${dir}/admission.lua`, script);
    fs.writeFileSync(cfg, renderBridgeQueueConfig(s, enabled(s), { admission: `${dir}/admission.lua` }));
    const check = spawnSync("haproxy", ["-c", "-f", cfg], { encoding: "utf8" });
    assert.equal(check.status, 0, `haproxy -c: ${check.stdout}${check.stderr}`);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("the bridges' configs send to the queue; with it off, to Synapse", () => {
    const sec = deriveSecrets("bridge-queue-test-seed");
    const on = settings();
    const off = settings({ "matrix:bridgeQueue": { enabled: false } });
    assert.equal(bridgesHomeserverAddress(on), "http://mx-e2e-bridge-queue:8008");
    assert.equal(bridgesHomeserverAddress(off), "http://mx-e2e-synapse:8008");
    for (const [s, address] of [[on, "http://mx-e2e-bridge-queue:8008"], [off, "http://mx-e2e-synapse:8008"]] as const) {
      for (const b of [s.qq!, s.wechat!]) assert.match(renderBridgeConfig(s, b, sec), new RegExp(`address: ${address.replace(/[.]/g, "[.]")}\\n`));
    }
    assert.equal(off.bridgeQueue.enabled, false);
  });

  test("inFlight: 3 per CPU of cpu.total unless set", () => {
    assert.equal(enabled(settings()).inFlight, 3);
    assert.equal(enabled(settings({ "matrix:cpu": { total: 2 } })).inFlight, 6);
    assert.equal(enabled(settings({ "matrix:cpu": { total: 0.5, reserve: 0 } })).inFlight, 2);
    assert.equal(enabled(settings({ "matrix:cpu": { total: 2 }, "matrix:bridgeQueue": { inFlight: 2 } })).inFlight, 2);
    const bad = validate("e2e", { values: { "matrix:domain": "e2e.localhost", "matrix:target": { kind: "local" }, "matrix:secretSeed": { secure: "x" }, "matrix:bridgeQueue": { inFlight: 0 } }, secretKeys: new Set(["matrix:secretSeed"]) });
    assert.ok(!bad.ok && bad.errors.some((e) => /matrix:bridgeQueue\.inFlight/.test(e) && /at least 1/.test(e)), bad.ok ? "accepted" : bad.errors.join("\n"));
  });

  test("by default the limit holds only while the CPU is 90 % busy and within 30 s of an owner's request, which host nginx announces", () => {
    const s = settings();
    const q = enabled(s);
    assert.deepEqual([q.cpuBusyThreshold, q.ownerActiveSeconds], [0.9, 30]);
    assert.match(renderBridgeQueueAdmission(q) ?? "", /local THRESHOLD = 0\.9\nlocal OWNER_WINDOW = 30\n/);
    assert.match(renderNginxSite(s), /mirror \/_kit_owner_active;/);
  });

  test("no bridge, no queue: it is not in the budgets", () => {
    const s = settings({ "matrix:qq": { enabled: false }, "matrix:wechat": { enabled: false } });
    assert.equal(s.bridgeQueue.enabled, false);
    assert.ok(!s.memoryBudget.rows.some((r) => r.service === "bridge-queue"));
    assert.ok(!s.cpuBudget.rows.some((r) => r.service === "bridge-queue"));
  });
});
