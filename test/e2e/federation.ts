/**
 * Federation between two real servers, registered inside the e2e suite's
 * describe. A second Synapse (the run's kit-e2e/synapse image, SQLite, server name
 * other.e2e.localhost:8448, TLS with a certificate from the run's CA) joins the kit's Docker
 * network. The kit's Synapse reaches it by its network alias; it reaches the kit as any server
 * would: <domain>/.well-known/matrix/server from the Worker (workerd), then the Matrix host on
 * 443 through a TLS front playing Cloudflare's edge, then host nginx. Four `pulumi up`s (the
 * harness's update) walk through the modes, a fifth puts the stack's settings back:
 *   open (limit 0.05): both ways, and a room above the limit refused with the kit's text;
 *   allow-list without the peer: refused both ways; with it: both ways;
 *   off: nginx gives the federation paths no route, and both ways are refused.
 * The steps and Synapse's answers: test/e2e/federation-scenario.ts (also run now, without Docker, by
 * test/render/federation-two-servers.test.ts); the peer's settings: test/e2e/federation-peer.ts.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { Miniflare } from "miniflare";
import { stringify } from "yaml";
import { readStackFile, stackFilePath } from "../../infra/config/load";
import { COMPATIBILITY_DATE } from "../../infra/render/worker";
import { containerName, networkName, type Settings } from "../../infra/settings";
import { json, request } from "../harness/http";
import { docker, oldNginxWorkersGone, poll, reloadHostNginx } from "../harness/wait";
import { federationStepValues, FRONT_PORT, KIT_CA_PATH, PEER, peerFrontConf, peerHomeserver, TEST_LIMIT as LIMIT } from "./federation-peer";
import { federationScenario, said } from "./federation-scenario";
import type { MatrixCall } from "./client";

export interface FederationContext {
  s: Settings;
  e2eDir: string;
  summary: string[];
  /** The owner's access token (on the kit). */
  token: () => string;
  /** The kit's client API through host nginx. */
  matrix: MatrixCall;
  /** The Worker script the last apply or update recorded. */
  workerScript: () => string;
  /** A `pulumi up` (the harness's update) with these stack values over the run's; {} is the run's own. */
  update: (values: Record<string, unknown>) => Promise<string[]>;
}

const FRONT_CONF = "/etc/nginx/conf.d/zz-matrix-kit-e2e-federation-front.conf";
/** GET argv[2] trusting the CA file argv[1], no proxy: prints "<status> <body>", an HTTP error's too. */
const GET_SCRIPT = [
  "import ssl, sys, urllib.error, urllib.request",
  "ctx = ssl.create_default_context(cafile=sys.argv[1])",
  "opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx))",
  "try:",
  "    r = opener.open(sys.argv[2], timeout=20)",
  "except urllib.error.HTTPError as e:",
  "    r = e",
  "sys.stdout.write(f\"{r.status} {r.read().decode()}\")",
].join("\n");
const WORKER_PORT = 8791;

export function federationTests(ctx: FederationContext): void {
  const { s } = ctx;
  const p = s.namePrefix;
  const peerDir = `${ctx.e2eDir}/federation-peer`;
  const peer = { host: "127.0.0.1", port: 0 };
  let alice = "";
  let subnet = "";
  let front: Miniflare | undefined;
  let restored = true;

  const atPeer = (method: string, path: string, token?: string, body?: unknown) =>
    request({
      ...peer,
      method,
      path,
      headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      timeoutMs: 120_000,
    });
  const atKit = (method: string, path: string, body?: unknown) => ctx.matrix(method, path, ctx.token(), body);
  const scenario = federationScenario({
    kit: atKit,
    peer: (method, path, body) => atPeer(method, path, alice, body),
    kitServer: s.domain,
    peerServer: PEER.serverName,
    limit: LIMIT,
    summary: ctx.summary,
  });
  const values = (federation: Record<string, unknown>) => federationStepValues(readStackFile(stackFilePath(s.stack)).values["matrix:synapse"] as object, subnet, federation);
  const serveWorker = () => front?.setOptions({ modules: true, script: ctx.workerScript(), compatibilityDate: COMPATIBILITY_DATE, host: "127.0.0.1", port: WORKER_PORT });
  const step = async (label: string, v: Record<string, unknown>) => {
    restored = false;
    const done = await ctx.update(v);
    assert.ok(done.includes(`${p}-synapse-container`), `${label}: Synapse restarted with its new homeserver.yaml (${done.join(", ")})`);
    await serveWorker();
    ctx.summary.push(`federation: ${label}: the update replaced or updated ${done.join(", ")}`);
    return done;
  };
  /**
   * A GET from inside a container (the kit's Synapse or the peer), trusting the run's CA: "<status> <body>".
   * Python's urllib, not curl: it resolves names through getaddrinfo (/etc/hosts, Docker's DNS) as
   * Synapse's Twisted does, where curl (7.78 and later) takes every *.localhost name for loopback.
   */
  const curlFrom = (container: string, ca: string, url: string) => docker("exec", container, "python3", "-c", GET_SCRIPT, ca, url);
  const fromPeer = (url: string) => curlFrom(PEER.container, `${PEER.dataDir}/ca.pem`, url);
  /** Host nginx's reload (the update's last step when the site changed) done: no old worker left to take a connection. */
  const nginxReloaded = () => poll("host nginx's old workers to exit", 60_000, () => (oldNginxWorkersGone() ? true : undefined), 250);

  describe("federation with a second homeserver (other.e2e.localhost:8448) on the kit's network", { concurrency: false }, () => {
    before(async () => {
      spawnQuiet(["docker", "rm", "-f", PEER.container]);
      const net = docker("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}\n{{end}}", networkName(s)).split("\n").map((l) => l.trim().split(" ")).find(([sub]) => sub.includes("."));
      assert.ok(net && net[1], `an IPv4 subnet and gateway on ${networkName(s)}`);
      subnet = net[0];
      const gateway = net[1];
      // The peer's data: its config, a fresh signing key, the run's CA and the peer's certificate.
      fs.rmSync(peerDir, { recursive: true, force: true });
      fs.mkdirSync(peerDir, { recursive: true });
      const secret = randomBytes(16).toString("hex");
      fs.writeFileSync(`${peerDir}/homeserver.yaml`, stringify(peerHomeserver({ dataDir: PEER.dataDir, subnet, registrationSecret: secret })));
      fs.writeFileSync(`${peerDir}/signing.key`, `ed25519 a_peer ${randomBytes(32).toString("base64").replace(/=+$/, "")}\n`);
      fs.copyFileSync(`${ctx.e2eDir}/tls/ca.pem`, `${peerDir}/ca.pem`);
      fs.copyFileSync(`${ctx.e2eDir}/tls/peer.pem`, `${peerDir}/tls.pem`);
      fs.copyFileSync(`${ctx.e2eDir}/tls/peer.key`, `${peerDir}/tls.key`);
      // --network-alias: the kit's Synapse finds it by name; --add-host: it finds the kit at the
      // front on the gateway. Root inside (UID 0): its folder is the run's, owned by root.
      docker(
        "run", "-d", "--name", PEER.container, "--network", networkName(s), "--network-alias", PEER.host,
        "--add-host", `${s.domain}:${gateway}`, "--add-host", `${s.matrixHost}:${gateway}`,
        "-p", `127.0.0.1::${PEER.clientPort}`, "-v", `${peerDir}:${PEER.dataDir}`,
        "-e", `SYNAPSE_CONFIG_PATH=${PEER.dataDir}/homeserver.yaml`, "-e", "UID=0", "-e", "GID=0",
        ...["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"].flatMap((v) => ["-e", `${v}=`]),
        s.synapse.image,
      );
      peer.port = Number(docker("port", PEER.container, `${PEER.clientPort}/tcp`).split("\n")[0].split(":").pop());
      await poll("the peer to be healthy", 120_000, () => (docker("inspect", "-f", "{{.State.Health.Status}}", PEER.container) === "healthy" ? true : undefined));
      const password = randomBytes(12).toString("hex");
      docker("exec", PEER.container, "register_new_matrix_user", "-u", "alice", "-p", password, "--no-admin", "-c", `${PEER.dataDir}/homeserver.yaml`, `http://localhost:${PEER.clientPort}`);
      const login = await atPeer("POST", "/_matrix/client/v3/login", undefined, { type: "m.login.password", identifier: { type: "m.id.user", user: "alice" }, password });
      assert.equal(login.status, 200, said(login));
      alice = json(login).access_token;
      assert.equal(json(login).user_id, `@alice:${PEER.serverName}`);
      // The run's CA in the kit's Synapse volume, where the test's federation_custom_ca_list points.
      docker("cp", `${ctx.e2eDir}/tls/ca.pem`, `${containerName(s, "synapse")}:${KIT_CA_PATH}`);
      // The edge for the peer: the Worker in workerd, and nginx on the gateway's 443.
      front = new Miniflare({ modules: true, script: ctx.workerScript(), compatibilityDate: COMPATIBILITY_DATE, host: "127.0.0.1", port: WORKER_PORT });
      await front.ready;
      fs.writeFileSync(FRONT_CONF, peerFrontConf({ s, listen: gateway, tlsDir: `${ctx.e2eDir}/tls`, workerPort: WORKER_PORT }));
      await reloadHostNginx();
      const wellKnown = await poll("the peer to read the kit's m.server through the front", 30_000, () => {
        const got = fromPeer(`https://${s.domain}/.well-known/matrix/server`);
        return got.startsWith("200 ") ? got : undefined;
      });
      assert.deepEqual(JSON.parse(wellKnown.slice(4)), { "m.server": `${s.matrixHost}:${FRONT_PORT}` });
    });

    after(async () => {
      if (!restored) await ctx.update({}).catch((e: Error) => ctx.summary.push(`federation: putting the stack's settings back failed: ${e.message}`));
      spawnQuiet(["docker", "rm", "-f", PEER.container]);
      spawnQuiet(["docker", "exec", "-u", "0", containerName(s, "synapse"), "rm", "-f", KIT_CA_PATH]);
      fs.rmSync(FRONT_CONF, { force: true });
      spawnQuiet(["nginx", "-s", "reload"]);
      await front?.dispose();
      fs.rmSync(peerDir, { recursive: true, force: true });
    });

    test(`open (roomComplexityLimit ${LIMIT}): the owner joins a room on the peer and messages cross both ways; the peer's user joins a room on the kit through nginx; a room above the limit is refused with the kit's text`, async () => {
      await step("open", values({ mode: "open" }));
      // Each side reaches the other, TLS checked against the run's CA.
      assert.match(curlFrom(containerName(s, "synapse"), KIT_CA_PATH, `https://${PEER.serverName}/_matrix/federation/v1/version`), /^200 .*"Synapse"/);
      assert.match(fromPeer(`https://${s.matrixHost}/_matrix/federation/v1/version`), /^200 .*"Synapse"/);
      await scenario.open();
    });

    test("allow-list without the peer (matrix.org only): the kit refuses the peer's join, and the owner cannot join a room on the peer", async () => {
      await step("allow-list [matrix.org]", values({ mode: "allow-list", allowedServers: ["matrix.org"] }));
      await scenario.allowListWithout();
    });

    test("allow-list with the peer: the same two joins work, and a message crosses", async () => {
      await step(`allow-list [${PEER.serverName}]`, values({ mode: "allow-list", allowedServers: [PEER.serverName] }));
      await scenario.allowListWith();
    });

    test("off: nginx gives the federation paths no route and no m.server is published; the peer's join gets nginx's 404, the owner's join is refused", async () => {
      const done = await step("off", values({ mode: "off" }));
      // The nginx site and the Worker (no m.server) change with the mode, beside homeserver.yaml.
      for (const n of [`${p}-nginx-site`, `${p}-edge-well-known`]) assert.ok(done.includes(n), `${n} in ${done.join(", ")}`);
      await nginxReloaded();
      // From where the peer stands: the front, then host nginx. nginx's own 404 page, not Synapse's JSON.
      for (const path of ["/_matrix/federation/v1/version", "/_matrix/key/v2/server"]) {
        const got = await poll(`nginx's own 404 for ${path}`, 30_000, () => {
          const answer = fromPeer(`https://${s.matrixHost}${path}`);
          if (!/^404 /.test(answer) || /errcode/.test(answer)) throw new Error(answer.slice(0, 200));
          return answer;
        });
        assert.match(got, /<center>nginx/, path);
      }
      assert.match(fromPeer(`https://${s.domain}/.well-known/matrix/server`), /^404 /);
      assert.equal((await atKit("GET", "/_matrix/client/versions")).status, 200, "clients still get through");
      // The peer still has the kit's m.server from its cache (the Worker's max-age 3600; http/federation/
      // well_known_resolver.py keeps it at least 5 minutes), so it asks nginx, which has no route.
      await scenario.off();
    });

    test("the stack's own settings back: open, the default limit, no test keys; the federation API answers through nginx again", async () => {
      const done = await ctx.update({});
      restored = true;
      assert.ok(done.includes(`${p}-synapse-container`), done.join(", "));
      await serveWorker();
      await nginxReloaded();
      const v = await poll("the federation API through nginx", 30_000, async () => {
        const answer = await atKit("GET", "/_matrix/federation/v1/version");
        if (answer.status !== 200) throw new Error(said(answer));
        return answer;
      });
      assert.equal(json(v).server.name, "Synapse");
      ctx.summary.push(`federation: back to the stack's settings: the update replaced or updated ${done.join(", ")}`);
    });
  });
}

/** A clean-up command whose failure (nothing to remove) does not matter. */
function spawnQuiet(cmd: string[]): void {
  try {
    execFileSync(cmd[0], cmd.slice(1), { stdio: "ignore" });
  } catch {
    // nothing to clean up
  }
}
