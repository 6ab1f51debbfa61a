/**
 * `npm run verify` straight to the origin, past Cloudflare, against the kit's own rendered site in
 * a REAL private nginx: the certificate from a stand-in for Cloudflare's Origin CA, Cloudflare's
 * client certificate required (authenticated origin pulls) with a stand-in for its origin-pull CA,
 * and a stand-in Synapse behind it (a loopback HTTP server answering /_matrix/client/versions).
 * verify must say which of the two it met: refused without the client certificate, let in with it.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { validate } from "../../infra/config";
import { renderNginxSite } from "../../infra/render/nginx";
import { runVerify, targetFromSettings } from "../../infra/ops/verify";
import type { Settings } from "../../infra/settings";
import { freePort } from "../harness/http";
import { privateNginxConf } from "../harness/private-nginx";
import { makeCertificate, makeCertificateFor } from "../harness/tls";
import { poll } from "../harness/wait";

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "kit-verify-origin-"));
const read = (f: string) => fs.readFileSync(f, "utf8");

describe("verify past Cloudflare: the origin's certificate for Full (strict), and only Cloudflare let in (real nginx, the kit's site)", () => {
  let nginx: ChildProcess | undefined;
  let synapse: http.Server;
  let s: Settings;
  let tlsPort = 0;

  /** The kit's site for `pulls` (authenticated origin pulls on or off), served by a private nginx. */
  async function serve(pulls: boolean): Promise<void> {
    const v = validate("origin", {
      values: {
        "matrix:domain": "example.com",
        "matrix:target": { kind: "local" },
        "matrix:hostDir": `${TMP}/kit`,
        "matrix:synapse": { hostPort: (synapse.address() as { port: number }).port },
        "matrix:nginx": { httpPort: await freePort(), tls: { source: "cloudflare", port: tlsPort } },
        "matrix:cloudflare": { enabled: true, zoneId: "00112233445566778899aabbccddeeff", accountId: "ffeeddccbbaa99887766554433221100", originAddress: "127.0.0.1", authenticatedOriginPulls: pulls },
        "matrix:testOnly": { originPullCa: read(`${TMP}/origin-pull/ca.pem`) },
      },
      secretKeys: new Set(),
    }, { requireSecrets: false });
    assert.ok(v.ok, v.ok ? "" : v.errors.join("\n"));
    s = v.settings;
    // What the kit places on the VPS: the origin certificate from the (stand-in) Origin CA, its key, the pull CA.
    const tls = s.nginx.tls!;
    fs.mkdirSync(path.dirname(tls.certificate), { recursive: true });
    fs.copyFileSync(`${TMP}/origin-ca/origin.pem`, tls.certificate);
    fs.copyFileSync(`${TMP}/origin-ca/origin.key`, tls.certificateKey);
    if (tls.clientCertificateCa) fs.writeFileSync(tls.clientCertificateCa, s.cloudflare.enabled ? s.cloudflare.originPullCa : "");
    const dir = fs.mkdtempSync(path.join(TMP, "nginx-"));
    fs.writeFileSync(`${dir}/site.conf`, renderNginxSite(s));
    nginx?.kill();
    nginx = spawn("nginx", ["-p", dir, "-e", `${dir}/error.log`, "-c", privateNginxConf(dir, `${dir}/site.conf`), "-g", "daemon off;"], { stdio: "ignore" });
    await poll("nginx to listen", 10_000, () => new Promise<true | undefined>((resolve) => {
      const c = net.connect(tlsPort, "127.0.0.1");
      c.on("connect", () => (c.end(), resolve(true))).on("error", () => resolve(undefined));
    }), 100);
  }

  const verify = (clientCert?: boolean) =>
    runVerify({
      target: targetFromSettings(s),
      only: ["origin"],
      originCaPem: read(`${TMP}/origin-ca/ca.pem`),
      ...(clientCert ? { clientCert: { cert: read(`${TMP}/origin-pull/edge.pem`), key: read(`${TMP}/origin-pull/edge.key`) } } : {}),
      timeoutMs: 5000,
    });

  before(async () => {
    makeCertificate(`${TMP}/origin-ca`, "origin", "matrix.example.com");
    makeCertificateFor("clientAuth", `${TMP}/origin-pull`, "edge", "edge.example.net");
    synapse = http.createServer((_req, res) => res.end('{"versions":["v1.11"]}')).listen(0, "127.0.0.1");
    tlsPort = await freePort();
  });
  after(() => {
    nginx?.kill();
    synapse?.close();
    fs.rmSync(TMP, { recursive: true, force: true });
  });

  test("with authenticated origin pulls: a client without Cloudflare's client certificate is refused, one presenting it gets through; the certificate is one Full (strict) accepts", async () => {
    await serve(true);
    const target = targetFromSettings(s);
    assert.deepEqual(target.origin, { address: "127.0.0.1", port: tlsPort, pulls: true });
    const bare = await verify();
    assert.deepEqual(bare.checks.map((c) => [c.id, c.status]), [["origin.certificate", "pass"], ["origin.pulls", "pass"]]);
    assert.match(bare.checks[0].observed, /^issued by .*CN=test CA for matrix\.example\.com, ends \d{4}-\d\d-\d\d \(\d+ days\): from a trusted CA, Full \(strict\) accepts it$/);
    assert.equal(bare.checks[1].observed, 'a direct client without Cloudflare\'s client certificate was refused (HTTP 400 "No required SSL certificate was sent"): only Cloudflare gets through');
    const withCert = await verify(true);
    assert.deepEqual(withCert.checks.map((c) => [c.id, c.status]), [["origin.certificate", "pass"], ["origin.pulls", "pass"], ["origin.client-certificate", "pass"]]);
    assert.equal(withCert.checks[2].observed, "a client presenting the certificate given (--client-cert) got HTTP 200");
  });

  test("without them the origin answers anyone: said, and a failure where the stack expects only Cloudflare", async () => {
    await serve(false);
    const open = await verify();
    assert.deepEqual(open.checks.map((c) => [c.id, c.status]), [["origin.certificate", "pass"], ["origin.pulls", "pass"]]);
    assert.match(open.checks[1].observed, /^a direct client without a client certificate got HTTP 200 .*\(authenticated origin pulls are off\)$/);
    const expected = await runVerify({ target: { ...targetFromSettings(s), origin: { address: "127.0.0.1", port: tlsPort, pulls: true } }, only: ["origin.pulls"], originCaPem: read(`${TMP}/origin-ca/ca.pem`), timeoutMs: 5000 });
    assert.equal(expected.checks[0].status, "fail");
    assert.match(expected.checks[0].observed, /anyone who finds the VPS's address reaches nginx past Cloudflare$/);
    assert.equal(expected.checks[0].fix, "matrix:cloudflare.authenticatedOriginPulls true, then pulumi up");
  });

  test("a certificate Full (strict) refuses: one from a CA neither trusted nor Cloudflare's Origin CA", async () => {
    await serve(true);
    const r = await runVerify({ target: targetFromSettings(s), only: ["origin.certificate"], timeoutMs: 5000 });
    assert.equal(r.checks[0].status, "fail");
    assert.match(r.checks[0].observed, /Full \(strict\) refuses it \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)$/);
  });
});
