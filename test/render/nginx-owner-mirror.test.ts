/**
 * How the bridges' queue hears of the owner, against a REAL private nginx serving the kit's rendered
 * site: each client request is proxied to (a stand-in) Synapse as before, and a copy of its head goes
 * to (a stand-in for) the queue's "owner" frontend; /sync long-polls and other servers' requests
 * send none; the request itself neither waits for the copy nor fails when the queue is down; and
 * without bridgeQueue.ownerActiveSeconds the site has no mirror at all.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { validate } from "../../infra/config";
import { nginxSitePath, renderNginxSite } from "../../infra/render/nginx";
import type { Settings } from "../../infra/settings";
import { freePort, request } from "../harness/http";
import { privateNginxConf } from "../harness/private-nginx";

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "kit-nginx-owner-"));

describe("the owner's requests announced to the bridges' queue, through a real nginx", () => {
  let port: number;
  let ownerPort: number;
  let s: Settings;
  let synapse: http.Server;
  let queue: http.Server | undefined;
  const heard: { method: string; url: string; body: number; authorization: string | null }[] = [];
  let connections = 0;
  const reached: string[] = [];
  const nginx = (args: string) => spawnSync("/bin/sh", ["-c", `nginx -c ${TMP}/nginx.conf -p ${TMP} ${args}`], { encoding: "utf8" });

  const listen = (server: http.Server, p: number) => new Promise<void>((resolve) => server.listen(p, "127.0.0.1", resolve));
  const startQueue = async () => {
    queue = http.createServer((req, res) => {
      let body = 0;
      req.on("data", (c: Buffer) => (body += c.length));
      req.on("end", () => {
        heard.push({ method: req.method ?? "", url: req.url ?? "", body, authorization: req.headers.authorization ?? null });
        res.writeHead(204).end();
      });
    });
    queue.on("connection", () => connections++);
    await listen(queue, ownerPort);
  };
  const send = (method: string, urlPath: string, body?: string) =>
    request({ host: s.matrixHost, port, method, path: urlPath, body, headers: { Authorization: "Bearer owner-token", ...(body ? { "Content-Type": "application/json" } : {}) } });
  const settle = () => new Promise((r) => setTimeout(r, 200));

  before(async () => {
    port = await freePort();
    ownerPort = await freePort();
    const synapsePort = await freePort();
    synapse = http.createServer((req, res) => {
      reached.push(`${req.method} ${req.url}`);
      req.resume();
      req.on("end", () => res.writeHead(200, { "Content-Type": "application/json" }).end("{}"));
    });
    await listen(synapse, synapsePort);
    await startQueue();
    const v = validate("owner", {
      values: {
        "matrix:domain": "owner.localhost",
        "matrix:target": { kind: "local" },
        "matrix:secretSeed": { secure: "x" },
        "matrix:nginx": { siteDir: `${TMP}/conf.d`, httpPort: port },
        "matrix:synapse": { hostPort: synapsePort },
        "matrix:bridgeQueue": { ownerActiveSeconds: 30, hostPort: ownerPort },
      },
      secretKeys: new Set(["matrix:secretSeed"]),
    });
    assert.ok(v.ok, v.ok ? "" : v.errors.join("\n"));
    s = v.settings;
    fs.mkdirSync(`${TMP}/conf.d`);
    fs.mkdirSync(`${TMP}/logs`);
    privateNginxConf(TMP, `${TMP}/conf.d/*.conf`);
    fs.writeFileSync(nginxSitePath(s), renderNginxSite(s).replace(/^\s*listen \[::\].*\n/gm, "").replace(/listen (\d+);/g, "listen 127.0.0.1:$1;"));
    const started = nginx("");
    assert.equal(started.status, 0, started.stderr);
  });

  after(async () => {
    nginx("-s stop");
    await new Promise((resolve) => synapse.close(resolve));
    if (queue) await new Promise((resolve) => queue!.close(resolve));
    fs.rmSync(TMP, { recursive: true, force: true });
  });

  test("a client request reaches Synapse, and its request line (not its access token, not its body) reaches the queue", async () => {
    heard.length = 0;
    const a = await send("PUT", "/_matrix/client/v3/rooms/!r:owner.localhost/send/m.room.message/t1", JSON.stringify({ body: "x".repeat(5000) }));
    assert.equal(a.status, 200);
    await settle();
    assert.ok(reached.includes("PUT /_matrix/client/v3/rooms/!r:owner.localhost/send/m.room.message/t1"));
    assert.deepEqual(heard, [{ method: "PUT", url: "/_kit_owner_active", body: 0, authorization: null }]);
  });

  test("/sync long-polls and other servers' requests reach Synapse and are not announced", async () => {
    heard.length = 0;
    for (const p of ["/_matrix/client/v3/sync?timeout=30000", "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync", "/_matrix/federation/v1/version", "/_matrix/key/v2/server"]) {
      assert.equal((await send("GET", p)).status, 200, p);
    }
    await settle();
    assert.deepEqual(heard, []);
  });

  test("notices share kept-alive connections: ten requests, at most one new connection", async () => {
    heard.length = 0;
    connections = 0;
    for (let i = 0; i < 10; i++) assert.equal((await send("GET", `/_matrix/client/v3/rooms/!r:owner.localhost/messages?i=${i}`)).status, 200);
    await settle();
    assert.equal(heard.length, 10);
    assert.ok(connections <= 1, `${connections} connections for 10 notices`);
  });

  test("with the queue down, the client's request is answered all the same, and quickly", async () => {
    await new Promise((resolve) => queue!.close(resolve));
    queue = undefined;
    const t0 = Date.now();
    assert.equal((await send("GET", "/_matrix/client/v3/profile/@owner:owner.localhost")).status, 200);
    assert.ok(Date.now() - t0 < 500, `${Date.now() - t0} ms`);
    await startQueue();
    // Back at once: the next notice reaches the new queue.
    heard.length = 0;
    assert.equal((await send("GET", "/_matrix/client/v3/profile/@owner:owner.localhost")).status, 200);
    await settle();
    assert.equal(heard.length, 1);
  });

  test("without ownerActiveSeconds the site mirrors nothing", () => {
    const v = validate("plain", { values: { "matrix:domain": "plain.localhost", "matrix:target": { kind: "local" }, "matrix:secretSeed": { secure: "x" }, "matrix:bridgeQueue": { ownerActiveSeconds: null } }, secretKeys: new Set(["matrix:secretSeed"]) });
    assert.ok(v.ok);
    assert.doesNotMatch(renderNginxSite(v.settings), /mirror/);
  });
});
