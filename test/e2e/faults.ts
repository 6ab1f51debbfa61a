/**
 * Faults of a small VPS, each while the recording client (test/harness/recorder.ts)
 * keeps sending messages and uploads through nginx; afterwards every acknowledged
 * event and upload must be read back. Registered inside the e2e suite's
 * describe, on its deployment; the table goes to the e2e summary.
 *   - SIGKILL of Synapse's process (docker's restart policy brings it back);
 *   - a restart of PostgreSQL while the bridges run (they must answer again by themselves);
 *   - the Docker engine stopped and started, as a host reboot would (everything comes back);
 *   - the media store's filesystem full (a tmpfs the test mounts over it): uploads fail with
 *     Synapse's JSON error, then work again once space is freed.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import { test } from "node:test";
import type { Settings } from "../../infra/settings";
import { json, request } from "../harness/http";
import { Recorder, type Recording } from "../harness/recorder";
import { docker, poll } from "../harness/wait";

export interface FaultContext {
  s: Settings;
  nginx: { host: string; port: number };
  e2eDir: string;
  token: () => string;
  summary: string[];
  /** The bot of a bridge answers a command from the owner (true), within a few seconds. */
  botAnswers: (kind: "qq" | "wechat") => Promise<true | undefined>;
}

const sh = (cmd: string) => execFileSync("sh", ["-c", cmd], { encoding: "utf8", timeout: 180_000 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function faultTests(ctx: FaultContext): void {
  const { s } = ctx;
  const rows: { fault: string; r: Recording; recovery: string }[] = [];
  const name = (svc: string) => `${s.namePrefix}-${svc}`;

  let unlimited = false;
  async function recordedRoom(): Promise<string> {
    if (!unlimited) {
      // The recording client sends 5 a second, beyond Synapse's per-user message limit (0.2/s,
      // burst 10): lifted for the owner with the admin API, on Synapse's loopback port.
      const me = json(await request({ ...ctx.nginx, path: "/_matrix/client/v3/account/whoami", headers: { Authorization: `Bearer ${ctx.token()}` } })).user_id;
      const o = await request({
        host: "127.0.0.1",
        port: s.synapse.hostPort,
        method: "POST",
        path: `/_synapse/admin/v1/users/${encodeURIComponent(me)}/override_ratelimit`,
        headers: { Authorization: `Bearer ${ctx.token()}` },
        body: JSON.stringify({ messages_per_second: 0, burst_count: 0 }),
      });
      assert.equal(o.status, 200, o.body.toString());
      unlimited = true;
    }
    const room = await request({ ...ctx.nginx, method: "POST", path: "/_matrix/client/v3/createRoom", headers: { Authorization: `Bearer ${ctx.token()}` }, body: JSON.stringify({ name: "faults" }) });
    assert.equal(room.status, 200, room.body.toString());
    return json(room).room_id;
  }

  /** Runs `fault` while the recorder sends; returns the recording once everything answers again. */
  async function underLoad(label: string, fault: (rec: Recorder) => Promise<void>, after?: () => Promise<void>): Promise<Recording> {
    const rec = new Recorder({ ...ctx.nginx, token: ctx.token(), roomId: await recordedRoom() });
    rec.start();
    try {
      await sleep(3000);
      rec.markFault();
      await fault(rec);
      rec.faultDone();
      const recovery = await rec.recovered(300_000);
      if (after) await after();
      await sleep(3000);
      await rec.stop();
      const r = await rec.verify();
      rows.push({ fault: label, r, recovery: `${recovery.toFixed(1)} s` });
      assert.ok(r.acknowledged.messages > 5, `the client kept sending: ${JSON.stringify(r)}`);
      assert.deepEqual(r.lost, [], `every acknowledged message and upload is found after: ${label}`);
      return r;
    } finally {
      await rec.stop();
    }
  }

  const bridgesAnswer = async () => {
    for (const kind of ["qq", "wechat"] as const) await poll(`the ${kind} bot to answer again`, 180_000, () => ctx.botAnswers(kind));
  };
  const synapseHealthy = () =>
    poll("Synapse to answer through nginx", 300_000, async () => ((await request({ ...ctx.nginx, path: "/_matrix/client/versions", timeoutMs: 5000 })).status === 200 ? true : undefined));

  test("fault: SIGKILL of Synapse while messages are sent; docker restarts it; nothing acknowledged is lost", async () => {
    await underLoad("Synapse killed (SIGKILL)", async () => {
      process.kill(Number(docker("inspect", "-f", "{{.State.Pid}}", name("synapse"))), "SIGKILL");
    });
  });

  test("fault: PostgreSQL restarted while the bridges run; Synapse and both bridges recover by themselves", async () => {
    await underLoad("PostgreSQL restarted", async () => {
      docker("restart", name("postgres"));
    }, bridgesAnswer);
  });

  test("fault: the Docker engine stopped and started (a reboot); every container comes back by itself", async () => {
    await underLoad(
      "Docker engine stopped and started",
      async () => {
        const pid = Number(sh("pidof dockerd").trim().split(/\s+/)[0]);
        process.kill(pid, "SIGTERM");
        await poll("dockerd to stop", 120_000, async () => {
          try {
            process.kill(pid, 0);
            return undefined;
          } catch {
            return true;
          }
        });
        const out = fs.openSync(`${ctx.e2eDir}/dockerd.log`, "a");
        const d = spawn("dockerd", [], { detached: true, stdio: ["ignore", out, out] });
        d.unref();
        // test/e2e/vps.sh stops the engine it started by this file: it is this one now.
        if (fs.existsSync(`${ctx.e2eDir}/dockerd.pid`)) fs.writeFileSync(`${ctx.e2eDir}/dockerd.pid`, `${d.pid}\n`);
        await poll("the Docker engine to answer", 120_000, async () => {
          try {
            docker("info", "--format", "{{.ServerVersion}}");
            return true;
          } catch {
            return undefined;
          }
        });
        await synapseHealthy();
      },
      async () => {
        await bridgesAnswer();
        const all = ["postgres", "synapse", "bridge-queue", "qq", "wechat", "watchdog"];
        const states = all.map((c) => `${c}:${docker("inspect", "-f", "{{.State.Status}}", name(c))}`);
        assert.deepEqual(states, all.map((c) => `${c}:running`));
      },
    );
  });

  test("fault: the media store's filesystem fills up: uploads fail with Synapse's JSON error, then work again", async () => {
    const store = `${docker("volume", "inspect", "-f", "{{.Mountpoint}}", `${s.namePrefix}-synapse-data`)}/media_store`;
    const saved = fs.mkdtempSync(`${ctx.e2eDir}/media-saved-`);
    const upload = (bytes: number) =>
      request({ ...ctx.nginx, method: "POST", path: "/_matrix/media/v3/upload?filename=full.bin", headers: { Authorization: `Bearer ${ctx.token()}`, "Content-Type": "application/octet-stream" }, body: Buffer.alloc(bytes, 7), timeoutMs: 30_000 });
    // A small filesystem over the media store, holding what was there; the container sees it after a restart.
    sh(`cp -a ${store}/. ${saved}/ && mount -t tmpfs -o size=160m,mode=0750 kit-e2e-media ${store} && cp -a ${saved}/. ${store}/ && chown 991:991 ${store}`);
    try {
      docker("restart", name("synapse"));
      await synapseHealthy();
      await underLoad("media store full, then freed", async () => {
        sh(`dd if=/dev/zero of=${store}/filler bs=1M 2>/dev/null || true`);
        const started = Date.now();
        const full = await upload(256 * 1024);
        const seconds = (Date.now() - started) / 1000;
        assert.ok(full.status >= 400, `an upload on a full disk fails (got ${full.status})`);
        assert.match(String(full.headers["content-type"]), /application\/json/, `Synapse's JSON error, not nginx's page: ${full.body.toString().slice(0, 200)}`);
        assert.ok(json(full).errcode, full.body.toString());
        ctx.summary.push(`media store full: upload answered ${full.status} ${json(full).errcode} "${json(full).error}" in ${seconds.toFixed(1)} s`);
        sh(`rm -f ${store}/filler`);
        const ok = await upload(256 * 1024);
        assert.equal(ok.status, 200, ok.body.toString());
      });
    } finally {
      // Back onto the volume itself, with what was uploaded meanwhile.
      docker("stop", name("synapse"));
      sh(`rm -f ${store}/filler && rm -rf ${saved} && mkdir ${saved} && cp -a ${store}/. ${saved}/ && umount ${store} && cp -a ${saved}/. ${store}/ && rm -rf ${saved}`);
      docker("start", name("synapse"));
      await synapseHealthy();
    }
  });

  test("faults: the table (acknowledged, found afterwards, lost, recovery)", () => {
    const line = (cells: string[]) => `  ${cells[0].padEnd(36)}${cells.slice(1).map((c) => c.padStart(14)).join("")}`;
    ctx.summary.push(
      "",
      "faults (recording client through nginx; messages + uploads):",
      line(["fault", "acknowledged", "found after", "lost", "recovery"]),
      ...rows.map(({ fault, r, recovery }) =>
        line([fault, `${r.acknowledged.messages}+${r.acknowledged.uploads}`, `${r.found.messages}+${r.found.uploads}`, String(r.lost.length), recovery]),
      ),
    );
    assert.equal(rows.length, 4, "every fault ran");
  });
}
