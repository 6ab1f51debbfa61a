/**
 * Real client addresses and the admin API against a REAL private nginx (its own prefix and pid in a temp dir, on a
 * free loopback port) serving the kit's rendered site, in front of a tiny upstream standing in for
 * Synapse that echoes the X-Forwarded-For it receives (what Synapse's x_forwarded listener takes as
 * the client). Senders are told apart by their source address: Linux lets a socket bind any
 * 127.0.0.0/8 address, so 127.0.0.2 plays the trusted CDN front (Cloudflare's edge), 127.0.0.3 a
 * client connecting directly that forges CF-Connecting-IP, 127.0.0.4 an admin's address.
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
import { freePort, json, request } from "../harness/http";
import { privateNginxConf } from "../harness/private-nginx";

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "kit-nginx-realip-"));
const FRONT = "127.0.0.2";
const FORGER = "127.0.0.3";
const ADMIN = "127.0.0.4";

describe("client addresses and the admin API through a real nginx", () => {
  let port: number;
  let upstream: http.Server;
  /** The kit's site with the settings, and one with the defaults (Cloudflare off). */
  let behind: Settings;
  let plain: Settings;
  const nginx = (args: string) => spawnSync("/bin/sh", ["-c", `nginx -c ${TMP}/nginx.conf -p ${TMP} ${args}`], { encoding: "utf8" });

  function settings(stack: string, domain: string, upstreamPort: number, nginxExtra: Record<string, unknown>): Settings {
    const v = validate(stack, {
      values: {
        "matrix:domain": domain,
        "matrix:target": { kind: "local" },
        "matrix:secretSeed": { secure: "x" },
        "matrix:nginx": { siteDir: `${TMP}/conf.d`, httpPort: port, ...nginxExtra },
        "matrix:synapse": { hostPort: upstreamPort },
      },
      secretKeys: new Set(["matrix:secretSeed"]),
    });
    assert.ok(v.ok, v.ok ? "" : v.errors.join("\n"));
    return v.settings;
  }

  /** What Synapse would be told about the client: the X-Forwarded-For it gets, or the status when nginx answers itself. */
  async function seen(s: Settings, from: string, urlPath: string, headers: Record<string, string> = {}): Promise<string> {
    const a = await request({ host: s.matrixHost, port, path: urlPath, headers, localAddress: from });
    return a.status === 200 ? `${json(a).path} from ${json(a).xForwardedFor}` : `HTTP ${a.status}`;
  }

  before(async () => {
    port = await freePort();
    const upstreamPort = await freePort();
    upstream = http.createServer((req, res) => {
      res.setHeader("Content-Type", "application/json");
      res.end(JSON.stringify({ path: req.url, xForwardedFor: req.headers["x-forwarded-for"] ?? null }));
    });
    await new Promise<void>((resolve) => upstream.listen(upstreamPort, "127.0.0.1", resolve));
    behind = settings("realip", "realip.localhost", upstreamPort, { trustedProxies: [`${FRONT}/32`], adminApiFrom: ["198.51.100.0/24", `${ADMIN}/32`] });
    plain = settings("plain", "plain.localhost", upstreamPort, {});
    fs.mkdirSync(`${TMP}/conf.d`);
    fs.mkdirSync(`${TMP}/logs`);
    privateNginxConf(TMP, `${TMP}/conf.d/*.conf`);
    for (const s of [behind, plain]) {
      // Only the loopback port is ours here: the IPv6 and any-address listen lines are narrowed.
      const site = renderNginxSite(s).replace(/^\s*listen \[::\].*\n/gm, "").replace(/listen (\d+);/g, "listen 127.0.0.1:$1;");
      fs.writeFileSync(nginxSitePath(s), site);
    }
    const started = nginx("");
    assert.equal(started.status, 0, started.stderr);
  });

  after(async () => {
    nginx("-s stop");
    await new Promise((resolve) => upstream.close(resolve));
    fs.rmSync(TMP, { recursive: true, force: true });
  });

  test("two clients behind the trusted front: Synapse gets each one's own address (IPv4 and IPv6), not the front's, whatever X-Forwarded-For the client sent", async () => {
    const v = "/_matrix/client/versions";
    assert.equal(await seen(behind, FRONT, v, { "CF-Connecting-IP": "198.51.100.7" }), `${v} from 198.51.100.7`);
    assert.equal(await seen(behind, FRONT, v, { "CF-Connecting-IP": "2001:db8::9" }), `${v} from 2001:db8::9`);
    // Synapse takes the first X-Forwarded-For entry: nginx must replace a client's, never append to it.
    assert.equal(await seen(behind, FRONT, v, { "CF-Connecting-IP": "203.0.113.5", "X-Forwarded-For": "192.0.2.66" }), `${v} from 203.0.113.5`);
    // The front's own requests, without the header, stay its own.
    assert.equal(await seen(behind, FRONT, v), `${v} from ${FRONT}`);
  });

  test("a sender outside the trusted ranges that sends its own CF-Connecting-IP (and X-Forwarded-For) is not believed", async () => {
    const v = "/_matrix/client/versions";
    assert.equal(await seen(behind, FORGER, v, { "CF-Connecting-IP": "198.51.100.7", "X-Forwarded-For": "198.51.100.7" }), `${v} from ${FORGER}`);
  });

  test("by default, without Cloudflare's proxy, nobody's CF-Connecting-IP is believed, the front's neither", async () => {
    const v = "/_matrix/client/versions";
    assert.deepEqual(plain.nginx.trustedProxies, []);
    assert.equal(await seen(plain, FRONT, v, { "CF-Connecting-IP": "198.51.100.7" }), `${v} from ${FRONT}`);
  });

  test("the admin API answers only the listed client addresses, judged on the real client address", async () => {
    const admin = "/_synapse/admin/v1/server_version";
    // Behind the front: a listed client gets through (with its address), an unlisted one is refused.
    assert.equal(await seen(behind, FRONT, admin, { "CF-Connecting-IP": "198.51.100.7" }), `${admin} from 198.51.100.7`);
    assert.equal(await seen(behind, FRONT, admin, { "CF-Connecting-IP": "203.0.113.5" }), "HTTP 403");
    // The front itself is not listed: trusting a sender's header does not admit the sender.
    assert.equal(await seen(behind, FRONT, admin), "HTTP 403");
    // A listed address connecting directly gets through; a forger claiming a listed address does not.
    assert.equal(await seen(behind, ADMIN, admin), `${admin} from ${ADMIN}`);
    assert.equal(await seen(behind, FORGER, admin, { "CF-Connecting-IP": "198.51.100.7" }), "HTTP 403");
  });

  test("by default the admin API is not proxied at all, from any address", async () => {
    const admin = "/_synapse/admin/v1/server_version";
    assert.deepEqual(plain.nginx.adminApiFrom, []);
    for (const from of [ADMIN, FRONT, "127.0.0.1"]) assert.equal(await seen(plain, from, admin, { "CF-Connecting-IP": "198.51.100.7" }), "HTTP 404", from);
  });
});
