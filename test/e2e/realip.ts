/**
 * Real client addresses on the e2e deployment registered inside the e2e
 * suite's describe. The stand-in for Cloudflare's edge is this test's own HTTP client connecting
 * from 127.0.0.2 (Linux lets a socket bind any 127.0.0.0/8 address), the one sender the e2e stack
 * trusts (matrix:nginx.trustedProxies), passing each client's address in CF-Connecting-IP as the
 * edge does. Against the real Synapse: its per-address login limit (rc_login.address, Synapse's
 * default burst of 5: the e2e stack sets none) counts each client separately, and a sender
 * outside the trusted ranges cannot borrow another client's address. The admin API (point 5) is
 * proxied for matrix:nginx.adminApiFrom's clients alone, judged by that same real address.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomInt } from "node:crypto";
import { test } from "node:test";
import type { Settings } from "../../infra/settings";
import { json, request } from "../harness/http";

export interface RealIpContext {
  s: Settings;
  nginx: { host: string; port: number };
  summary: string[];
}

const FRONT = "127.0.0.2";
const FORGER = "127.0.0.3";

export function realIpTests(ctx: RealIpContext): void {
  const { s } = ctx;
  /** A password login of a user that does not exist, sent from `from`, for `client` when given. */
  const login = (from: string, user: string, client?: string) =>
    request({
      ...ctx.nginx,
      method: "POST",
      path: "/_matrix/client/v3/login",
      localAddress: from,
      headers: { "Content-Type": "application/json", ...(client ? { "CF-Connecting-IP": client } : {}) },
      body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user }, password: "not-the-password" }),
      timeoutMs: 30_000,
    });

  test("real client addresses: two clients behind the stand-in CDN front are rate-limited separately by Synapse; a forged CF-Connecting-IP from outside the front is not believed", async () => {
    assert.deepEqual(s.nginx.trustedProxies, [`${FRONT}/32`], "the e2e stack trusts the stand-in front alone");
    const since = new Date().toISOString();
    // Documentation addresses, new each run; each attempt names another user, so only the
    // per-address limit (not the per-account failed-attempts one) can answer 429.
    const hammering = `198.51.100.${randomInt(1, 255)}`;
    const other = `203.0.113.${randomInt(1, 255)}`;
    let attempts = 0;
    let status = 0;
    while (status !== 429 && attempts < 10) status = (await login(FRONT, `nobody-a${++attempts}`, hammering)).status;
    assert.equal(status, 429, `client ${hammering} was never limited in ${attempts} logins`);
    assert.ok(attempts <= 6, `limited after ${attempts} logins: rc_login.address's burst is 5`);
    // The other client, behind the same front at the same moment, has its own allowance.
    const b = await login(FRONT, "nobody-b", other);
    assert.equal(b.status, 403, b.body.toString());
    assert.equal(json(b).errcode, "M_FORBIDDEN");
    // A sender outside the trusted ranges claiming the limited client's address is itself (not limited).
    const forged = await login(FORGER, "nobody-forged", hammering);
    assert.equal(forged.status, 403, forged.body.toString());
    // And the limited client still is: the limit was its own.
    assert.equal((await login(FRONT, "nobody-a-again", hammering)).status, 429);
    // Synapse's access log names each client, not the front (the addresses its logs and limits see).
    const logs = spawnSync("docker", ["logs", "--since", since, `${s.namePrefix}-synapse`], { encoding: "utf8" });
    const loggedFrom = (who: string) => new RegExp(`^\\S.* - ${who.replace(/\./g, "\\.")} - .*Processed request: .*"POST /_matrix/client/v3/login`, "m").test(logs.stdout + logs.stderr);
    for (const who of [hammering, other, FORGER]) assert.ok(loggedFrom(who), `Synapse's access log has a login from ${who}`);
    assert.ok(!loggedFrom(FRONT), "no login is logged as coming from the front");
    ctx.summary.push(`real client addresses: ${hammering} limited (429) after ${attempts} logins through the front; ${other} through the same front: 403 (not limited); ${FORGER} forging ${hammering}: 403 (seen as itself)`);
  });

  test("the admin API through the site: answered for a client in matrix:nginx.adminApiFrom behind the front; 403 for a client outside it, for one forging a listed address, and for a direct connection", async () => {
    assert.deepEqual(s.nginx.adminApiFrom, ["192.0.2.0/24"], "the e2e stack lists one documentation range");
    const listed = `192.0.2.${randomInt(1, 255)}`;
    const admin = (from: string, client?: string) =>
      request({ ...ctx.nginx, path: "/_synapse/admin/v1/server_version", localAddress: from, headers: client ? { "CF-Connecting-IP": client } : {}, timeoutMs: 30_000 });
    const allowed = await admin(FRONT, listed);
    assert.equal(allowed.status, 200, allowed.body.toString());
    assert.equal(typeof json(allowed).server_version, "string", "Synapse itself answered");
    const refused = {
      [`${FRONT} for 203.0.113.7`]: await admin(FRONT, "203.0.113.7"),
      [`${FORGER} forging ${listed}`]: await admin(FORGER, listed),
      "127.0.0.1 (no front)": await admin("127.0.0.1"),
    };
    for (const [who, a] of Object.entries(refused)) {
      assert.equal(a.status, 403, `${who}: ${a.status} ${a.body.toString()}`);
      assert.match(a.body.toString(), /<center>nginx(\/[0-9.]+)?<\/center>/, `${who}: nginx's own 403, Synapse never asked`);
    }
    ctx.summary.push(`admin API through the site: ${listed} behind the front 200 (Synapse's server_version); ${Object.keys(refused).join(", ")}: 403 from nginx`);
  });
}
