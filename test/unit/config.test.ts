/** Stack config validation: the shipped stacks pass, and every bad stack is rejected naming its keys. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { readStackFile, stackFilePath, validate } from "../../infra/config";

const BAD = path.resolve(__dirname, "../fixtures/bad-stacks");
const ROOT = path.resolve(__dirname, "../..");

describe("shipped stacks", () => {
  for (const stack of ["local", "dev", "prod"]) {
    test(`${stack} validates (secrets aside: example stacks cannot ship encrypted values)`, () => {
      const result = validate(stack, readStackFile(stackFilePath(stack)), { requireSecrets: false });
      assert.ok(result.ok, result.ok ? "" : result.errors.join("\n"));
    });
    test(`${stack} without its secrets names each one`, () => {
      const result = validate(stack, readStackFile(stackFilePath(stack)));
      assert.equal(result.ok, false);
      if (result.ok) return;
      assert.ok(result.errors.some((e) => e.startsWith("matrix:secretSeed is required")));
      if (stack !== "local") {
        assert.ok(result.errors.some((e) => e.startsWith("matrix:sshPrivateKey is required")));
        assert.ok(result.errors.some((e) => e.startsWith("matrix:cloudflareApiToken is required")));
      }
    });
  }
});

describe("bad stack corpus: each rejected with every problem named", () => {
  for (const file of fs.readdirSync(BAD).filter((f) => f.endsWith(".yaml"))) {
    const stack = file.replace(/^Pulumi\.|\.yaml$/g, "");
    test(stack, () => {
      const text = fs.readFileSync(path.join(BAD, file), "utf8");
      const expected = [...text.matchAll(/^# expect: (.+)$/gm)].map((m) => m[1]);
      assert.ok(expected.length > 0, "the fixture states what it expects");
      const result = validate(stack, readStackFile(path.join(BAD, file)));
      assert.equal(result.ok, false);
      if (result.ok) return;
      for (const e of expected) {
        assert.ok(result.errors.some((err) => err.includes(e)), `expected an error containing ${JSON.stringify(e)}, got:\n${result.errors.join("\n")}`);
      }
    });
  }
});

describe("npm run render (real CLI process)", () => {
  const cli = ["--import", "tsx", path.join(ROOT, "infra/cli/render.ts")];

  test("bad config: exit 1, every problem printed, nothing written", () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "render-bad-"));
    const r = spawnSync(process.execPath, [...cli, "--stack", "bad-sizes", "--stack-dir", BAD, "--out", out], { encoding: "utf8" });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /matrix:synapse\.maxUploadSize/);
    assert.match(r.stderr, /matrix:synapse\.memoryLimit/);
    assert.match(r.stderr, /nothing was written/);
    assert.deepEqual(fs.readdirSync(out), []);
  });

  for (const stack of ["local", "dev", "prod"]) {
    test(`${stack}: every file and plan.json, no secret in clear`, () => {
      const out = fs.mkdtempSync(path.join(os.tmpdir(), `render-${stack}-`));
      const r = spawnSync(process.execPath, [...cli, "--stack", stack, "--out", out], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      const planned = JSON.parse(fs.readFileSync(path.join(out, "plan.json"), "utf8"));
      assert.deepEqual(planned.containers.map((c: { name: string }) => c.name), [`mx-${stack}-postgres`, `mx-${stack}-synapse`, `mx-${stack}-bridge-queue`, `mx-${stack}-qq`, `mx-${stack}-wechat`, `mx-${stack}-docker-filter`, `mx-${stack}-watchdog`]);
      for (const c of planned.containers) for (const p of c.ports) assert.match(p, /^127\.0\.0\.1:/);
      assert.deepEqual(planned.containers[0].env, ["POSTGRES_USER", "POSTGRES_PASSWORD_FILE", "POSTGRES_DB", "POSTGRES_INITDB_ARGS"]);
      // The DNS record, the Worker and its route; the origin certificate, Full (strict) and authenticated origin pulls.
      assert.deepEqual(planned.cloudflare.map((c: { type: string }) => c.type), stack === "local" ? [] : ["DnsRecord", "WorkersScript", "WorkersRoute", "OriginCaCertificate", "ZoneSetting", "ZoneSetting"]);
      assert.deepEqual(planned.https, stack === "local" ? { source: "none" } : { source: "cloudflare", port: 443, certificate: `/opt/matrix-kit/${stack}/tls/certificate.pem`, clientCertificateCa: `/opt/matrix-kit/${stack}/tls/origin-pull-ca.pem` });
      const hs = fs.readFileSync(path.join(out, `opt/matrix-kit/${stack}/synapse/homeserver.yaml`), "utf8");
      assert.match(hs, /macaroon_secret_key: REDACTED-macaroonSecretKey/);
      assert.ok(fs.existsSync(path.join(out, `etc/nginx/conf.d/matrix-kit-${stack}.conf`)));
      assert.equal(fs.existsSync(path.join(out, "cloudflare/well-known.mjs")), stack !== "local");
    });
  }
});

describe("matrix:nginx.trustedProxies", () => {
  const prodWith = (change: (values: Record<string, any>) => void) => {
    const raw = readStackFile(stackFilePath("prod"));
    change(raw.values);
    const v = validate("prod", raw, { requireSecrets: false });
    assert.ok(v.ok, v.ok ? "" : v.errors.join("\n"));
    return v.settings.nginx.trustedProxies;
  };

  test("Cloudflare on but not proxying (DNS only): clients connect directly, nobody's CF-Connecting-IP is believed", () => {
    assert.deepEqual(prodWith((v) => (v["matrix:cloudflare"] = { ...v["matrix:cloudflare"], proxied: false })), []);
  });

  test("set, it replaces Cloudflare's ranges, also with an empty list", () => {
    assert.deepEqual(prodWith((v) => (v["matrix:nginx"] = { ...v["matrix:nginx"], trustedProxies: ["192.0.2.0/24", "2001:db8::/32"] })), ["192.0.2.0/24", "2001:db8::/32"]);
    assert.deepEqual(prodWith((v) => (v["matrix:nginx"] = { ...v["matrix:nginx"], trustedProxies: [] })), []);
  });
});
