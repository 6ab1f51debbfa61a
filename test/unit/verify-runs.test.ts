/**
 * npm run verify, whole runs against servers made here: a closed port, a silent port, and a TLS
 * stand-in deployment (test/harness/verify-deployment.ts) playing good and broken deployments,
 * then the CLI itself. Self-contained: nothing leaves 127.0.0.1.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import type * as https from "node:https";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { exitCode, formatTable, runVerify, type Report } from "../../infra/ops/verify/index";
import { targetFromNames } from "../../infra/ops/verify/target";
import { freePort } from "../harness/http";
import { LIMIT, makeCa, SECRET, standInServer, TOKEN } from "../harness/verify-deployment";

const ROOT = path.resolve(__dirname, "../..");

const resolveAll = (hosts: string[], port: number) => hosts.map((h) => ({ host: h, port: 443, address: "127.0.0.1", addressPort: port }));

describe("dead hosts: a clear line per check, FAIL, no throw", () => {
  test("connection refused", async () => {
    const port = await freePort();
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
    // No origin past Cloudflare was given, so no row for it (verify-origin.test.ts checks one against real nginx).
    assert.ok(!report.checks.some((x) => x.id.startsWith("origin")));
    assert.match(c["tls.world"].observed, /^issued by CN=test CA for good\.test, matrix\.good\.test, .*\(\d+ days\)$/);
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
    assert.deepEqual(report.summary, { passed: 19, failed: 0, skipped: 0 });

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
