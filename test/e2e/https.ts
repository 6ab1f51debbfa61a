/**
 * HTTPS with no hand step, on the e2e's VPS (this machine), each source in an update of its own and
 * back to the stack's settings (plain HTTP behind the TLS front):
 *   - Cloudflare's origin certificate with authenticated origin pulls: the certificate comes from a
 *     stand-in for Cloudflare's Origin CA (test/harness/computed.ts: no Cloudflare API here), the
 *     client certificate Cloudflare's edge presents from a stand-in for its origin-pull CA
 *     (test/e2e/vps.sh). Real nginx serves the site: the edge's stand-in (checking the origin's
 *     certificate as Full (strict) does, and presenting its client certificate) gets through, a
 *     direct client without one is refused, and `npm run verify` says which it met.
 *   - ACME against Pebble, Let's Encrypt's test CA (built from the Go module proxy by vps.sh), the
 *     run's names resolved to this machine by Pebble's DNS stand-in (pebble-challtestsrv), with
 *     Debian's real certbot: the first certificate through host nginx's HTTP-01 location, nginx
 *     serving Pebble's chain, a forced renewal serving a new one, then a failed challenge (the DNS
 *     stand-in answers SERVFAIL) that leaves the certificate in place serving, which
 *     `npm run status` and the watchdog tell.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as https from "node:https";
import { test } from "node:test";
import * as tls from "node:tls";
import { readStackFile, stackFilePath } from "../../infra/config/load";
import { acmePaths } from "../../infra/render/acme";
import type { Settings } from "../../infra/settings";
import { request } from "../harness/http";
import { docker, poll } from "../harness/wait";
import { operatorCommand, ownerStackDir } from "./kit-context";

export interface HttpsContext {
  s: Settings;
  e2eDir: string;
  hostKey: string;
  summary: string[];
  /** A `pulumi up` of the run's stack with these values over it; {} puts the stack's own back. */
  update: (values: Record<string, unknown>) => Promise<string[]>;
  /** The Cloudflare resources the last apply or update recorded (no API here). */
  cloudflare: () => { type: string; name: string; inputs: Record<string, any> }[];
}

/** nginx's TLS port in these steps (the TLS front of test/e2e/verify.ts has 8443). */
const TLS_PORT = 8444;
const ORIGIN_CA = () => `${process.env.KIT_ORIGIN_CA_DIR}/ca.pem`;

interface Served {
  status: number;
  body: string;
  serial: string;
  issuer: string;
  authorized: boolean;
  authorizationError?: string;
}

/** A GET to nginx's TLS port as `matrix.<domain>`, trusting `ca`, presenting `client` when given. */
function get(s: Settings, path: string, ca: string, client?: { cert: string; key: string }): Promise<Served> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: "127.0.0.1", port: TLS_PORT, servername: s.matrixHost, path, headers: { Host: s.matrixHost }, ca, ...(client ?? {}), rejectUnauthorized: false, agent: false },
      (res) => {
        const socket = res.socket as tls.TLSSocket;
        const peer = socket.getPeerCertificate();
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body, serial: peer.serialNumber, issuer: `${peer.issuer.O ?? ""} ${peer.issuer.CN ?? ""}`.trim(), authorized: socket.authorized, authorizationError: socket.authorizationError ? String(socket.authorizationError) : undefined }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

export function httpsTests(ctx: HttpsContext): void {
  const { s } = ctx;
  const tlsDir = `${ctx.e2eDir}/tls`;
  const read = (f: string) => fs.readFileSync(f, "utf8");
  const stackValue = (key: string) => readStackFile(stackFilePath(s.stack)).values[key] as Record<string, unknown>;
  const nginx = (tlsSettings: Record<string, unknown>) => ({ "matrix:nginx": { ...stackValue("matrix:nginx"), tls: tlsSettings } });

  test("HTTPS from Cloudflare's Origin CA (a stand-in) with authenticated origin pulls: Full (strict) accepts the origin's certificate, Cloudflare's edge (a stand-in) gets through, a direct client is refused, verify says which it met", async () => {
    const values = { ...nginx({ source: "cloudflare", port: TLS_PORT }), "matrix:testOnly": { originPullCa: read(`${tlsDir}/origin-pull/ca.pem`) } };
    await ctx.update(values);
    try {
      const recorded = ctx.cloudflare();
      const certificate = recorded.find((r) => r.type === "cloudflare:index/originCaCertificate:OriginCaCertificate");
      assert.deepEqual(certificate && { ...certificate.inputs, csr: "(the request)" }, { csr: "(the request)", hostnames: [s.matrixHost], requestType: "origin-ecc", requestedValidity: 365 });
      const zone = recorded.filter((r) => r.type === "cloudflare:index/zoneSetting:ZoneSetting").map((r) => `${r.inputs.settingId}=${r.inputs.value}`);
      assert.deepEqual(zone, ["ssl=strict", "tls_client_auth=on"]);
      const tlsFiles = `${s.hostDir}/tls`;
      for (const [file, mode] of [["certificate.key", 0o600], ["certificate.pem", 0o644], ["origin-pull-ca.pem", 0o644]] as const) {
        const st = fs.statSync(`${tlsFiles}/${file}`);
        assert.deepEqual([st.mode & 0o777, st.uid], [mode, 0], file);
      }

      // Cloudflare's edge in Full (strict): the origin's certificate checked against the Origin CA, its client certificate presented.
      const edge = await get(s, "/_matrix/client/versions", read(ORIGIN_CA()), { cert: read(`${tlsDir}/origin-pull/edge.pem`), key: read(`${tlsDir}/origin-pull/edge.key`) });
      assert.deepEqual([edge.status, edge.authorized], [200, true], `${edge.status} ${edge.authorizationError} ${edge.body}`);
      assert.match(edge.body, /"versions"/);
      const direct = await get(s, "/_matrix/client/versions", read(ORIGIN_CA()));
      assert.equal(direct.status, 400);
      assert.match(direct.body, /No required SSL certificate was sent/);

      const dir = ownerStackDir(ctx, s.stack, "https-origin", values);
      const verify = (...extra: string[]) => operatorCommand("verify", s.stack, dir, ["--only", "origin", "--origin-ca-file", ORIGIN_CA(), ...extra], 60_000);
      const bare = verify();
      assert.equal(bare.status, 0, bare.stdout + bare.stderr);
      assert.match(bare.stdout, /^origin refuses clients other than Cloudflare +PASS +a direct client without Cloudflare's client certificate was refused \(HTTP 400 "No required SSL certificate was sent"\): only Cloudflare gets through$/m);
      assert.match(bare.stdout, /^origin certificate for Full \(strict\) +PASS +issued by .*for matrix\.e2e\.localhost, ends .*: from a trusted CA, Full \(strict\) accepts it$/m);
      const withEdge = verify("--client-cert", `${tlsDir}/origin-pull/edge.pem`, "--client-key", `${tlsDir}/origin-pull/edge.key`);
      assert.equal(withEdge.status, 0, withEdge.stdout + withEdge.stderr);
      assert.match(withEdge.stdout, /^origin lets the client certificate given in +PASS +a client presenting the certificate given \(--client-cert\) got HTTP 200$/m);
      ctx.summary.push(
        "",
        "HTTPS from Cloudflare's Origin CA (a stand-in), authenticated origin pulls on: Cloudflare's edge (a stand-in, Full (strict)) HTTP 200; a direct client HTTP 400 (No required SSL certificate was sent); npm run verify:",
        ...bare.stdout.split("\n").filter((l) => /^origin /.test(l)).map((l) => `  ${l}`),
        ...withEdge.stdout.split("\n").filter((l) => /^origin lets/.test(l)).map((l) => `  ${l}`),
      );
    } finally {
      await ctx.update({});
    }
    assert.equal(fs.existsSync(`${s.hostDir}/tls/certificate.key`), false, "destroyed with the step: the key left the VPS");
  });

  test("HTTPS from an ACME CA (Pebble, with Debian's certbot on the VPS): the first certificate through nginx's HTTP-01 location, a forced renewal, then a failed challenge that leaves the certificate in place serving; status and the watchdog say so", async () => {
    const procs: ChildProcess[] = [];
    const bin = process.env.PEBBLE_BIN;
    assert.ok(bin && fs.existsSync(`${bin}/pebble`), "Pebble is built by test/e2e/vps.sh ($PEBBLE_BIN)");
    const run = (name: string, args: string[], env: Record<string, string> = {}) => {
      const out = fs.openSync(`${ctx.e2eDir}/${name}.log`, "w");
      procs.push(spawn(`${bin}/${name}`, args, { stdio: ["ignore", out, out], env: { ...process.env, ...env } }));
    };
    // The run's names resolve to this machine; nothing else of the DNS stand-in is used.
    run("pebble-challtestsrv", ["-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", "-dnsserver", "127.0.0.1:8053", "-management", "127.0.0.1:8055", "-http01", "", "-https01", "", "-doh", "", "-tlsalpn01", ""]);
    const config = {
      pebble: {
        listenAddress: "127.0.0.1:14000",
        managementListenAddress: "127.0.0.1:15000",
        certificate: `${tlsDir}/pebble.pem`,
        privateKey: `${tlsDir}/pebble.key`,
        // HTTP-01 fetches the token from nginx's plain port, as Let's Encrypt fetches it from port 80.
        httpPort: s.nginx.httpPort,
        tlsPort: 5001,
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
        profiles: { default: { description: "the default profile", validityPeriod: 7776000 } },
      },
    };
    fs.writeFileSync(`${ctx.e2eDir}/pebble.json`, JSON.stringify(config));
    // Every order validated afresh (Pebble reuses half of the authorizations by default): the failed
    // challenge below must be asked, not skipped for one that passed a moment before.
    run("pebble", ["-config", `${ctx.e2eDir}/pebble.json`, "-dnsserver", "127.0.0.1:8053"], { PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0", PEBBLE_AUTHZREUSE: "0" });
    const runCa = read(`${tlsDir}/ca.pem`);
    const pebbleGet = (port: number, path: string) =>
      // Pebble refuses a request without a User-Agent ("All requests MUST include a User-Agent header").
      new Promise<string>((resolve, reject) => https.get({ host: "127.0.0.1", port, path, servername: "localhost", ca: runCa, headers: { "User-Agent": "matrix-kit-e2e" } }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${res.statusCode}`))));
      }).on("error", reject));
    const challtest = (what: string, body: unknown) => request({ host: "127.0.0.1", port: 8055, method: "POST", path: `/${what}`, body: JSON.stringify(body), timeoutMs: 10_000 });
    try {
      await poll("Pebble to answer", 30_000, () => pebbleGet(14000, "/dir").then(() => true, () => undefined), 250);
      const values = {
        ...nginx({ source: "acme", port: TLS_PORT }),
        // Behind Cloudflare an ACME certificate works too; the origin-pulls step is the previous test's.
        "matrix:cloudflare": { ...stackValue("matrix:cloudflare"), authenticatedOriginPulls: false },
        "matrix:acme": { directoryUrl: "https://localhost:14000/dir", caBundle: `${tlsDir}/ca.pem` },
      };
      const t0 = Date.now();
      await ctx.update(values);
      const issuedIn = (Date.now() - t0) / 1000;
      const root = await pebbleGet(15000, "/roots/0");
      const first = await get(s, "/_matrix/client/versions", root);
      assert.deepEqual([first.status, first.authorized], [200, true], `${first.authorizationError}: nginx serves Pebble's chain`);
      assert.match(first.issuer, /Pebble Intermediate CA/);
      const p = acmePaths(s);
      assert.equal(JSON.parse(read(p.statusFile)).ok, true);

      const renewed = execFileSync(p.script, ["renew", "--force"], { encoding: "utf8", timeout: 180_000 });
      assert.match(renewed, /^certificate: new certificate in place until .*; nginx reloaded$/m);
      // `nginx -s reload` returns once the signal is sent: the new workers take over a moment later.
      const second = await poll("nginx to serve the renewed certificate", 15_000, async () => {
        const now = await get(s, "/_matrix/client/versions", root);
        return now.serial !== first.serial ? now : undefined;
      }, 200);
      assert.ok(second.authorized, `${second.authorizationError}: the renewed chain is Pebble's`);

      // The CA's check fails (its DNS answers SERVFAIL for the name): the renewal fails, nothing changes.
      await challtest("set-servfail", { host: s.matrixHost });
      const failed = spawnSync(p.script, ["renew", "--force"], { encoding: "utf8", timeout: 180_000 });
      assert.equal(failed.status, 1, failed.stdout + failed.stderr);
      assert.match(failed.stderr, /^certificate: FAILED: the renewal failed; the certificate in place keeps serving: /m);
      const after = await get(s, "/_matrix/client/versions", root);
      assert.deepEqual([after.status, after.serial], [200, second.serial], "the certificate in place still serves");
      assert.equal(JSON.parse(read(p.statusFile)).ok, false);
      await challtest("clear-servfail", { host: s.matrixHost });

      const status = operatorCommand("status", s.stack, ownerStackDir(ctx, s.stack, "https-acme", values), [], 120_000);
      assert.match(status.stdout, /^certificate \(acme\): ends \d{4}-\d\d-\d\d \(in \d+ days\), issued by .*Pebble Intermediate CA.*; last renew \S+: FAILED$/m, status.stdout);
      assert.match(status.stdout, /^warning: the certificate's last renew \(\S+\) FAILED: the renewal failed; the certificate in place keeps serving: /m);
      const told = await poll("the watchdog to tell the owner", 150_000, async () => {
        const logs = docker("logs", `${s.namePrefix}-watchdog`);
        return /watchdog: alert text="renewing the HTTPS certificate FAILED at/.test(logs) ? true : undefined;
      });
      assert.ok(told);
      ctx.summary.push(
        "",
        `HTTPS from an ACME CA (Pebble ${config.pebble.listenAddress}, Debian's certbot): the update with the first issuance took ${issuedIn.toFixed(0)} s; serial ${first.serial} (${first.issuer}), forced renewal -> ${second.serial}; a failed challenge left ${after.serial} serving, status and the watchdog told it`,
      );
    } finally {
      await ctx.update({});
      for (const proc of procs) proc.kill();
    }
    assert.equal(fs.existsSync(acmePaths(s).dir), false, "the step's files left the VPS with it");
  });
}
