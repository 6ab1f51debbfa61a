/**
 * End to end: the real program (under Pulumi's MOCK runtime) applied by the
 * mock-runtime apply harness to this machine as the VPS (sshd on loopback, the
 * Docker engine through it, host nginx), then checked from outside through
 * nginx as a Matrix client and the WeChat agent would, then destroyed.
 * The bridges are STAND-INS (test/e2e/bridge-standin): the real bridges' Go
 * modules are refused by the module proxy here. Started by test/e2e/run.sh.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import { after, before, describe, test } from "node:test";
import { Miniflare } from "miniflare";
import { apply, type Applied } from "../harness/apply";
import { destroyFromState, saveState } from "../harness/lifecycle";
import { runProgram, type ProgramRun } from "../harness/program";
import { stackSettings } from "../harness/stacks";
import { json, request } from "../harness/http";
import { faultTests } from "./faults";
import { watchdogTests } from "./watchdog";
import { dockerFilterTests } from "./docker-filter";
import { realIpTests } from "./realip";
import { siteReloadTest } from "./site-reload";
import { verifyTests } from "./verify";
import { ownerAndBots } from "./bots";
import { backupTests } from "./backup";
import { federationTests } from "./federation";
import { brokenUpgradeTest, PREVIOUS_SYNAPSE, upgradeFromPreviousTest, type UpgradeContext } from "./upgrade";
import { update } from "../harness/update";
import { readStackFile, stackFilePath } from "../../infra/config/load";
import { docker } from "../harness/wait";
import { stickerTests } from "./stickers";
import { secretsTests } from "./secrets";
import { upkeepAfterFaultsTest, upkeepTests } from "./upkeep";
import { deriveSecrets } from "../../infra/secrets";
import { upkeepLogPath } from "../../infra/render/upkeep";
import { hostKeyTests, publicKey } from "./host-key";
import { statusTest } from "./status";
import { teardownTests } from "./teardown";
import { ownerLoginTest, uploadTests, type MatrixCall } from "./client";
import { bridgeBotTests } from "./bridge-bots";
import { httpsTests } from "./https";
import { exposureTests, publicListeners } from "./exposure";

const STACK = "e2e";
const E2E_DIR = process.env.E2E_DIR ?? "/tmp/matrix-kit-e2e";
const SUMMARY = process.env.E2E_SUMMARY ?? `${E2E_DIR}/summary.txt`;

const times: Record<string, number> = {};
const summary: string[] = [];
/** Everything the run printed through log(): scanned for secrets (test/e2e/secrets.ts). */
const logged: string[] = [];
function log(line: string): void {
  logged.push(line);
  console.log(`# ${line}`);
}

const s = stackSettings(STACK);
/** The host key run.sh made for this run's sshd: it goes into the stack's config, as an owner would set it. */
const HOST_KEY = publicKey(`${E2E_DIR}/host_ed25519.pub`);
/**
 * The watchdog's hourly bound and daily restart, set so that one run sees both: two restarts of a
 * bridge an hour, and a daily restart of QQ due 3 to 4 minutes after this file loads (UTC).
 */
const DAILY_QQ = new Date(Date.now() + 4 * 60_000).toISOString().slice(11, 16);
const stackTarget = (hostKey: string) => ({
  "matrix:target": { ...s.target, hostKey },
  // The stack file's filter image kept: a value here replaces the file's whole matrix:watchdog.
  "matrix:watchdog": { maxRestartsPerHour: 2, dailyRestart: { qq: DAILY_QQ }, filterImage: s.watchdog.enabled ? s.watchdog.filterImage : undefined },
  // Every minute, so that the run sees cron start the job (the default is nightly).
  "matrix:upkeep": { schedule: "* * * * *" },
});
const secrets = {
  // A fresh seed per run; within the run both program executions share it.
  "matrix:secretSeed": randomBytes(24).toString("hex"),
  "matrix:sshPrivateKey": fs.readFileSync(`${E2E_DIR}/id_ed25519`, "utf8"),
  "matrix:cloudflareApiToken": "e2e-cloudflare-token-not-used-by-any-api",
};
const NGINX = { host: s.matrixHost, port: s.nginx.httpPort };
/** The TLS front playing Cloudflare's edge for `verify` (test-only nginx server blocks on this port). */
const TLS_PORT = 8443;
const WORKER_PORT = 8790;
const FRONT_CONF = `${s.nginx.siteDir}/zz-matrix-kit-e2e-tls-front.conf`;
const KIT_SITE = `${s.nginx.siteDir}/${s.nginx.fileName}`;
/** The state the apply left, as the engine keeps it: refresh and destroy start from this file alone. */
const STATE_FILE = `${E2E_DIR}/state.json`;
/** Where the kit once wrote the docker provider's known_hosts: a new machine has no such file. */
const OLD_KNOWN_HOSTS_DIR = `${os.homedir()}/.ssh/matrix-kit`;

const matrix: MatrixCall = async (method, path, token, body, extra = {}) => {
  const payload = extra.raw ?? (body === undefined ? undefined : Buffer.from(JSON.stringify(body)));
  return request({
    ...NGINX,
    method,
    path,
    headers: {
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(payload ? { "Content-Type": extra.type ?? "application/json" } : {}),
    },
    body: payload,
    timeoutMs: 120_000,
  });
};

let program: ProgramRun;
/** A stack value with `.image` set, as `pulumi config set --path matrix:<service>.image` would. */
const withImage = (service: "synapse" | "postgres", image: string) => ({ [`matrix:${service}`]: { ...(readStackFile(stackFilePath(STACK)).values[`matrix:${service}`] as object), image } });
const synapseImage = (image: string) => withImage("synapse", image);
/**
 * PostgreSQL's previous major version until the disaster-recovery test deploys anew: the run
 * moves to the stack's version by backup and restore, as the README says to (test/e2e/backup.ts).
 */
const PREVIOUS_POSTGRES = "kit-e2e/postgres:15-bookworm";
let pinned: Record<string, unknown> = withImage("postgres", PREVIOUS_POSTGRES);
/** The e2e stack as the harness runs it: invokes carried out on this machine, the run's host key. */
const runE2e = (hostKey = HOST_KEY, extra: Record<string, unknown> = {}) => runProgram({ stack: STACK, secrets, values: { ...stackTarget(hostKey), ...pinned, ...extra }, invokes: "run" });
let listenersBefore = new Set<string>();

before(() => {
  // Leftovers of an aborted earlier run would make names collide (and fail "nothing was created").
  for (const id of docker("ps", "-aq", "--filter", `label=kit.matrix/stack=${STACK}`).split(/\s+/).filter(Boolean)) docker("rm", "-f", id);
  for (const n of docker("network", "ls", "-q", "--filter", `name=${s.namePrefix}-`).split(/\s+/).filter(Boolean)) docker("network", "rm", n);
  for (const v of docker("volume", "ls", "-q", "--filter", `name=${s.namePrefix}-`).split(/\s+/).filter(Boolean)) docker("volume", "rm", v);
  // Sticker packs and the upkeep log an earlier run left (they outlive a destroy by design).
  fs.rmSync(s.hostDir, { recursive: true, force: true });
  fs.rmSync(upkeepLogPath(s), { force: true });
  // An operator's machine that never ran the program: nothing of the kit's under ~/.ssh.
  fs.rmSync(OLD_KNOWN_HOSTS_DIR, { recursive: true, force: true });
  fs.rmSync(STATE_FILE, { force: true });
  // The repository of an earlier run has that run's password (its seed): gone before the first
  // program run opens it (the host-key tests' run does, once the key matches).
  fs.rmSync(s.backup.enabled ? s.backup.repository : `${E2E_DIR}/backup-repo`, { recursive: true, force: true });
  listenersBefore = publicListeners();
});

hostKeyTests({ s, stack: STACK, e2eDir: E2E_DIR, hostKey: HOST_KEY, summary, runE2e });

/** The WeChat listen secret, as the program rendered it into the bridge's config. */
function listenSecret(): string {
  const stdin = program.resources.find((r) => r.name === `${s.namePrefix}-wechat-config-write`)!.inputs.stdin as string;
  return stdin.match(/listen_secret: (\S+)/)![1];
}

let applied: Applied | undefined;
let worker: Miniflare | undefined;
let token = "";
const { ownerSays, botNotices, botAnswers } = ownerAndBots({ s, matrix, token: () => token });

describe("e2e: the e2e stack applied to this machine as the VPS", { concurrency: false }, () => {
  before(async () => {
    let t = Date.now();
    // Synapse's previous release first: a test upgrades it to the stack's image (test/e2e/upgrade.ts).
    program = await runE2e(HOST_KEY, synapseImage(PREVIOUS_SYNAPSE));
    times["program (mock runtime)"] = Date.now() - t;
    t = Date.now();
    try {
      applied = await apply(program, { retainVolumes: s.volumes.retainOnDestroy, log });
    } catch (e) {
      applied = (e as { applied?: Applied }).applied;
      throw e;
    } finally {
      times.apply = Date.now() - t;
      if (applied) saveState(applied.state, STATE_FILE);
      applied?.tunnel?.kill();
    }
    assert.ok(applied?.workerScript, "the Worker script was registered");
    worker = new Miniflare({ modules: true, script: applied.workerScript, compatibilityDate: "2025-01-01" });
    await worker.ready;
    times.checksStart = Date.now();
  });

  after(async () => {
    await worker?.dispose();
    if (fs.existsSync(STATE_FILE)) {
      // Safety net when a check failed before the destroy test ran.
      const { errors } = await destroyFromState(STATE_FILE, { log, continueOnError: true });
      if (errors.length) log(`destroy errors: ${errors.join("; ")}`);
    }
    if (applied) fs.rmSync(applied.tmp, { recursive: true, force: true });
    fs.writeFileSync(SUMMARY, `${summary.join("\n")}\n`);
  });

  test("client and federation versions answer through nginx", async () => {
    const v = await matrix("GET", "/_matrix/client/versions");
    assert.equal(v.status, 200);
    assert.ok(json(v).versions.includes("v1.11"), v.body.toString());
    const f = await matrix("GET", "/_matrix/federation/v1/version");
    assert.equal(f.status, 200);
    assert.equal(json(f).server.name, "Synapse");
  });

  realIpTests({ s, nginx: NGINX, summary });

  ownerLoginTest({
    s,
    matrix,
    setToken: (t) => { token = t; },
    ownerPassword: () => program.outputs.ownerPassword as string,
    ownerProgram: () => {
      const r = program.resources.find((x) => x.name === `${s.namePrefix}-synapse-owner`)!;
      return { command: r.inputs.create as string, stdin: r.inputs.stdin as string };
    },
  });

  /** A second `pulumi up` of the run's stack with `values` over it (the harness's update): what it replaced or updated. */
  const updateWith = async (values: Record<string, unknown>) => {
    program = await runE2e(HOST_KEY, values);
    try {
      return await update(applied!, program, { retainVolumes: s.volumes.retainOnDestroy, log });
    } finally {
      saveState(applied!.state, STATE_FILE);
      applied!.tunnel?.kill();
    }
  };
  const upgradeCtx: UpgradeContext = { s, summary, token: () => token, matrix, updateSynapse: (image) => updateWith(image ? synapseImage(image) : {}) };
  upgradeFromPreviousTest(upgradeCtx);

  uploadTests({ matrix, token: () => token });

  bridgeBotTests({ s, nginx: NGINX, summary, matrix, token: () => token, ownerSays, botNotices, secretSeed: secrets["matrix:secretSeed"], listenSecret });

  test(".well-known/matrix/* through the Worker (workerd): JSON, JSON content type, CORS", async () => {
    for (const [p, expected] of [
      ["/.well-known/matrix/server", { "m.server": `${s.matrixHost}:443` }],
      ["/.well-known/matrix/client", { "m.homeserver": { base_url: `https://${s.matrixHost}` } }],
    ] as const) {
      const res = await worker!.dispatchFetch(`https://${s.domain}${p}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "application/json");
      assert.equal(res.headers.get("access-control-allow-origin"), "*");
      assert.deepEqual(await res.json(), expected);
    }
    const other = await worker!.dispatchFetch(`https://${s.domain}/.well-known/matrix/other`);
    assert.equal(other.status, 404);
    await other.text();
  });

  watchdogTests({ s, token: () => token, summary, botAnswers, ownerSays, matrix, dailyQq: DAILY_QQ });
  dockerFilterTests(s);
  siteReloadTest({ s, nginx: NGINX, summary, updateWith });

  statusTest({ s, stack: STACK, e2eDir: E2E_DIR, hostKey: HOST_KEY, summary });

  exposureTests({ s, listenersBefore: () => listenersBefore, done: () => (times.checks = Date.now() - times.checksStart) });

  verifyTests({ s, e2eDir: E2E_DIR, summary, workerScript: () => applied!.workerScript!, wechatSecret: listenSecret, tlsPort: TLS_PORT, workerPort: WORKER_PORT, frontConf: FRONT_CONF, kitSite: KIT_SITE });

  const kit = { s, nginx: NGINX, e2eDir: E2E_DIR, hostKey: HOST_KEY, secrets: () => deriveSecrets(secrets["matrix:secretSeed"]), token: () => token, summary, botAnswers };
  stickerTests(kit);
  upkeepTests(kit);
  secretsTests({
    ...kit,
    stackSecrets: [secrets["matrix:sshPrivateKey"], secrets["matrix:cloudflareApiToken"]],
    // What the run printed and each command resource's output as the state keeps it.
    runOutput: () => [...logged, ...summary, ...[...(applied?.state.values() ?? [])].flatMap((e) => (e.outputs ? [e.outputs.stdout, e.outputs.stderr] : []))].join("\n"),
  });

  faultTests({ s, nginx: NGINX, e2eDir: E2E_DIR, token: () => token, summary, botAnswers });
  upkeepAfterFaultsTest({ s, summary });
  // Each source of nginx's certificate in an update of its own, and back.
  httpsTests({
    s,
    e2eDir: E2E_DIR,
    hostKey: HOST_KEY,
    summary,
    update: updateWith,
    cloudflare: () => applied!.cloudflare.map((r) => ({ type: r.type, name: r.name, inputs: r.inputs })),
  });
  // Before the backup tests, which destroy and redeploy: it puts the stack's settings back itself.
  federationTests({ s, e2eDir: E2E_DIR, summary, token: () => token, matrix, workerScript: () => applied!.workerScript!, update: updateWith });
  backupTests({
    s,
    e2eDir: E2E_DIR,
    hostKey: HOST_KEY,
    token: () => token,
    summary,
    matrix,
    botAnswers,
    destroy: async () => (await destroyFromState(STATE_FILE, { log })).errors,
    redeploy: async () => {
      pinned = {};
      program = await runE2e();
      const again = await apply(program, { retainVolumes: s.volumes.retainOnDestroy, log });
      if (applied) fs.rmSync(applied.tmp, { recursive: true, force: true });
      applied = again;
      saveState(applied.state, STATE_FILE);
      applied.tunnel?.kill();
    },
  });

  brokenUpgradeTest(upgradeCtx);

  teardownTests({ s, stack: STACK, e2eDir: E2E_DIR, stateFile: STATE_FILE, kitSite: KIT_SITE, oldKnownHostsDir: OLD_KNOWN_HOSTS_DIR, summary, times, log, program: () => program, runE2e: () => runE2e(), applied: () => applied! });
});
