/**
 * The host script that installs the nginx site, run for real against a private
 * nginx (its own prefix, pid and conf.d in a temp dir, on a free loopback port):
 * a good site goes live; a site that fails `nginx -t` fails the update with
 * nginx's message while the previous site keeps running; destroy removes it.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { validate } from "../../infra/config";
import { installNginxSiteScript, removeNginxSiteScript } from "../../infra/render/host";
import { nginxSitePath, renderNginxSite } from "../../infra/render/nginx";
import type { Settings } from "../../infra/settings";
import { freePort, json, request } from "../harness/http";

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "kit-nginx-script-"));

function sh(script: string, stdin = ""): { status: number | null; stderr: string } {
  const r = spawnSync("/bin/sh", ["-c", script], { input: stdin, encoding: "utf8" });
  return { status: r.status, stderr: r.stderr };
}

describe("the nginx site script against a real nginx", () => {
  let s: Settings;
  let port: number;
  const nginx = (args: string) => `nginx -c ${TMP}/nginx.conf -p ${TMP} ${args}`;

  before(async () => {
    port = await freePort();
    fs.mkdirSync(`${TMP}/conf.d`);
    fs.mkdirSync(`${TMP}/logs`);
    fs.writeFileSync(
      `${TMP}/nginx.conf`,
      `pid ${TMP}/nginx.pid;\nerror_log ${TMP}/logs/error.log;\nevents {}\nhttp {\n  access_log off;\n  client_body_temp_path ${TMP}/body;\n  include ${TMP}/conf.d/*.conf;\n}\n`,
    );
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
    // The IPv6 listen lines are dropped: only the loopback port is ours here.
    const site = renderNginxSite(s).replace(/^\s*listen \[::\].*\n/gm, "").replace(/listen (\d+);/g, "listen 127.0.0.1:$1;");
    const r = sh(installNginxSiteScript(s), site);
    assert.equal(r.status, 0, r.stderr);
    await new Promise((res) => setTimeout(res, 500));
    const wk = await request({ host: s.domain, port, path: "/.well-known/matrix/client" });
    assert.equal(wk.status, 200);
    assert.deepEqual(json(wk), { "m.homeserver": { base_url: `http://matrix.script.localhost:${port}` } });
  });

  test("a site nginx rejects fails the update with nginx's message and the previous site keeps running", async () => {
    const before = fs.readFileSync(nginxSitePath(s), "utf8");
    const r = sh(installNginxSiteScript(s), `${before}\nserver { bogus_directive on; }\n`);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /previous configuration keeps running/);
    assert.match(r.stderr, /unknown directive "bogus_directive"/);
    assert.equal(fs.readFileSync(nginxSitePath(s), "utf8"), before, "the old file is back");
    assert.equal(fs.readdirSync(`${TMP}/conf.d`).filter((f) => f.includes("kit-previous")).length, 0);
    assert.equal((await request({ host: s.domain, port, path: "/.well-known/matrix/client" })).status, 200);
    assert.equal(sh(nginx("-t")).status, 0);
  });

  test("destroy removes the site, tests and reloads", async () => {
    const r = sh(removeNginxSiteScript(s));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fs.existsSync(nginxSitePath(s)), false);
    await new Promise((res) => setTimeout(res, 500));
    await assert.rejects(request({ host: s.domain, port, path: "/.well-known/matrix/client" }), /ECONNREFUSED/);
  });
});
