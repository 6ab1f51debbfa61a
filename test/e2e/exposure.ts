/**
 * What the e2e deployment exposes on the host, registered inside the e2e suite's describe: each
 * container's CPU cap and weight as the engine reports them, the bridges' queue's ear for the
 * owner's requests, and no port on anything but 127.0.0.1 (every listening socket of the host,
 * before and after the deployment).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { ownerNoticePort } from "../../infra/render/addresses";
import type { Settings } from "../../infra/settings";
import { request } from "../harness/http";
import { containerLog, docker, poll } from "../harness/wait";

/** Listening TCP sockets on addresses other than loopback ("address:port"). */
export const publicListeners = () =>
  new Set(
    execFileSync("ss", ["-ltnH"], { encoding: "utf8" })
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => l.split(/\s+/)[3])
      .filter((a) => !/^(127\.|\[::1\]|\[::ffff:127\.)/.test(a)),
  );

export function exposureTests(ctx: { s: Settings; listenersBefore: () => Set<string>; done: () => void }): void {
  const { s } = ctx;
  test("every container runs with the CPU budget's cap and weight, as the engine reports them", () => {
    for (const row of s.cpuBudget.rows.filter((r) => r.service !== "upkeep")) {
      const [nano, shares] = docker("inspect", "-f", "{{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}}", `${s.namePrefix}-${row.service}`).trim().split(" ").map(Number);
      assert.deepEqual([nano, shares], [Math.round(row.cpus * 1e9), row.shares], row.service);
    }
  });

  test("the bridges' queue runs its admission script and takes host nginx's word of the owner's requests on loopback", async () => {
    const port = ownerNoticePort(s);
    assert.ok(port !== null, "the e2e stack runs the queue's default, owner-aware mode");
    // What host nginx's mirror sends for each of the owner's requests (test/render/nginx-owner-mirror.test.ts).
    const answer = await request({ host: "127.0.0.1", port, method: "GET", path: "/_kit_owner_active", headers: {} });
    assert.equal(answer.status, 204);
    // The script starts by holding the bridges and logs each change; it lets them go once the CPU or the owner is calm.
    const line = await poll("the queue's admission script to log a decision", 60_000, () => containerLog(`${s.namePrefix}-bridge-queue`).match(/admission: bridges (held|free) \(CPU \d+% busy, owner (active|away)\)/)?.[0]);
    console.log(`# bridges' queue: ${line}`);
  });

  test("no container port answers on anything but 127.0.0.1 (every listening socket on the host)", () => {
    const lines = execFileSync("ss", ["-ltnpH"], { encoding: "utf8" }).trim().split("\n");
    const notices = ownerNoticePort(s);
    const published = new Set([s.synapse.hostPort, s.wechat!.hostPort, ...(notices === null ? [] : [notices])].map(String));
    const offenders = lines.filter((l) => {
      const local = l.split(/\s+/)[3];
      const port = local.slice(local.lastIndexOf(":") + 1);
      const isContainer = /docker-proxy/.test(l) || published.has(port);
      return isContainer && !local.startsWith("127.0.0.1:");
    });
    assert.deepEqual(offenders, []);
    assert.ok(lines.some((l) => l.includes(`127.0.0.1:${s.synapse.hostPort}`)), "Synapse is published on loopback");
    // A scan of the other addresses: the deployment opened nothing there but nginx's port.
    const before = ctx.listenersBefore();
    const opened = [...publicListeners()].filter((a) => !before.has(a));
    assert.deepEqual(opened.filter((a) => !a.endsWith(`:${s.nginx.httpPort}`)), [], `new listeners off loopback: ${opened.join(", ")}`);
    ctx.done();
  });
}
