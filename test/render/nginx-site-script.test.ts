/**
 * The host script that installs the nginx site, run for real against a private
 * nginx (its own prefix, pid and conf.d in a temp dir, on a free loopback port):
 * a good site goes live; a site that fails `nginx -t` fails the update with
 * nginx's message (file and line) while the previous site keeps serving every
 * probe of a client; destroy removes it.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import * as net from "node:net";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { validate } from "../../infra/config";
import { installNginxSiteScript, removeNginxSiteScript } from "../../infra/render/host";
import { nginxSitePath, renderNginxSite } from "../../infra/render/nginx";
import type { Settings } from "../../infra/settings";
import { freePort, json, request } from "../harness/http";
import { privateNginxConf } from "../harness/private-nginx";
import { startProber } from "../harness/prober";

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "kit-nginx-script-"));

function sh(script: string, stdin = ""): { status: number | null; stderr: string } {
  const r = spawnSync("/bin/sh", ["-c", script], { input: stdin, encoding: "utf8" });
  return { status: r.status, stderr: r.stderr };
}

/** As sh(), without blocking the event loop (a client probes meanwhile). */
function shAsync(script: string, stdin: string): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/sh", ["-c", script], { stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stderr }));
    child.stdin.end(stdin);
  });
}

/** The rendered site without its IPv6 listen lines and on loopback: only the loopback port is ours here. */
const localSite = (s: Settings) => renderNginxSite(s).replace(/^\s*listen \[::\].*\n/gm, "").replace(/listen (\d+);/g, "listen 127.0.0.1:$1;");

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

describe("the nginx site script against a real nginx", () => {
  let s: Settings;
  let port: number;
  const nginx = (args: string) => `nginx -c ${TMP}/nginx.conf -p ${TMP} ${args}`;

  before(async () => {
    port = await freePort();
    fs.mkdirSync(`${TMP}/conf.d`);
    fs.mkdirSync(`${TMP}/logs`);
    privateNginxConf(TMP, `${TMP}/conf.d/*.conf`);
    const v = validate(
      "script",
      {
        values: {
          "matrix:domain": "script.localhost",
          "matrix:target": { kind: "local" },
          "matrix:secretSeed": { secure: "x" },
          // The kit's commands are settings: here they address the private nginx.
          "matrix:nginx": { siteDir: `${TMP}/conf.d`, httpPort: port, testCommand: nginx("-t"), reloadCommand: nginx("-s reload") },
        },
        secretKeys: new Set(["matrix:secretSeed"]),
      },
    );
    assert.ok(v.ok, v.ok ? "" : v.errors.join("\n"));
    s = v.settings;
    // nginx wants at least one server block to start with.
    fs.writeFileSync(`${TMP}/conf.d/00-other.conf`, `server { listen 127.0.0.1:${await freePort()}; return 200 "other\\n"; }\n`);
    const started = sh(nginx(""));
    assert.equal(started.status, 0, started.stderr);
  });

  after(() => {
    sh(nginx("-s stop"));
    fs.rmSync(TMP, { recursive: true, force: true });
  });

  test("a good site is tested, installed and served after the reload", async () => {
    const r = sh(installNginxSiteScript(s), localSite(s));
    assert.equal(r.status, 0, r.stderr);
    await sleep(500);
    const wk = await request({ host: s.domain, port, path: "/.well-known/matrix/client" });
    assert.equal(wk.status, 200);
    assert.deepEqual(json(wk), { "m.homeserver": { base_url: `http://matrix.script.localhost:${port}` } });
  });

  test("a site nginx rejects fails the update with nginx's message naming file and line; a client probing every 100 ms sees no error", async (t) => {
    // The site as the e2e's matrix:testOnly.failNginxTest renders it (the same in the e2e).
    const before = fs.readFileSync(nginxSitePath(s), "utf8");
    const broken = localSite({ ...s, testOnly: { failNginxTest: true } });
    const badLine = broken.split("\n").indexOf("    kit_test_only_unknown_directive on;") + 1;
    assert.ok(badLine > 0);
    // A host with many sites tests slowly: the slow test keeps the broken file in place while the probes run.
    const slow: Settings = { ...s, nginx: { ...s.nginx, testCommand: `sleep 1.5; ${nginx("-t")}` } };
    const expected = JSON.stringify({ "m.homeserver": { base_url: `http://matrix.script.localhost:${port}` } });
    const prober = startProber({ host: s.domain, port, path: "/.well-known/matrix/client", bodyIncludes: expected });
    const r = await prober.watch(() => shAsync(installNginxSiteScript(slow), broken));
    const probes = await prober.stop();

    t.diagnostic(`${probes.total} probes, ${probes.duringWork} during the ${probes.workMs} ms failed update (longest gap ${probes.longestGapMs} ms); the update said: ${r.stderr.trim()}`);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /previous configuration keeps running/);
    assert.ok(r.stderr.includes(`unknown directive "kit_test_only_unknown_directive" in ${nginxSitePath(s)}:${badLine}`), r.stderr);
    assert.equal(fs.readFileSync(nginxSitePath(s), "utf8"), before, "the old file is back");
    assert.equal(fs.readdirSync(`${TMP}/conf.d`).filter((f) => f.includes("kit-previous")).length, 0);
    assert.ok(probes.duringWork >= 10 && probes.longestGapMs <= 400, `${probes.duringWork} probes during the update, longest gap ${probes.longestGapMs} ms`);
    assert.deepEqual(probes.failures, [], `${probes.total} probes`);
    assert.equal(sh(nginx("-t")).status, 0);
  });

  test("a site nginx tests well but cannot load (its port held by another process): the update fails saying so, the previous file is back and keeps serving", async () => {
    const before = fs.readFileSync(nginxSitePath(s), "utf8");
    // `nginx -t` never binds: only the reload finds the port taken, logs it and keeps the old workers.
    const holder = net.createServer().listen(0, "127.0.0.1");
    await once(holder, "listening");
    const taken = (holder.address() as net.AddressInfo).port;
    try {
      const r = sh(installNginxSiteScript(s), localSite({ ...s, nginx: { ...s.nginx, httpPort: taken } }));
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /^nginx did not take the new site .*: its reload failed after the test passed \(most often another process holds a port the site listens on\), and the previous configuration keeps running/m);
      assert.equal(fs.readFileSync(nginxSitePath(s), "utf8"), before, "the old file is back");
      const wk = await request({ host: s.domain, port, path: "/.well-known/matrix/client" });
      assert.equal(wk.status, 200, "the previous site still serves");
    } finally {
      holder.close();
    }
  });

  test("destroy removes the site, tests and reloads", async () => {
    const r = sh(removeNginxSiteScript(s));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fs.existsSync(nginxSitePath(s)), false);
    await sleep(500);
    await assert.rejects(request({ host: s.domain, port, path: "/.well-known/matrix/client" }), /ECONNREFUSED/);
  });
});
