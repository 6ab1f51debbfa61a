/**
 * What the federation e2e (test/e2e/federation.ts) renders for itself, judged by the real tools:
 * the second homeserver's homeserver.yaml by Synapse's own config loader (the venv of
 * test/setup/validators.sh, the version the e2e image runs) with a CA and certificate made here
 * as test/e2e/vps.sh makes them; the TLS front by a private nginx serving it, with the e2e stack's
 * Worker in workerd behind it; the kit's test-only keys as the kit's renderer merges them.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { Miniflare } from "miniflare";
import { parse, stringify } from "yaml";
import { readStackFile, stackFilePath } from "../../infra/config/load";
import { homeserverConfig } from "../../infra/render/homeserver";
import { COMPATIBILITY_DATE, renderWorker } from "../../infra/render/worker";
import { deriveSecrets } from "../../infra/secrets";
import { freePort } from "../harness/http";
import { privateNginxConf } from "../harness/private-nginx";
import { makeCertificate } from "../harness/tls";
import { stackSettings } from "../harness/stacks";
import { poll } from "../harness/wait";
import { federationStepValues, KIT_CA_PATH, PEER, peerFrontConf, peerHomeserver } from "../e2e/federation-peer";

const ROOT = path.resolve(__dirname, "../..");
const VENV_PYTHON = path.join(ROOT, ".cache/synapse-venv/bin/python");
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "kit-fed-peer-"));
after(() => fs.rmSync(TMP, { recursive: true, force: true }));
const SUBNET = "172.18.0.0/16";

/** What Synapse's loader understood of the peer's federation settings (one JSON line), or its refusal. */
const LOAD = `
import json, sys
from synapse.config.homeserver import HomeServerConfig
c = HomeServerConfig.load_config("synapse", ["-c", sys.argv[1]])
print(json.dumps({
  "server_name": c.server.server_name,
  "listeners": sorted([l.port, l.tls, sorted(n for r in l.http_options.resources for n in r.names)] for l in c.server.listeners),
  "custom_ca": c.tls.federation_ca_trust_root is not None,
  "subnet_allowed": "172.18.0.1" in c.server.federation_ip_range_allowlist,
  "whitelist": c.federation.federation_domain_whitelist,
  "key_servers": [k.server_name for k in c.key.key_servers],
  "retry_ms": [c.federation.destination_min_retry_interval_ms, c.federation.destination_max_retry_interval_ms],
  "signing_key_ids": [f"{k.alg}:{k.version}" for k in c.key.signing_key],
}))
`;

function loadPeer(dir: string): { status: number | null; stdout: string; stderr: string } {
  assert.ok(fs.existsSync(VENV_PYTHON), "Synapse's venv is missing: run `bash test/setup/validators.sh` as root");
  fs.writeFileSync(`${dir}/homeserver.yaml`, stringify(peerHomeserver({ dataDir: dir, subnet: SUBNET, registrationSecret: "s3cret" })));
  fs.writeFileSync(`${dir}/signing.key`, "ed25519 a_peer 6XuQvzJ4fuS+PxGm5m2zhSmu2c9Ihs1TRbfpR/DFu2o\n");
  return spawnSync(VENV_PYTHON, ["-c", LOAD, `${dir}/homeserver.yaml`], { encoding: "utf8", timeout: 120_000 });
}

test("real Synapse's loader accepts the peer's homeserver.yaml: TLS federation on 8448 with the run's CA, the client API on 8008, the Docker subnet allowed, quick retries, no key server", () => {
  const dir = path.join(TMP, "peer");
  makeCertificate(dir, "tls", PEER.host);
  const r = loadPeer(dir);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim().split("\n").pop()!), {
    server_name: PEER.serverName,
    listeners: [
      [PEER.clientPort, false, ["client"]],
      [PEER.federationPort, true, ["federation"]],
    ],
    custom_ca: true,
    subnet_allowed: true,
    whitelist: null,
    key_servers: [],
    retry_ms: [2000, 10000],
    signing_key_ids: ["ed25519:a_peer"],
  });
});

test("real Synapse's loader refuses the peer's config when its CA file is not a certificate (the check can fail)", () => {
  const dir = path.join(TMP, "peer-bad-ca");
  makeCertificate(dir, "tls", PEER.host);
  fs.writeFileSync(`${dir}/ca.pem`, "not a certificate\n");
  const r = loadPeer(dir);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /Error parsing custom CA certificate file/);
});

test("the kit's homeserver.yaml in each federation step keeps the mode's keys and adds the test-only ones (matrix:synapse.extraConfig)", () => {
  const stackSynapse = readStackFile(stackFilePath("e2e")).values["matrix:synapse"] as object;
  const sec = deriveSecrets("e2e-federation-test-seed");
  for (const [mode, whitelist] of [["open", undefined], ["off", []]] as const) {
    const s = stackSettings("e2e", federationStepValues(stackSynapse, SUBNET, { mode }));
    // Through YAML and back, as Synapse reads it.
    const hs = parse(stringify(homeserverConfig(s, sec))) as Record<string, any>;
    assert.deepEqual(hs.federation_custom_ca_list, [KIT_CA_PATH]);
    assert.deepEqual(hs.ip_range_whitelist, [SUBNET]);
    assert.deepEqual(hs.trusted_key_servers, [], "no key server: none can be reached from the e2e machine");
    assert.deepEqual(hs.federation, { destination_min_retry_interval: "2s", destination_max_retry_interval: "10s" });
    assert.deepEqual(hs.federation_domain_whitelist, whitelist, mode);
    assert.equal(hs.limit_remote_rooms.complexity, 0.05);
  }
});

test("the TLS front, served by a real nginx: the domain answers with the e2e stack's Worker (workerd), the Matrix host reaches host nginx with its Host, both with certificates from the run's CA", async () => {
  const dir = path.join(TMP, "front");
  makeCertificate(dir, "server", "e2e.localhost", "matrix.e2e.localhost");
  const [frontPort, workerPort, upstreamPort] = [await freePort(), await freePort(), await freePort()];
  const base = stackSettings("e2e");
  const s = { ...base, nginx: { ...base.nginx, httpPort: upstreamPort } };
  const worker = new Miniflare({ modules: true, script: renderWorker(base), compatibilityDate: COMPATIBILITY_DATE, host: "127.0.0.1", port: workerPort });
  const seen: string[] = [];
  const upstream = http.createServer((req, res) => {
    seen.push(`${req.headers.host} ${req.url}`);
    res.end("host nginx");
  });
  await new Promise<void>((resolve) => upstream.listen(upstreamPort, "127.0.0.1", resolve));
  const site = path.join(dir, "front.conf");
  fs.writeFileSync(site, peerFrontConf({ s, listen: "127.0.0.1", port: frontPort, tlsDir: dir, workerPort }));
  const nginx = spawn("nginx", ["-p", dir, "-e", `${dir}/error.log`, "-c", privateNginxConf(dir, site), "-g", "daemon off;"], { stdio: "ignore" });
  const get = (host: string, p: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = https.request({ host: "127.0.0.1", port: frontPort, path: p, servername: host, headers: { Host: `${host}:443` }, ca: fs.readFileSync(`${dir}/ca.pem`) }, (res) => {
        let body = "";
        res.on("data", (c) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode!, body }));
      });
      req.on("error", reject);
      req.end();
    });
  try {
    await worker.ready;
    const wellKnown = await poll("the front to answer", 20_000, () => get(base.domain, "/.well-known/matrix/server"));
    assert.deepEqual({ status: wellKnown.status, body: JSON.parse(wellKnown.body) }, { status: 200, body: { "m.server": `${base.matrixHost}:443` } });
    const matrix = await get(base.matrixHost, "/_matrix/federation/v1/version");
    assert.deepEqual(matrix, { status: 200, body: "host nginx" });
    assert.deepEqual(seen, [`${base.matrixHost} /_matrix/federation/v1/version`], "the Matrix host's requests reach host nginx with its name as Host");
    // A name the certificate does not cover is refused by the client's check: the CA is what is trusted.
    await assert.rejects(get("other.example", "/"), /altnames|Hostname\/IP does not match/);
  } finally {
    nginx.kill();
    upstream.close();
    await worker.dispose();
  }
});
