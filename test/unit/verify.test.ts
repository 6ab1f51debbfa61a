/**
 * npm run verify: canonical JSON and signatures against the Matrix spec's own
 * examples, the report, and whole runs against servers made here (a closed port,
 * a silent port, and a TLS server with a CA made by openssl that plays good and
 * broken deployments). Self-contained: nothing leaves 127.0.0.1.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import * as fs from "node:fs";
import * as https from "node:https";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { canonicalJson, compareCodePoints, signedBytes, verifyEd25519, verifySelfSignatures } from "../../infra/ops/verify/canonical";
import { judgeServerKeys, nginxSize } from "../../infra/ops/verify/checks";
import { parseResolve } from "../../infra/ops/verify/client";
import { exitCode, formatJson, formatTable, runVerify, type CheckResult, type Report } from "../../infra/ops/verify/index";
import { summarize } from "../../infra/ops/verify/report";
import { parseServerName, parseSize, targetFromNames, targetFromSettings } from "../../infra/ops/verify/target";
import { FEDERATION_VARIANTS, stackSettings } from "../harness/stacks";
import { makeCertificate } from "../harness/tls";

const ROOT = path.resolve(__dirname, "../..");

describe("canonical JSON (spec appendix examples)", () => {
  const cases: [unknown, string][] = [
    [{}, "{}"],
    [{ one: 1, two: "Two" }, '{"one":1,"two":"Two"}'],
    [{ b: "2", a: "1" }, '{"a":"1","b":"2"}'],
    [
      {
        auth: {
          success: true,
          mxid: "@john.doe:example.com",
          profile: {
            display_name: "John Doe",
            three_pids: [
              { medium: "email", address: "john.doe@example.org" },
              { medium: "msisdn", address: "123456789" },
            ],
          },
        },
      },
      '{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}',
    ],
    [{ a: "日本語" }, '{"a":"日本語"}'],
    [{ 本: 2, 日: 1 }, '{"日":1,"本":2}'],
    [JSON.parse('{"a": "\\u65E5"}'), '{"a":"日"}'],
    [{ a: null }, '{"a":null}'],
    [JSON.parse('{"a": -0, "b": 1e10}'), '{"a":0,"b":10000000000}'],
  ];
  for (const [input, want] of cases) {
    test(want, () => assert.equal(canonicalJson(input), want));
  }

  test("keys sort by code point, not by UTF-16 unit", () => {
    // U+FB01 < U+1F600 by code point, but its UTF-16 unit 0xFB01 > the surrogate 0xD83D.
    assert.equal(canonicalJson({ "\u{1F600}": 1, "\uFB01": 2 }), '{"\uFB01":2,"\u{1F600}":1}');
    assert.ok(compareCodePoints("\uFB01", "\u{1F600}") < 0);
    assert.ok(compareCodePoints("a", "ab") < 0);
    assert.equal(compareCodePoints("x", "x"), 0);
  });

  test("control characters use JSON's short escapes", () => {
    assert.equal(canonicalJson({ a: "\n\t\u0001\"\\" }), '{"a":"\\n\\t\\u0001\\"\\\\"}');
  });

  test("floats and unsafe integers have no canonical form", () => {
    assert.throws(() => canonicalJson({ a: 1.5 }), /integers/);
    assert.throws(() => canonicalJson({ a: 2 ** 53 }), /integers/);
  });

  test("signed bytes leave out signatures and unsigned", () => {
    assert.equal(signedBytes({ b: 1, signatures: { x: {} }, unsigned: { age: 1 }, a: [2] }), '{"a":[2],"b":1}');
  });
});

/** Unpadded standard base64, as Matrix writes keys and signatures. */
const b64 = (buf: Buffer) => buf.toString("base64").replace(/=+$/, "");
const rawPublicKey = (k: KeyObject) => (k.export({ format: "der", type: "spki" }) as Buffer).subarray(-32);

describe("ed25519 signatures", () => {
  test("the spec's signing example (seed YJDBA9…, key ed25519:1) verifies, and only over its own JSON", () => {
    const seed = Buffer.from("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1", "base64");
    const priv = createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]), format: "der", type: "pkcs8" });
    const pub = b64(rawPublicKey(createPublicKey(priv)));
    const empty = "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ";
    const oneTwo = "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw";
    assert.ok(verifyEd25519(pub, empty, canonicalJson({})));
    assert.ok(verifyEd25519(pub, oneTwo, canonicalJson({ two: "Two", one: 1 })));
    assert.equal(verifyEd25519(pub, empty, canonicalJson({ one: 1, two: "Two" })), false);
    assert.equal(verifyEd25519(pub, "not base64!", "{}"), false);
    assert.equal(verifyEd25519("c2hvcnQ", empty, "{}"), false, "a key that is not 32 bytes");
  });

  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const signed = () => signKeyDoc(privateKey, publicKey, "example.test", { valid_until_ts: 4_000_000_000_000 });

  test("a server's self-signature made here verifies", () => {
    assert.deepEqual(verifySelfSignatures(signed(), "example.test"), [{ keyId: "ed25519:auto", result: "valid" }]);
  });
  test("`unsigned` is not covered by the signature", () => {
    assert.deepEqual(verifySelfSignatures({ ...signed(), unsigned: { note: "added later" } }, "example.test")[0].result, "valid");
  });
  test("a tampered object fails", () => {
    assert.deepEqual(verifySelfSignatures({ ...signed(), valid_until_ts: 4_000_000_000_001 }, "example.test")[0].result, "bad signature");
    assert.deepEqual(verifySelfSignatures({ ...signed(), server_name: "evil.test" }, "example.test")[0].result, "bad signature");
  });
  test("a signature under another server name does not count", () => {
    assert.deepEqual(verifySelfSignatures(signed(), "other.test")[0].result, "no signature");
  });
  test("judgeServerKeys names each problem", () => {
    const t = targetFromNames("example.test", "matrix.example.test");
    const addr = { host: "matrix.example.test", port: 443 };
    const answer = (doc: unknown) => ({ ok: true as const, status: 200, headers: {}, body: JSON.stringify(doc) });
    const now = 3_000_000_000_000;
    const good = judgeServerKeys(t, addr, answer(signed()), "https://x", now);
    assert.equal(good.status, "pass", good.observed);
    assert.match(good.observed, /server_name example\.test, ed25519:auto self-signature valid, valid until /);
    const expired = judgeServerKeys(t, addr, answer(signKeyDoc(privateKey, publicKey, "example.test", { valid_until_ts: now - 1 })), "https://x", now);
    assert.equal(expired.status, "fail");
    assert.match(expired.observed, /valid_until_ts .* is in the past/);
    const other = judgeServerKeys(t, addr, answer(signKeyDoc(privateKey, publicKey, "other.test", { valid_until_ts: now + 1 })), "https://x", now);
    assert.match(other.observed, /server_name is "other\.test", expected "example\.test"/);
    assert.match(other.fix ?? "", /server_name "example\.test"/);
    const tampered = judgeServerKeys(t, addr, answer({ ...signed(), valid_until_ts: now + 5 }), "https://x", now);
    assert.match(tampered.observed, /ed25519:auto: bad signature/);
  });
});

/** A /_matrix/key/v2/server answer, self-signed the way Synapse does it. */
function signKeyDoc(priv: KeyObject, pub: KeyObject, serverName: string, extra: Record<string, unknown>): Record<string, unknown> {
  const doc: Record<string, unknown> = { server_name: serverName, verify_keys: { "ed25519:auto": { key: b64(rawPublicKey(pub)) } }, old_verify_keys: {}, ...extra };
  const sig = b64(sign(null, Buffer.from(canonicalJson(doc)), priv));
  return { ...doc, signatures: { [serverName]: { "ed25519:auto": sig } } };
}

describe("arguments and sizes", () => {
  test("--resolve host:port:address:port", () => {
    assert.deepEqual(parseResolve("Example.test:443:127.0.0.1:8443"), { host: "example.test", port: 443, address: "127.0.0.1", addressPort: 8443 });
    assert.deepEqual(parseResolve("example.test:8448:[::1]:9"), { host: "example.test", port: 8448, address: "::1", addressPort: 9 });
    assert.equal(parseResolve("example.test:443:127.0.0.1"), undefined);
    assert.equal(parseResolve("example.test:99999:127.0.0.1:1"), undefined);
  });
  test("sizes read as nginx and Synapse read them", () => {
    assert.equal(parseSize("50M"), 50 * 1024 * 1024);
    assert.equal(parseSize("1g"), 1024 ** 3);
    assert.equal(parseSize("1000"), 1000);
    assert.equal(parseSize("50 MB"), undefined);
    assert.equal(nginxSize(50 * 1024 * 1024), "50m");
    assert.equal(nginxSize(1000), "1000");
  });
  test("m.server forms", () => {
    assert.deepEqual(parseServerName("matrix.example.com:443"), { host: "matrix.example.com", port: 443 });
    assert.deepEqual(parseServerName("matrix.example.com"), { host: "matrix.example.com", port: undefined });
    assert.deepEqual(parseServerName("[::1]:8448"), { host: "[::1]", port: 8448 });
    assert.equal(parseServerName("https://matrix.example.com"), undefined);
  });
  test("a stack's expectation comes from the same functions that render the Worker and nginx", () => {
    const t = targetFromSettings(stackSettings("prod"));
    assert.equal(t.wellKnownOrigin, "https://example.com");
    assert.deepEqual(t.expectedServer, { "m.server": "matrix.example.com:443" });
    assert.deepEqual(t.expectedClient, { "m.homeserver": { base_url: "https://matrix.example.com" } });
    assert.equal(t.uploadLimitBytes, 100 * 1024 * 1024);
    assert.equal(t.wellKnownServedBy, "cloudflare-worker");
    assert.equal(t.wechat, "enabled");
    // The local stack is plain HTTP on port 80, discovery served by nginx.
    const local = targetFromSettings(stackSettings("local"));
    assert.equal(local.wellKnownOrigin, "http://kit.localhost");
    assert.equal(local.wellKnownServedBy, "nginx");
    // Federation off: verify expects no m.server (and checks that federation is closed); an allow-list still federates.
    assert.equal(targetFromSettings(stackSettings("prod", FEDERATION_VARIANTS.off)).expectedServer, null);
    assert.deepEqual(targetFromSettings(stackSettings("prod", FEDERATION_VARIANTS["allow-list"])).expectedServer, { "m.server": "matrix.example.com:443" });
  });
});

describe("report", () => {
  const rows: CheckResult[] = [
    { id: "a", name: "first check", status: "pass", observed: "HTTP 200" },
    { id: "b", name: "second", status: "fail", observed: "Content-Type: text/plain\nsecond line", fix: "serve JSON" },
    { id: "c", name: "third", status: "skip", observed: "skipped: pass --x" },
  ];
  const report: Report = { source: "command line", domain: "d.test", matrixHost: "matrix.d.test", checks: rows, summary: summarize(rows) };

  test("table: a row per check, the fix under a failure, the summary last", () => {
    const lines = formatTable(report).split("\n");
    assert.match(lines[0], /^matrix-kit verify: d\.test \(Matrix host matrix\.d\.test/);
    assert.ok(lines.includes("CHECK        STATUS  OBSERVED / FIX"));
    assert.ok(lines.includes("first check  PASS    HTTP 200"));
    assert.ok(lines.includes("second       FAIL    Content-Type: text/plain second line"), "observations stay on one line");
    assert.ok(lines.includes("                     fix: serve JSON"));
    assert.ok(lines.includes("third        SKIP    skipped: pass --x"));
    assert.equal(lines[lines.length - 1], "1 passed, 1 failed, 1 skipped");
  });
  test("JSON carries every field", () => {
    const back = JSON.parse(formatJson(report)) as Report;
    assert.deepEqual(back, report);
  });
  test("exit code: 1 on any failure; skips alone do not fail", () => {
    assert.equal(exitCode(report), 1);
    const ok = rows.filter((r) => r.status !== "fail");
    assert.equal(exitCode({ ...report, checks: ok, summary: summarize(ok) }), 0);
  });
});

/** A port nothing listens on (bound, read, released). */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

const resolveAll = (hosts: string[], port: number) => hosts.map((h) => ({ host: h, port: 443, address: "127.0.0.1", addressPort: port }));

describe("dead hosts: a clear line per check, FAIL, no throw", () => {
  test("connection refused", async () => {
    const port = await closedPort();
    const report = await runVerify({
      target: targetFromNames("dead.test", "matrix.dead.test", 1024 * 1024),
      resolve: resolveAll(["dead.test", "matrix.dead.test"], port),
      wechatSecret: "s",
      timeoutMs: 2000,
    });
    assert.equal(report.summary.passed, 0);
    assert.equal(report.summary.skipped, 0);
    for (const c of report.checks) {
      assert.equal(c.status, "fail", c.id);
      assert.match(c.observed, new RegExp(`^connection refused to 127\\.0\\.0\\.1:${port}`), c.id);
      assert.ok(c.fix && !c.fix.includes("\n"), c.id);
    }
    assert.equal(exitCode(report), 1);
  });

  test("a server that accepts and never answers: no answer in the timeout", async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const started = Date.now();
      const report = await runVerify({ target: targetFromNames("slow.test", "matrix.slow.test"), resolve: resolveAll(["slow.test", "matrix.slow.test"], port), timeoutMs: 300 });
      assert.ok(Date.now() - started < 3000, "every request has the deadline");
      const wk = report.checks.find((c) => c.id === "well-known.server")!;
      assert.equal(wk.status, "fail");
      assert.equal(wk.observed, `no answer in 0.3 s from 127.0.0.1:${port}`);
      assert.match(wk.fix ?? "", /reachable from the internet/);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});

// ------------------------------------------------------------ a TLS stand-in deployment

const LIMIT = 1024 * 1024;
const SECRET = "raw-listen-secret";
const TOKEN = "syt_test_token";

/** How each stand-in domain behaves; "good" is what the kit deploys. */
interface Behaviour {
  server: unknown;
  client: unknown;
  contentType: string;
  cors: boolean;
  optionsStatus: number;
  /** Bytes the "proxy" accepts; undefined: accepts anything (waits for the body). */
  proxyLimit?: number;
  adminOpen: boolean;
  tamperKeys: boolean;
  wechatChecksSecret: boolean;
  /** Headers the sticker picker page is served with (a frame ban breaks it in Element). */
  stickerHeaders: Record<string, string>;
  /** Whether /_matrix/federation and /_matrix/key answer (matrix:federation.mode off: nginx's 404). */
  federation: boolean;
}

const good = (base: string): Behaviour => ({
  server: { "m.server": `matrix.${base}:443` },
  client: { "m.homeserver": { base_url: `https://matrix.${base}` } },
  contentType: "application/json",
  cors: true,
  optionsStatus: 204,
  proxyLimit: LIMIT,
  adminOpen: false,
  tamperKeys: false,
  wechatChecksSecret: true,
  stickerHeaders: {},
  federation: true,
});

const BEHAVIOURS: Record<string, Behaviour> = {
  "good.test": good("good.test"),
  "bad.test": {
    ...good("bad.test"),
    // The three classic discovery mistakes at once; each must show in its own row.
    server: { "m.server": "matrix.bad.test:8448" },
    client: { "m.homeserver": { base_url: "https://wrong.bad.test/" } },
    contentType: "text/plain",
    cors: false,
    optionsStatus: 405,
    proxyLimit: 1024, // nginx's forgotten client_max_body_size
    adminOpen: true,
    tamperKeys: true,
    wechatChecksSecret: false,
    stickerHeaders: { "X-Frame-Options": "SAMEORIGIN" },
  },
  "lax.test": { ...good("lax.test"), proxyLimit: undefined, contentType: "application/json; charset=utf-8" },
  // What the kit deploys with matrix:federation.mode off: no m.server, no federation route.
  "closed.test": { ...good("closed.test"), server: undefined, federation: false },
};

/** The CA the stand-in edge's certificate chains to, and that certificate for every behaviour's names. */
function makeCa(dir: string): { caPem: string; key: string; cert: string } {
  makeCertificate(dir, "server", ...Object.keys(BEHAVIOURS).flatMap((d) => [d, `matrix.${d}`]));
  const read = (f: string) => fs.readFileSync(path.join(dir, f), "utf8");
  return { caPem: read("ca.pem"), key: read("server.key"), cert: read("server.pem") };
}

function json(res: import("node:http").ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "Content-Type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

function standInServer(tlsFiles: { key: string; cert: string }): https.Server {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const server = https.createServer(tlsFiles, (req, res) => {
    const host = (req.headers.host ?? "").replace(/:\d+$/, "");
    const base = host.replace(/^matrix\./, "");
    const b = BEHAVIOURS[base];
    const url = new URL(req.url ?? "/", "https://x");
    if (!b) return json(res, 421, { error: "unknown host" });
    if (host === base) {
      const doc = url.pathname === "/.well-known/matrix/server" ? b.server : url.pathname === "/.well-known/matrix/client" ? b.client : undefined;
      if (doc === undefined) return json(res, 404, { errcode: "M_NOT_FOUND" });
      const cors: Record<string, string> = b.cors ? { "Access-Control-Allow-Origin": "*" } : {};
      if (req.method === "OPTIONS") {
        res.writeHead(b.optionsStatus, cors);
        return res.end();
      }
      res.writeHead(200, { "Content-Type": b.contentType, ...cors });
      return res.end(JSON.stringify(doc));
    }
    if (!b.federation && /^\/_matrix\/(federation|key)\//.test(url.pathname)) {
      res.writeHead(404, { "Content-Type": "text/html" });
      return res.end("<html><head><title>404 Not Found</title></head></html>");
    }
    switch (url.pathname) {
      case "/_matrix/federation/v1/version":
        return json(res, 200, { server: { name: "Synapse", version: "1.163.2" } });
      case "/_matrix/key/v2/server": {
        const doc = signKeyDoc(privateKey, publicKey, base, { valid_until_ts: Date.now() + 3_600_000 });
        return json(res, 200, b.tamperKeys ? { ...doc, valid_until_ts: (doc.valid_until_ts as number) + 1 } : doc);
      }
      case "/_matrix/client/versions":
        return json(res, 200, { versions: ["r0.6.1", "v1.1", "v1.11", "v1.12"] });
      case "/_matrix/client/v1/media/config":
      case "/_matrix/media/v3/config":
        // Synapse wants a token here; with one it announces max_upload_size.
        if (req.headers.authorization !== `Bearer ${TOKEN}`) return json(res, 401, { errcode: "M_MISSING_TOKEN" });
        return json(res, 200, { "m.upload.size": LIMIT });
      case "/_matrix/media/v3/upload": {
        // nginx decides from Content-Length alone, before reading any body.
        const length = Number(req.headers["content-length"]);
        if (b.proxyLimit !== undefined && length > b.proxyLimit) return json(res, 413, { errcode: "M_TOO_LARGE" }, { Connection: "close" });
        return; // accepted: wait for a body that never comes
      }
      case "/stickers/":
        res.writeHead(200, { "Content-Type": "text/html", ...b.stickerHeaders });
        return res.end(fs.readFileSync("templates/stickers/index.html"));
      case "/_synapse/admin/v1/server_version":
        return b.adminOpen ? json(res, 200, { server_version: "1.163.2" }) : json(res, 404, { errcode: "M_UNRECOGNIZED" });
      default:
        return json(res, 404, { errcode: "M_UNRECOGNIZED" });
    }
  });
  server.on("upgrade", (req, socket) => {
    const base = (req.headers.host ?? "").replace(/:\d+$/, "").replace(/^matrix\./, "");
    const b = BEHAVIOURS[base];
    // matrix-wechat's listener compares the raw secret: "Basic <listen_secret>", no base64.
    const allowed = b && req.url === "/_wechat" && (!b.wechatChecksSecret || req.headers.authorization === `Basic ${SECRET}`);
    if (allowed) {
      const accept = createHash("sha1").update(`${req.headers["sec-websocket-key"]}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
      socket.end(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    } else {
      socket.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
  });
  return server;
}

describe("against a TLS stand-in deployment", () => {
  let dir = "";
  let caPem = "";
  let port = 0;
  let server: https.Server;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "verify-tls-"));
    const made = makeCa(dir);
    caPem = made.caPem;
    server = standInServer(made);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as net.AddressInfo).port;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const resolveFor = (base: string, extraPorts: number[] = []) => [
    ...resolveAll([base, `matrix.${base}`], port),
    ...extraPorts.map((p) => ({ host: `matrix.${base}`, port: p, address: "127.0.0.1", addressPort: port })),
  ];
  const byId = (r: Report) => Object.fromEntries(r.checks.map((c) => [c.id, c]));

  test("a good deployment passes every check", async () => {
    const report = await runVerify({
      target: targetFromNames("good.test", "matrix.good.test", LIMIT),
      resolve: resolveFor("good.test"),
      caPem,
      wechatSecret: SECRET,
      timeoutMs: 3000,
      uploadGraceMs: 300,
    });
    const failed = report.checks.filter((c) => c.status !== "pass");
    assert.deepEqual(failed, [], formatTable(report));
    assert.equal(exitCode(report), 0);
    const c = byId(report);
    assert.equal(c["well-known.server"].observed, 'HTTP 200 {"m.server":"matrix.good.test:443"}');
    assert.equal(c["well-known.server.preflight"].observed, "OPTIONS → HTTP 204, Access-Control-Allow-Origin: *");
    assert.equal(c["federation.version"].observed, "Synapse 1.163.2 at matrix.good.test:443");
    assert.match(c["upload.limit"].observed, /^1048576 bytes \(1 MiB\) from --upload-limit; \/_matrix\/media\/v3\/config needs a token \(HTTP 401\)$/);
    assert.match(c["upload.over-limit"].observed, /^Content-Length 1048577: HTTP 413 after \d+ ms$/);
    assert.equal(c["upload.under-limit"].observed, "Content-Length 1048575: no 413 in 0.3 s (the proxy waits for the body)");
    assert.equal(c["wechat.upgrade"].observed, "wss://matrix.good.test/_wechat: HTTP 101 Switching Protocols");
    assert.equal(c["wechat.wrong-secret"].observed, "HTTP 403: refused");
    assert.equal(c["stickers.page"].observed, "https://matrix.good.test/stickers/: HTTP 200, the kit's page, embeddable");
    assert.equal(c["admin.hidden"].observed, "HTTP 404");
    assert.ok(!JSON.stringify(report).includes(SECRET), "the secret never reaches the report");
  });

  test("with a token, the limit Synapse announces is the one probed", async () => {
    const report = await runVerify({
      target: targetFromNames("good.test", "matrix.good.test"),
      resolve: resolveFor("good.test"),
      caPem,
      accessToken: TOKEN,
      timeoutMs: 3000,
      uploadGraceMs: 200,
    });
    const c = byId(report);
    assert.equal(c["upload.limit"].observed, "Synapse announces 1048576 bytes (1 MiB) at /_matrix/client/v1/media/config");
    assert.equal(c["upload.under-limit"].status, "pass");
    assert.equal(c["wechat.upgrade"].status, "skip");
    assert.equal(c["wechat.upgrade"].observed, "skipped: pass --wechat-secret (pulumi stack output --show-secrets wechatListenSecret)");
    assert.equal(exitCode(report), 0, "skips do not fail a run");
  });

  test("without a limit from anywhere, the upload checks are skipped and say what to pass", async () => {
    const report = await runVerify({ target: targetFromNames("good.test", "matrix.good.test"), resolve: resolveFor("good.test"), caPem, timeoutMs: 3000 });
    const c = byId(report);
    assert.equal(c["upload.limit"].status, "skip");
    assert.match(c["upload.limit"].observed, /needs a token \(HTTP 401\)/);
    assert.match(c["upload.limit"].fix ?? "", /--upload-limit/);
    assert.equal(c["upload.over-limit"].status, "skip");
  });

  test("broken discovery, keys, upload limit, WeChat auth and admin API are each caught", async () => {
    const report = await runVerify({
      target: targetFromNames("bad.test", "matrix.bad.test", LIMIT),
      resolve: resolveFor("bad.test", [8448]),
      caPem,
      wechatSecret: SECRET,
      timeoutMs: 3000,
      uploadGraceMs: 300,
    });
    const c = byId(report);
    const expectFail = (id: string, observed: RegExp, fix: RegExp) => {
      assert.equal(c[id].status, "fail", `${id}: ${c[id].observed}`);
      assert.match(c[id].observed, observed, id);
      assert.match(c[id].fix ?? "", fix, id);
    };
    expectFail("well-known.server", /^m\.server is "matrix\.bad\.test:8448", expected "matrix\.bad\.test:443" \(wrong port\)$/, /answer \{"m\.server":"matrix\.bad\.test:443"\}/);
    expectFail("well-known.server.content-type", /^Content-Type: text\/plain$/, /application\/json/);
    expectFail("well-known.server.cors", /^no Access-Control-Allow-Origin header$/, /cross-origin: send Access-Control-Allow-Origin: \*/);
    expectFail("well-known.server.preflight", /^OPTIONS → HTTP 405, no Access-Control-Allow-Origin$/, /OPTIONS preflight/);
    expectFail("well-known.client", /^base_url is "https:\/\/wrong\.bad\.test\/", expected "https:\/\/matrix\.bad\.test"$/, /m\.homeserver/);
    // Federation follows the (wrong) m.server as a remote server would: port 8448 answers here.
    assert.equal(c["federation.version"].status, "pass");
    assert.equal(c["federation.version"].observed, "Synapse 1.163.2 at matrix.bad.test:8448");
    expectFail("federation.keys", /ed25519:auto: bad signature/, /not signed by its own key/);
    assert.equal(c["upload.over-limit"].status, "pass");
    expectFail("upload.under-limit", /^Content-Length 1048575: HTTP 413 after \d+ ms, under Synapse's limit of 1048576 bytes \(1 MiB\)$/, /^raise client_max_body_size in nginx to 1m /);
    assert.equal(c["wechat.upgrade"].status, "pass");
    expectFail("wechat.wrong-secret", /^HTTP 101: a wrong secret was accepted$/, /listen_secret/);
    expectFail("admin.hidden", /^HTTP 200 .*\/_synapse\/admin answers the internet$/, /^don't proxy \/_synapse\/admin/);
    expectFail("stickers.page", /^X-Frame-Options: SAMEORIGIN: clients cannot embed it$/, /Element shows the picker in an iframe/);
    assert.equal(exitCode(report), 1);
  });

  test("federation off: no m.server and no federation answer pass; a deployment that still federates fails both, naming the setting", async () => {
    const off = (base: string) => ({ ...targetFromNames(base, `matrix.${base}`, LIMIT), expectedServer: null });
    const closed = await runVerify({ target: off("closed.test"), resolve: resolveFor("closed.test"), caPem, wechatSecret: SECRET, timeoutMs: 3000, uploadGraceMs: 300 });
    assert.deepEqual(closed.checks.filter((c) => c.status !== "pass"), [], formatTable(closed));
    const c = byId(closed);
    assert.equal(c["well-known.server"].observed, "HTTP 404: no m.server (federation is off)");
    assert.equal(c["federation.closed"].observed, '/_matrix/federation/v1/version HTTP 404, /_matrix/key/v2/server HTTP 404 at matrix.closed.test (matrix:federation.mode is "off")');
    // The server document's type and CORS are not judged: there is no document.
    assert.deepEqual(closed.checks.map((x) => x.id).filter((id) => /^(well-known\.server|federation)/.test(id)), ["well-known.server", "federation.closed"]);

    const leaky = byId(await runVerify({ target: off("good.test"), resolve: resolveFor("good.test"), caPem, wechatSecret: SECRET, timeoutMs: 3000, uploadGraceMs: 300 }));
    assert.equal(leaky["well-known.server"].status, "fail");
    assert.equal(leaky["well-known.server"].observed, 'm.server "matrix.good.test:443" is published, but matrix:federation.mode is "off"');
    assert.equal(leaky["federation.closed"].status, "fail");
    assert.match(leaky["federation.closed"].observed, /^\/_matrix\/federation\/v1\/version answers HTTP 200: .*; \/_matrix\/key\/v2\/server answers HTTP 200: .*, but matrix:federation\.mode is "off"$/);
    assert.match(leaky["federation.closed"].fix ?? "", /no route for \/_matrix\/federation and \/_matrix\/key/);
  });

  test("a proxy that lets any size through fails the over-limit probe", async () => {
    // 2 s, not less: the other checks share the timeout, and 0.7 s failed them on a busy machine.
    const report = await runVerify({ target: targetFromNames("lax.test", "matrix.lax.test", LIMIT), resolve: resolveFor("lax.test"), caPem, timeoutMs: 2000, uploadGraceMs: 200 });
    const c = byId(report);
    assert.equal(c["well-known.server.content-type"].status, "pass", "a charset parameter is fine");
    assert.equal(c["upload.over-limit"].status, "fail");
    assert.equal(c["upload.over-limit"].observed, "Content-Length 1048577: no answer in 2 s (the proxy accepted the size and waits for the body)");
    assert.match(c["upload.over-limit"].fix ?? "", /^set client_max_body_size 1m in nginx/);
  });

  test("TLS problems are named: an unknown CA, and a certificate for other names", async () => {
    const untrusted = await runVerify({ target: targetFromNames("good.test", "matrix.good.test", LIMIT), resolve: resolveFor("good.test"), timeoutMs: 3000 });
    const wk = byId(untrusted)["well-known.server"];
    assert.equal(wk.status, "fail");
    assert.match(wk.observed, /^TLS: unable to verify certificate of 127\.0\.0\.1:\d+ \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)$/);
    assert.match(wk.fix ?? "", /--ca-file/);
    const wrongName = await runVerify({ target: targetFromNames("other.test", "matrix.other.test", LIMIT), resolve: resolveAll(["other.test", "matrix.other.test"], port), caPem, timeoutMs: 3000 });
    assert.match(byId(wrongName)["well-known.server"].observed, /^TLS: the certificate of 127\.0\.0\.1:\d+ is not valid for other\.test$/);
  });

  test("the CLI: table and exit 1 on failures, JSON and exit 0 on a good deployment, exit 2 on bad usage", async () => {
    const ca = path.join(dir, "ca.pem");
    // Asynchronous on purpose: the stand-in server lives in this process and must keep answering.
    const cli = (args: string[], env: Record<string, string> = {}) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "infra/cli/verify.ts"), ...args], { env: { ...process.env, ...env } });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
        child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
        child.on("close", (status) => resolve({ status, stdout, stderr }));
      });
    const r = (base: string, extra: string[] = []) => [
      `${base}:443:127.0.0.1:${port}`,
      `matrix.${base}:443:127.0.0.1:${port}`,
      ...extra.map((p) => `matrix.${base}:${p}:127.0.0.1:${port}`),
    ].flatMap((x) => ["--resolve", x]);

    const goodRun = await cli(["--domain", "good.test", "--upload-limit", "1M", "--ca-file", ca, "--upload-grace", "0.3", "--json", ...r("good.test")], { MATRIX_WECHAT_SECRET: SECRET });
    assert.equal(goodRun.status, 0, goodRun.stderr + goodRun.stdout);
    const report = JSON.parse(goodRun.stdout) as Report;
    assert.deepEqual(report.summary, { passed: 18, failed: 0, skipped: 0 });

    const badRun = await cli(["--domain", "bad.test", "--upload-limit", "1M", "--ca-file", ca, "--upload-grace", "0.3", ...r("bad.test", ["8448"])]);
    assert.equal(badRun.status, 1, badRun.stderr);
    assert.match(badRun.stdout, /^well-known server CORS +FAIL +no Access-Control-Allow-Origin header$/m);
    assert.match(badRun.stdout, /^ +fix: web clients \(Element\)/m);
    assert.match(badRun.stdout, /^wechat WebSocket +SKIP +skipped: pass --wechat-secret/m);
    assert.match(badRun.stdout, /\n\d+ passed, \d+ failed, 2 skipped\n$/);
    assert.equal(badRun.stderr.includes("    at "), false, "no stack trace");

    for (const args of [[], ["--domain", "x.test", "--resolve", "nonsense"], ["--stack", "prod", "--domain", "x.test"], ["--domain", "x.test", "--timeout", "0"], ["--bogus"]]) {
      const u = await cli(args);
      assert.equal(u.status, 2, `${args.join(" ")}: ${u.stderr}`);
      assert.match(u.stderr, /^verify: .+\nusage: npm run verify/, args.join(" "));
    }
    const badStack = await cli(["--stack", "bad-sizes", "--stack-dir", path.join(ROOT, "test/fixtures/bad-stacks")]);
    assert.equal(badStack.status, 2);
    assert.match(badStack.stderr, /matrix:synapse\.maxUploadSize must be/);
  });
});
