/**
 * npm run verify, its parts that need no server: canonical JSON and signatures against the
 * Matrix spec's own examples, arguments and sizes, and the report. Whole runs against servers
 * made here: verify-runs.test.ts.
 */
import assert from "node:assert/strict";
import { createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto";
import { describe, test } from "node:test";
import { canonicalJson, compareCodePoints, signedBytes, verifyEd25519, verifySelfSignatures } from "../../infra/ops/verify/canonical";
import { judgeServerKeys, nginxSize } from "../../infra/ops/verify/checks";
import { parseResolve } from "../../infra/ops/verify/client";
import { exitCode, formatJson, formatTable, type CheckResult, type Report } from "../../infra/ops/verify/index";
import { summarize } from "../../infra/ops/verify/report";
import { parseServerName, parseSize, targetFromNames, targetFromSettings } from "../../infra/ops/verify/target";
import { FEDERATION_VARIANTS, stackSettings } from "../harness/stacks";
import { b64, rawPublicKey, signKeyDoc } from "../harness/verify-deployment";

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
