/**
 * The federation settings between two real servers, without Docker: two Synapse
 * processes (the venv of test/setup/validators.sh, the version the kit deploys) on loopback,
 * with SQLite, and a real private nginx. The kit's side is configured as the kit renders it for
 * each mode (render/federation.ts's keys and listener resources, merged with the e2e's test-only
 * keys as matrix:synapse.extraConfig merges them) behind the kit's rendered nginx site and the
 * e2e's TLS front; the other side is the e2e's peer (test/e2e/federation-peer.ts). The steps and
 * the answers they expect are the e2e's own (test/e2e/federation-scenario.ts).
 *
 * Differences from the e2e: both servers are named localhost:<port> (an explicit port: no
 * .well-known lookup, which the e2e makes through the Worker), and the kit's Synapse is restarted
 * with each mode's homeserver.yaml by the test instead of by `pulumi up`.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { stringify } from "yaml";
import { readStackFile, stackFilePath } from "../../infra/config/load";
import { federationConfig, listenerResources } from "../../infra/render/federation";
import { renderNginxSite } from "../../infra/render/nginx";
import { deepMerge } from "../../infra/render/yaml";
import type { Settings } from "../../infra/settings";
import { freePort, json, request } from "../harness/http";
import { privateNginxConf } from "../harness/private-nginx";
import { stackSettings } from "../harness/stacks";
import { makeCertificate } from "../harness/tls";
import { poll } from "../harness/wait";
import { federationStepValues, peerFrontConf, peerHomeserver, TEST_LIMIT } from "../e2e/federation-peer";
import { federationScenario, type Client } from "../e2e/federation-scenario";

const ROOT = path.resolve(__dirname, "../..");
const VENV_BIN = path.join(ROOT, ".cache/synapse-venv/bin");
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "kit-fed-two-"));
const LOOPBACK = "127.0.0.0/8";
const SECRET = "two-servers-registration-secret";
/** Synapse must not send federation through a proxy from the environment (config/server.py parse_proxy_config). */
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(https?|no)_proxy$/i.test(k)));

interface Server {
  dir: string;
  config: string;
  clientPort: number;
  proc?: ChildProcess;
}

async function start(server: Server, config: Record<string, unknown>): Promise<void> {
  fs.writeFileSync(server.config, stringify(config));
  const log = fs.openSync(`${server.dir}/log`, "a");
  server.proc = spawn(`${VENV_BIN}/python`, ["-m", "synapse.app.homeserver", "-c", server.config], { cwd: server.dir, env: ENV, stdio: ["ignore", log, log] });
  fs.closeSync(log);
  await poll(`Synapse on ${server.clientPort} to answer`, 60_000, async () => {
    if (server.proc?.exitCode !== null) throw new Error(`exited: ${fs.readFileSync(`${server.dir}/log`, "utf8").slice(-2000)}`);
    return (await request({ host: "127.0.0.1", port: server.clientPort, path: "/health" })).status === 200 ? true : undefined;
  }, 250);
}

async function stop(server: Server): Promise<void> {
  const proc = server.proc;
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.once("exit", resolve));
  proc.kill("SIGTERM");
  await exited;
}

function register(server: Server, user: string, admin: boolean): void {
  const r = spawnSync(`${VENV_BIN}/register_new_matrix_user`, ["-u", user, "-p", `${user}-password`, admin ? "-a" : "--no-admin", "-c", server.config, `http://127.0.0.1:${server.clientPort}`], { encoding: "utf8", env: ENV });
  assert.equal(r.status, 0, r.stderr);
}

async function login(server: Server, user: string): Promise<Client> {
  const at = { host: "127.0.0.1", port: server.clientPort };
  const r = await request({ ...at, method: "POST", path: "/_matrix/client/v3/login", body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user }, password: `${user}-password` }) });
  assert.equal(r.status, 200, r.body.toString());
  const token = json(r).access_token as string;
  return (method, p, body) =>
    request({ ...at, method, path: p, headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) }, body: body === undefined ? undefined : JSON.stringify(body), timeoutMs: 120_000 });
}

describe("federation between two real Synapse processes, the kit's side rendered for each mode, behind the kit's nginx site", { concurrency: false }, () => {
  const tls = path.join(TMP, "tls");
  const nginxDir = path.join(TMP, "nginx");
  const summary: string[] = [];
  let ports: Record<"front" | "site" | "worker" | "kit" | "peerFed" | "peerClient", number>;
  let kit: Server;
  let peer: Server;
  let nginx: ChildProcess | undefined;
  let scenario: ReturnType<typeof federationScenario>;
  const kitServer = () => `localhost:${ports.front}`;
  const peerServer = () => `localhost:${ports.peerFed}`;

  /** The e2e stack's settings for a mode, as the e2e's step values make them. */
  const settingsFor = (federation: Record<string, unknown>): Settings =>
    stackSettings("e2e", federationStepValues(readStackFile(stackFilePath("e2e")).values["matrix:synapse"] as object, LOOPBACK, federation, `${tls}/ca.pem`));

  /** The kit's Synapse configured as the kit renders a mode, and the kit's nginx site for it. */
  async function kitIn(federation: Record<string, unknown>): Promise<void> {
    const s = settingsFor(federation);
    await stop(kit);
    const base = {
      server_name: kitServer(),
      pid_file: `${kit.dir}/homeserver.pid`,
      listeners: [{ port: ports.kit, tls: false, type: "http", x_forwarded: true, bind_addresses: ["127.0.0.1"], resources: [{ names: listenerResources(s), compress: false }] }],
      database: { name: "sqlite3", args: { database: `${kit.dir}/homeserver.db` } },
      media_store_path: `${kit.dir}/media_store`,
      signing_key_path: `${kit.dir}/signing.key`,
      registration_shared_secret: SECRET,
      report_stats: false,
      suppress_key_server_warning: true,
      presence: { enabled: false },
      ...federationConfig(s),
    };
    await start(kit, deepMerge(base, s.synapse.extraConfig));
    const site = { ...s, matrixHost: "localhost", nginx: { ...s.nginx, httpPort: ports.site }, synapse: { ...s.synapse, hostPort: ports.kit } };
    fs.writeFileSync(`${nginxDir}/sites/kit.conf`, renderNginxSite(site));
    const conf = privateNginxConf(nginxDir, `${nginxDir}/sites/*.conf`);
    fs.writeFileSync(`${nginxDir}/sites/front.conf`, peerFrontConf({ s: site, listen: "127.0.0.1", port: ports.front, tlsDir: tls, workerPort: ports.worker }));
    // Started anew rather than reloaded: during a reload old workers still take connections for a moment.
    await stopNginx();
    nginx = spawn("nginx", ["-p", nginxDir, "-e", `${nginxDir}/error.log`, "-c", conf, "-g", "daemon off;"], { stdio: "ignore" });
    // What a server reaching the kit sees once nginx reloaded: Synapse's federation API, or nginx's
    // own 404 when federation is off (Synapse's would be JSON: M_UNRECOGNIZED, no federation resource).
    const off = s.federation.mode === "off";
    await poll(`the kit's federation API to answer ${off ? "nginx's 404" : "200"} through the front`, 20_000, async () => {
      const got = await frontGet("/_matrix/federation/v1/version");
      return (off ? got.status === 404 && !got.body.includes("errcode") : got.status === 200) ? true : undefined;
    }, 250);
  }

  async function stopNginx(): Promise<void> {
    const proc = nginx;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once("exit", resolve));
    proc.kill("SIGQUIT");
    await exited;
  }

  const frontGet = (p: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = https.get({ host: "127.0.0.1", port: ports.front, path: p, agent: false, servername: "localhost", headers: { Host: `localhost:${ports.front}` }, ca: fs.readFileSync(`${tls}/ca.pem`) }, (res) => {
        let body = "";
        res.on("data", (c) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode!, body }));
      });
      req.on("error", reject);
    });

  before(async () => {
    assert.ok(fs.existsSync(`${VENV_BIN}/python`), "Synapse's venv is missing: run `bash test/setup/validators.sh` as root");
    ports = { front: await freePort(), site: await freePort(), worker: await freePort(), kit: await freePort(), peerFed: await freePort(), peerClient: await freePort() };
    makeCertificate(tls, "server", "localhost");
    fs.mkdirSync(`${nginxDir}/sites`, { recursive: true });
    kit = { dir: path.join(TMP, "kit"), config: path.join(TMP, "kit", "homeserver.yaml"), clientPort: ports.kit };
    peer = { dir: path.join(TMP, "peer"), config: path.join(TMP, "peer", "homeserver.yaml"), clientPort: ports.peerClient };
    for (const [server, id] of [[kit, "a_kit"], [peer, "a_peer"]] as const) {
      fs.mkdirSync(server.dir, { recursive: true });
      fs.writeFileSync(`${server.dir}/signing.key`, `ed25519 ${id} ${Buffer.from(id.padEnd(32, "k")).toString("base64").replace(/=+$/, "")}\n`);
    }
    for (const f of ["ca.pem"]) fs.copyFileSync(`${tls}/${f}`, `${peer.dir}/${f}`);
    fs.copyFileSync(`${tls}/server.pem`, `${peer.dir}/tls.pem`);
    fs.copyFileSync(`${tls}/server.key`, `${peer.dir}/tls.key`);
    await start(peer, peerHomeserver({ dataDir: peer.dir, subnet: LOOPBACK, registrationSecret: SECRET, serverName: peerServer(), federationPort: ports.peerFed, clientPort: ports.peerClient, bind: "127.0.0.1" }));
    await kitIn({ mode: "open" });
    // The owner is a server admin, as the kit registers them: admins_can_join is false for them.
    register(kit, "owner", true);
    register(peer, "alice", false);
    scenario = federationScenario({ kit: await login(kit, "owner"), peer: await login(peer, "alice"), kitServer: kitServer(), peerServer: peerServer(), limit: TEST_LIMIT, summary });
  });

  after(async () => {
    await stop(kit);
    await stop(peer);
    await stopNginx();
    fs.rmSync(TMP, { recursive: true, force: true });
  });

  test("open: a join and a message each way; a room above roomComplexityLimit refused with the kit's text", async () => {
    await scenario.open();
  });

  test("allow-list without the peer: its join refused by the kit (403, Synapse's text), the owner's refused (502)", async () => {
    await kitIn({ mode: "allow-list", allowedServers: ["matrix.org"] });
    await scenario.allowListWithout();
  });

  test("allow-list with the peer: the same joins go through, a message crosses", async () => {
    await kitIn({ mode: "allow-list", allowedServers: [peerServer()] });
    await scenario.allowListWith();
  });

  test("off: the kit's nginx site gives no route (the peer's join gets nginx's 404), the owner's join refused", async () => {
    await kitIn({ mode: "off" });
    for (const p of ["/_matrix/federation/v1/version", "/_matrix/key/v2/server"]) {
      const got = await frontGet(p);
      assert.equal(got.status, 404, p);
      assert.match(got.body, /<center>nginx/, `${p}: nginx's own 404, not Synapse's`);
    }
    await scenario.off();
    // Synapse's answers, as the e2e's summary prints them.
    console.log(summary.map((l) => `# ${l}`).join("\n"));
  });
});
