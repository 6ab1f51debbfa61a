/**
 * HTTPS with no hand step, the real program under Pulumi's MOCK runtime: Cloudflare's resources
 * and calls (its API cannot be reached here) asserted with their exact inputs in the provider's
 * own types; the tls provider's key and request made for real, and Cloudflare's Origin CA played
 * by a MOCK that signs the request (test/harness/computed.ts). ACME's files and order. The
 * owner's account.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import cloudflareOriginPullCa from "../../infra/data/cloudflare-origin-pull-ca.json";
import { rotationWindow } from "../../infra/components/origin-certificate";
import { renderAcmeCron, renderAcmeScript } from "../../infra/render/acme";
import { deriveSecrets } from "../../infra/secrets";
import { originCaDir } from "../harness/computed";
import { one, runProgram, stdinOf, TEST_SECRETS, type ProgramRun, type RunConfig } from "../harness/program";
import { settingsFromStackFile, validate } from "../../infra/config";

const P = "mx-prod";
const ZONE = "00112233445566778899aabbccddeeff";
const names = (run: ProgramRun, prefix: string) => run.resources.filter((r) => r.name.startsWith(prefix)).map((r) => r.name);

/** warnings and infos the program logged, by run. */
async function logged(rc: RunConfig): Promise<{ run: ProgramRun; warn: string[]; info: string[] }> {
  const warn: string[] = [];
  const info: string[] = [];
  const saved = { warn: pulumi.log.warn, info: pulumi.log.info };
  pulumi.log.warn = (async (m: string) => void warn.push(m)) as typeof pulumi.log.warn;
  pulumi.log.info = (async (m: string) => void info.push(m)) as typeof pulumi.log.info;
  try {
    return { run: await runProgram(rc), warn, info };
  } finally {
    Object.assign(pulumi.log, saved);
  }
}

describe("Cloudflare's origin certificate, Full (strict) and authenticated origin pulls (prod stack, Cloudflare's API a MOCK)", () => {
  test("a key and request made with @pulumi/tls, the certificate from Cloudflare's Origin CA for the Matrix host, placed for nginx (the key a secret, 0600)", async () => {
    const run = await runProgram({ stack: "prod", secrets: TEST_SECRETS });
    assert.deepEqual(one(run, `${P}-edge-origin-key`).inputs, { algorithm: "ECDSA", ecdsaCurve: "P256" });
    const request = one(run, `${P}-edge-origin-request`);
    assert.deepEqual({ ...request.inputs, privateKeyPem: "(the key's)" }, { privateKeyPem: "(the key's)", subject: { commonName: "matrix.example.com", organization: "matrix-kit" }, dnsNames: ["matrix.example.com"] });
    const certificate = one(run, `${P}-edge-origin-certificate`);
    assert.deepEqual({ ...certificate.inputs, csr: "(the request's)" }, { csr: "(the request's)", hostnames: ["matrix.example.com"], requestType: "origin-ecc", requestedValidity: 365 });
    assert.match(certificate.inputs.csr, /^-----BEGIN CERTIFICATE REQUEST-----/);

    const keyFile = one(run, `${P}-edge-origin-key-file-write`);
    assert.ok(keyFile.secretPaths.includes("stdin"), "the key is a Pulumi secret");
    assert.match(keyFile.inputs.stdin, /^-----BEGIN PRIVATE KEY-----/);
    assert.match(keyFile.inputs.create, /chown 0:0 "\$tmp"\nchmod 0600 "\$tmp"\nmv -f "\$tmp" '\/opt\/matrix-kit\/prod\/tls\/certificate\.key'/);
    const certFile = one(run, `${P}-edge-origin-certificate-file-write`);
    assert.match(certFile.inputs.create, /chmod 0644 "\$tmp"\nmv -f "\$tmp" '\/opt\/matrix-kit\/prod\/tls\/certificate\.pem'/);
    // The certificate placed is the Origin CA's answer to that request, for the Matrix host.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kit-https-"));
    fs.writeFileSync(`${dir}/cert.pem`, certFile.inputs.stdin);
    const verify = spawnSync("openssl", ["verify", "-CAfile", `${originCaDir()}/ca.pem`, `${dir}/cert.pem`], { encoding: "utf8" });
    assert.equal(verify.status, 0, verify.stderr);
    assert.match(spawnSync("openssl", ["x509", "-noout", "-ext", "subjectAltName", "-in", `${dir}/cert.pem`], { encoding: "utf8" }).stdout, /DNS:matrix\.example\.com/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("the zone: Full (strict) after the certificate is on the VPS, then authenticated origin pulls; nginx requires Cloudflare's client certificate only after both", async () => {
    const run = await runProgram({ stack: "prod", secrets: TEST_SECRETS });
    // A component's dependents wait for each of its children: the files' writes.
    const files = [`${P}-edge-origin-key-file-write`, `${P}-edge-origin-certificate-file-write`, `${P}-edge-origin-pull-ca-write`];
    const strict = one(run, `${P}-edge-ssl-strict`);
    assert.deepEqual(strict.inputs, { zoneId: ZONE, settingId: "ssl", value: "strict" });
    for (const f of files) assert.ok(strict.dependencies.includes(f), `Full (strict) waits for ${f}`);
    const pulls = one(run, `${P}-edge-origin-pulls`);
    assert.deepEqual(pulls.inputs, { zoneId: ZONE, settingId: "tls_client_auth", value: "on" });
    assert.ok(pulls.dependencies.includes(`${P}-edge-ssl-strict`));
    const ca = one(run, `${P}-edge-origin-pull-ca-write`);
    assert.equal(ca.inputs.stdin, cloudflareOriginPullCa.pem);
    assert.match(ca.inputs.create, /chmod 0644 "\$tmp"\nmv -f "\$tmp" '\/opt\/matrix-kit\/prod\/tls\/origin-pull-ca\.pem'/);
    const site = one(run, `${P}-nginx-site`);
    for (const d of [`${P}-edge-ssl-strict`, `${P}-edge-origin-pulls`, ...files]) assert.ok(site.dependencies.includes(d), `the site waits for ${d}`);
    const text = stdinOf(run, `${P}-nginx-site`);
    assert.match(text, /listen 443 ssl;\n    listen \[::\]:443 ssl;\n    ssl_certificate \/opt\/matrix-kit\/prod\/tls\/certificate\.pem;\n    ssl_certificate_key \/opt\/matrix-kit\/prod\/tls\/certificate\.key;\n/);
    assert.match(text, /    ssl_client_certificate \/opt\/matrix-kit\/prod\/tls\/origin-pull-ca\.pem;\n    ssl_verify_client on;\n/);
    assert.match(text, /return 301 https:\/\/\$host\$request_uri;/, "port 80 redirects");
  });

  test("sslMode keep leaves the zone's mode, with a warning; without origin pulls nginx asks no client certificate", async () => {
    const values = { "matrix:cloudflare": { ...(settingsFromStackFile("prod").cloudflare as object), enabled: true, zoneId: ZONE, accountId: "ffeeddccbbaa99887766554433221100", originAddress: "198.51.100.7", sslMode: "keep", authenticatedOriginPulls: false } };
    for (const k of ["originPullCa", "workerName", "originCertificate"]) delete (values["matrix:cloudflare"] as Record<string, unknown>)[k];
    const { run, warn } = await logged({ stack: "prod", secrets: TEST_SECRETS, values });
    assert.deepEqual(names(run, `${P}-edge-ssl`), []);
    assert.deepEqual(names(run, `${P}-edge-origin-pull`), []);
    assert.ok(warn.some((w) => w.startsWith('matrix:cloudflare.sslMode is "keep": the zone\'s SSL mode is left as you have it.')), warn.join("\n"));
    assert.doesNotMatch(stdinOf(run, `${P}-nginx-site`), /ssl_client_certificate|ssl_verify_client/);
  });

  test("the certificate's key is replaced in the first update of each renewal window: at least renewBeforeDays before it expires", () => {
    const c = { validityDays: 365, renewBeforeDays: 30 };
    const day = 24 * 3600 * 1000;
    const start = 335 * 20 * day;
    assert.equal(rotationWindow(c, start), "window-20");
    assert.equal(rotationWindow(c, start + 334 * day), "window-20");
    assert.equal(rotationWindow(c, start + 335 * day), "window-21");
    // Made on the window's first day or its last, the certificate has at least 30 days left when the next window starts.
    for (const madeAt of [start, start + 334.9 * day]) assert.ok(madeAt + 365 * day - (start + 335 * day) >= 30 * day);
  });

  test("a token that is no Cloudflare API token stops the run before any resource, naming the setting", async () => {
    for (const [token, says] of [
      ["0123456789abcdef0123456789abcdef01234", "it looks like a Global API Key"],
      ["Bearer abcdefghijklmnopqrstuvwxyz0123456789ABCD", "it has spaces or line breaks in it"],
      ["short-token", "it is 11 characters of which some are not letters, digits, _ or -"],
    ]) {
      await assert.rejects(runProgram({ stack: "prod", secrets: { ...TEST_SECRETS, "matrix:cloudflareApiToken": token } }), (e: Error & { registered?: string[] }) => {
        assert.ok(pulumi.RunError.isInstance(e));
        assert.ok(e.message.startsWith("matrix:cloudflareApiToken is not a Cloudflare API token (40 or more letters, digits, _ and -): "), e.message);
        assert.ok(e.message.includes(says), e.message);
        assert.deepEqual((e.registered ?? []).filter((r) => !r.startsWith("pulumi:pulumi:Stack")), []);
        return true;
      });
    }
  });
});

describe("the apex: whether the Worker's route fires, read from the zone on every preview (Cloudflare's API a MOCK)", () => {
  const apex = (cloudflareRecords: RunConfig["cloudflareRecords"], apexRecord = "none") =>
    logged({ stack: "dev", secrets: TEST_SECRETS, cloudflareRecords, values: { "matrix:cloudflare": { enabled: true, zoneId: "0123456789abcdef0123456789abcdef", accountId: "fedcba9876543210fedcba9876543210", originAddress: "203.0.113.10", apexRecord } } });
  const placeholder = {
    zoneId: "0123456789abcdef0123456789abcdef", name: "dev.example.com", type: "AAAA", content: "100::", proxied: true, ttl: 1,
    comment: "matrix-kit dev: placeholder so the .well-known Worker's route fires",
  };

  test("the zone is asked for <domain>'s records with the stack's provider", async () => {
    const { run } = await apex([]);
    const call = run.invokes.find((i) => i.token === "cloudflare:index/getDnsRecords:getDnsRecords");
    assert.deepEqual(call?.inputs, { zoneId: "0123456789abcdef0123456789abcdef", name: { exact: "dev.example.com" } });
  });

  test("no record: a warning saying what to do; with apexRecord placeholder, a proxied AAAA 100:: record of the kit's", async () => {
    let r = await apex([]);
    assert.ok(r.warn.some((w) => w.startsWith("the zone has no record for dev.example.com, so the Worker's route on dev.example.com/.well-known/matrix/* will not fire")), r.warn.join("\n"));
    assert.deepEqual(names(r.run, "mx-dev-edge-apex"), []);
    r = await apex([], "placeholder");
    assert.deepEqual(one(r.run, "mx-dev-edge-apex-placeholder").inputs, placeholder);
    assert.ok(r.info.some((i) => i.includes("the kit keeps a proxied placeholder (AAAA 100::)")), r.info.join("\n"));
    // Its own placeholder, found on the next preview, is kept (it is not the owner's).
    r = await apex([{ type: "AAAA", content: "100::", proxied: true, comment: placeholder.comment }], "placeholder");
    assert.deepEqual(one(r.run, "mx-dev-edge-apex-placeholder").inputs, placeholder);
  });

  test("the owner's records are never changed: proxied, the route fires; not proxied, a warning and no placeholder", async () => {
    let r = await apex([{ type: "A", content: "203.0.113.99", proxied: true, comment: "" }], "placeholder");
    assert.ok(r.info.some((i) => i === "dev.example.com is proxied by Cloudflare (A 203.0.113.99): the Worker's route on dev.example.com/.well-known/matrix/* fires"), r.info.join("\n"));
    assert.deepEqual(names(r.run, "mx-dev-edge-apex"), []);
    r = await apex([{ type: "CNAME", content: "owner.github.io", proxied: false, comment: "my site" }], "placeholder");
    assert.ok(r.warn.some((w) => w.startsWith("dev.example.com has a record Cloudflare does not proxy (CNAME owner.github.io), so the Worker's route")), r.warn.join("\n"));
    assert.deepEqual(names(r.run, "mx-dev-edge-apex"), []);
  });
});

describe("HTTPS from an ACME CA without Cloudflare (certbot on the VPS)", () => {
  const values = { "matrix:cloudflare": { enabled: false }, "matrix:acme": { email: "owner@example.com" } };

  test("the default on a VPS without Cloudflare: certbot checked, a placeholder before the site, the first certificate after it, then the renewals' cron entry", async () => {
    const run = await runProgram({ stack: "dev", secrets: TEST_SECRETS, values });
    const s = validate("dev", { values: { ...Object.fromEntries(Object.entries(await import("../../infra/config").then((c) => c.readStackFile(c.stackFilePath("dev")).values))), ...values }, secretKeys: new Set() }, { requireSecrets: false });
    assert.ok(s.ok);
    assert.equal(s.settings.tlsSource, "acme");
    assert.ok(s.settings.acme.enabled);
    assert.match(one(run, "mx-dev-acme-certbot-check").inputs.create, /needs certbot on the VPS \(Debian\/Ubuntu: apt-get install certbot\)/);
    assert.equal(one(run, "mx-dev-acme-script-write").inputs.stdin, renderAcmeScript(s.settings, s.settings.acme));
    assert.equal(one(run, "mx-dev-acme-placeholder").inputs.create, "'/opt/matrix-kit/dev/acme/certificate.sh' placeholder");
    const site = one(run, "mx-dev-nginx-site");
    assert.ok(site.dependencies.includes("mx-dev-acme-placeholder"), "nginx loads the site with a certificate in place");
    const issue = one(run, "mx-dev-acme-issue");
    assert.equal(issue.inputs.create, "'/opt/matrix-kit/dev/acme/certificate.sh' issue");
    assert.deepEqual(issue.inputs.triggers, ["matrix.dev.example.com", "dev.example.com", "https://acme-v02.api.letsencrypt.org/directory"]);
    assert.ok(issue.dependencies.includes("mx-dev-nginx-site"), "the CA's HTTP-01 check needs the site live");
    const cron = one(run, "mx-dev-acme-cron-write");
    assert.equal(cron.inputs.stdin, renderAcmeCron(s.settings, s.settings.acme));
    assert.match(cron.inputs.stdin, /^23 3,15 \* \* \* root \/opt\/matrix-kit\/dev\/acme\/certificate\.sh renew >>\/var\/log\/mx-dev-acme\.log 2>&1$/m);
    const text = stdinOf(run, "mx-dev-nginx-site");
    assert.match(text, /location \^~ \/\.well-known\/acme-challenge\/ \{\n        root \/opt\/matrix-kit\/dev\/acme\/webroot;\n        default_type text\/plain;\n    \}\n\n    location \/ \{\n        return 301 https:\/\/\$host\$request_uri;\n    \}/);
    assert.match(text, /ssl_certificate \/opt\/matrix-kit\/dev\/tls\/certificate\.pem;/);
    assert.doesNotMatch(text, /ssl_verify_client/);
    assert.deepEqual(names(run, "mx-dev-edge"), []);
  });
});

describe("the owner's account, made by pulumi up", () => {
  test("once Synapse is healthy: an admin registered with the shared secret inside Synapse's container, the program (with the password) a secret on stdin", async () => {
    const run = await runProgram({ stack: "prod", secrets: TEST_SECRETS });
    const owner = one(run, `${P}-synapse-owner`);
    assert.equal(owner.inputs.create, "docker exec -i 'mx-prod-synapse' python -");
    assert.ok(owner.secretPaths.includes("stdin"));
    assert.ok(owner.dependencies.includes(`${P}-synapse-healthy`));
    const sec = deriveSecrets(TEST_SECRETS["matrix:secretSeed"]);
    const config = JSON.parse(JSON.parse(/^CONFIG = json\.loads\((.*)\)$/m.exec(owner.inputs.stdin)![1]));
    assert.deepEqual(config, { homeserver: "http://localhost:8008", sharedSecret: sec.registrationSharedSecret, localpart: "owner", userId: "@owner:example.com", password: sec.ownerPassword });
    assert.match(owner.inputs.stdin, /^def register\(m: Matrix, shared_secret: str, user: str, password: str, admin: bool\)/m, "kit_matrix.py's registration");
    assert.match(owner.inputs.stdin, /made = register\(m, CONFIG\["sharedSecret"\], CONFIG\["localpart"\], CONFIG\["password"\], True\)/);
    assert.equal(run.outputs.ownerPassword, sec.ownerPassword);
    const next = run.outputs.nextSteps as string[];
    assert.match(next[0], /^Sign in with Element at https:\/\/matrix\.example\.com as @owner:example\.com, with the password `pulumi stack output --show-secrets ownerPassword` shows, and change it in Element's settings$/);
    assert.ok(!next.some((n) => /docker exec|register_new_matrix_user/.test(n)), "no shell command to run on the VPS");
  });

  test("matrix:ownerPassword, set beforehand as a secret, is the first password instead", async () => {
    const run = await runProgram({ stack: "prod", secrets: { ...TEST_SECRETS, "matrix:ownerPassword": "the owner's own first password" } });
    assert.match(one(run, `${P}-synapse-owner`).inputs.stdin, /\\"password\\":\\"the owner's own first password\\"/);
    assert.equal(run.outputs.ownerPassword, "the owner's own first password");
  });
});
