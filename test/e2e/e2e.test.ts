/**
 * End to end: the real program (under Pulumi's MOCK runtime) applied by the
 * mock-runtime apply harness to this machine as the VPS (sshd on loopback, the
 * Docker engine through it, host nginx), then checked from outside through
 * nginx as a Matrix client and the WeChat agent would, then destroyed.
 * The bridges are STAND-INS (test/e2e/bridge-standin): the real bridges' Go
 * modules are refused by the module proxy here. Started by test/e2e/run.sh.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import { after, before, describe, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { Miniflare } from "miniflare";
import { apply, diff, type Applied } from "../harness/apply";
import { destroyFromState, refreshFromState, saveState } from "../harness/lifecycle";
import { openTunnel } from "../harness/provider-io";
import { runProgram, type ProgramRun } from "../harness/program";
import { stackSettings } from "../harness/stacks";
import { json, request, upgrade, type Answer } from "../harness/http";
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
import { docker, poll } from "../harness/wait";
import { stickerTests } from "./stickers";
import { secretsTests } from "./secrets";
import { upkeepAfterFaultsTest, upkeepTests } from "./upkeep";
import { deriveSecrets } from "../../infra/secrets";
import { upkeepCronPath, upkeepLogPath } from "../../infra/render/upkeep";

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
/** "<type> <base64>" of an ssh public key file (its comment dropped). */
const publicKey = (file: string) => fs.readFileSync(file, "utf8").split(" ").slice(0, 2).join(" ");
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

async function matrix(method: string, path: string, token?: string, body?: unknown, extra: Partial<{ raw: Buffer; type: string }> = {}): Promise<Answer> {
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
}

let program: ProgramRun;
/** The e2e stack as the harness runs it: invokes carried out on this machine, the run's host key. */
/** A stack value with `.image` set, as `pulumi config set --path matrix:<service>.image` would. */
const withImage = (service: "synapse" | "postgres", image: string) => ({ [`matrix:${service}`]: { ...(readStackFile(stackFilePath(STACK)).values[`matrix:${service}`] as object), image } });
const synapseImage = (image: string) => withImage("synapse", image);
/**
 * PostgreSQL's previous major version until the disaster-recovery test deploys anew: the run
 * moves to the stack's version by backup and restore, as the README says to (test/e2e/backup.ts).
 */
const PREVIOUS_POSTGRES = "kit-e2e/postgres:15-bookworm";
let pinned: Record<string, unknown> = withImage("postgres", PREVIOUS_POSTGRES);
const runE2e = (hostKey = HOST_KEY, extra: Record<string, unknown> = {}) => runProgram({ stack: STACK, secrets, values: { ...stackTarget(hostKey), ...pinned, ...extra }, invokes: "run" });

function otherHostKey(): string {
  const file = `${E2E_DIR}/other_host_ed25519`;
  fs.rmSync(file, { force: true });
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", file]);
  return publicKey(`${file}.pub`);
}

/** Listening TCP sockets on addresses other than loopback ("address:port"). */
const publicListeners = () =>
  new Set(
    execFileSync("ss", ["-ltnH"], { encoding: "utf8" }).trim().split("\n").filter(Boolean)
      .map((l) => l.split(/\s+/)[3])
      .filter((a) => !/^(127\.|\[::1\]|\[::ffff:127\.)/.test(a)),
  );
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
  listenersBefore = publicListeners();
});

test("e2e: the VPS presents another host key than matrix:target.hostKey: the run stops with the kit's message alone, before anything is registered", async () => {
  const wrong = otherHostKey();
  await assert.rejects(runE2e(wrong), (e: Error) => {
    assert.ok(pulumi.RunError.isInstance(e), "a RunError: Pulumi prints its message without a stack trace");
    assert.match(e.message, /^matrix-kit: the ssh host key of 127\.0\.0\.1 port 2222 does not match matrix:target\.hostKey\. Stopped before changing anything\.\n/);
    assert.ok(e.message.includes(`the VPS presents:         ${HOST_KEY}`), e.message);
    assert.equal(e.message.split("\n").length, 4, "four lines, nothing else");
    const registered = (e as Error & { registered?: string[] }).registered ?? [];
    assert.deepEqual(registered.filter((r) => !r.startsWith("pulumi:pulumi:Stack")), [], "nothing was registered");
    summary.push("up with another host key configured, what the user reads:", ...e.message.split("\n").map((l) => `  ${l}`));
    return true;
  });
  assert.equal(docker("ps", "-aq", "--filter", `label=kit.matrix/stack=${STACK}`).trim(), "", "no container was created");
});

test("e2e: an unreachable VPS: the run stops with one line naming matrix:target.host and port, before anything is registered", async () => {
  const closed = { ...stackTarget(HOST_KEY), "matrix:target": { ...s.target, hostKey: HOST_KEY, port: 2299 } };
  await assert.rejects(runProgram({ stack: STACK, secrets, values: closed, invokes: "run" }), (e: Error) => {
    assert.ok(pulumi.RunError.isInstance(e));
    assert.equal(e.message, "matrix-kit: could not read the ssh host key of 127.0.0.1 port 2299 (ssh-keyscan -t ed25519): is the VPS up and are matrix:target.host and matrix:target.port right? Nothing was changed.");
    summary.push("up with an unreachable VPS, what the user reads:", `  ${e.message}`);
    return true;
  });
});

test("e2e: the docker provider's ssh (only the kit's sshOpts, no known_hosts file anywhere) refuses a VPS whose key is not the pinned one", async () => {
  const good = (await runE2e()).resources.find((r) => r.type === "pulumi:providers:docker")!;
  const opts = JSON.parse(good.inputs.sshOpts) as string[];
  const wrong = otherHostKey();
  const swapped = opts.map((o) => (o.startsWith("KnownHostsCommand=") ? `KnownHostsCommand=/bin/echo [127.0.0.1]:2222 ${wrong}` : o));
  assert.notDeepEqual(swapped, opts, "the kit pins the key in sshOpts");
  const tmp = fs.mkdtempSync(`${E2E_DIR}/tunnel-`);
  await assert.rejects(openTunnel({ inputs: { ...good.inputs, sshOpts: JSON.stringify(swapped) } }, tmp), /Host key verification failed/);
  // And with the kit's own options it connects.
  const t = await openTunnel(good, tmp);
  t.proc?.kill();
  fs.rmSync(tmp, { recursive: true, force: true });
});

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

    // The repository of an earlier run has that run's password (its seed).
    fs.rmSync(s.backup.enabled ? s.backup.repository : `${E2E_DIR}/backup-repo`, { recursive: true, force: true });
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

  test("a user registered with the shared secret logs in, creates a room, sends and reads back through /sync", async () => {
    const password = randomBytes(12).toString("hex");
    // What the README tells the owner to run: the shared-secret registration inside the container.
    docker("exec", `${s.namePrefix}-synapse`, "register_new_matrix_user", "-u", s.admin, "-p", password, "-a", "-c", "/config/homeserver.yaml", "http://localhost:8008");
    const login = await matrix("POST", "/_matrix/client/v3/login", undefined, {
      type: "m.login.password", identifier: { type: "m.id.user", user: s.admin }, password,
    });
    assert.equal(login.status, 200, login.body.toString());
    token = json(login).access_token;
    assert.equal(json(login).user_id, `@${s.admin}:${s.domain}`);
    const room = await matrix("POST", "/_matrix/client/v3/createRoom", token, { name: "e2e" });
    assert.equal(room.status, 200, room.body.toString());
    const roomId = json(room).room_id as string;
    const text = `hello from e2e ${Date.now()}`;
    const sent = await matrix("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/t1`, token, { msgtype: "m.text", body: text });
    assert.equal(sent.status, 200, sent.body.toString());
    const sync = await matrix("GET", "/_matrix/client/v3/sync?timeout=0", token);
    assert.equal(sync.status, 200);
    const events = json(sync).rooms.join[roomId].timeline.events as { type: string; content: { body?: string } }[];
    assert.ok(events.some((e) => e.type === "m.room.message" && e.content.body === text), "the message comes back through /sync");
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

  test("a 45 MB upload succeeds through nginx and downloads byte-identical", async () => {
    assert.ok(token, "needs the logged-in user");
    const data = randomBytes(45 * 1024 * 1024);
    const up = await matrix("POST", "/_matrix/media/v3/upload?filename=big.bin", token, undefined, { raw: data, type: "application/octet-stream" });
    assert.equal(up.status, 200, up.body.toString().slice(0, 300));
    const mxc = json(up).content_uri as string;
    const [server, mediaId] = mxc.slice("mxc://".length).split("/");
    const down = await matrix("GET", `/_matrix/client/v1/media/download/${server}/${mediaId}`, token);
    assert.equal(down.status, 200);
    assert.equal(createHash("sha256").update(down.body).digest("hex"), createHash("sha256").update(data).digest("hex"));
  });

  test("a 60 MB upload gets a clear 413 (no hang, no reset)", async () => {
    const up = await matrix("POST", "/_matrix/media/v3/upload?filename=too-big.bin", token, undefined, {
      raw: Buffer.alloc(60 * 1024 * 1024, 1), type: "application/octet-stream",
    });
    assert.equal(up.status, 413);
  });

  for (const kind of ["qq", "wechat"] as const) {
    test(`the ${kind} bridge bot exists and answers help in a direct message (stand-in bridge)`, async () => {
      const bot = `@${kind}bot:${s.domain}`;
      const profile = await poll(`${bot}'s profile`, 60_000, async () => {
        const p = await matrix("GET", `/_matrix/client/v3/profile/${encodeURIComponent(bot)}`, token);
        return p.status === 200 ? json(p) : undefined;
      });
      assert.ok(profile.displayname, "the bot registered and set its display name");
      // The owner's first direct chat with the bot: their management room, where bare commands work.
      const sent = await ownerSays(kind, "help");
      const help = `This is your management room: prefixing commands with \`!${kind}\` is not required.`;
      const notices = await botNotices(kind, sent, 60, (b) => b.some((x) => x.startsWith(help)));
      assert.ok(notices.some((x) => x.startsWith(help)), `the management room's help (the real bot's first line): ${JSON.stringify(notices)}`);
    });
  }

  test("double puppeting: Synapse accepts the kit's app service acting as the owner, and the QQ bridge confirms it with the owner's ping-matrix", async () => {
    const sec = deriveSecrets(secrets["matrix:secretSeed"]);
    const owner = `@${s.admin}:${s.domain}`;
    const who = await matrix("GET", `/_matrix/client/v3/account/whoami?user_id=${encodeURIComponent(owner)}`, sec.doublePuppet.asToken);
    assert.equal(who.status, 200, who.body.toString());
    assert.equal(json(who).user_id, owner);
    // Another user is outside its namespace: refused.
    const other = await matrix("GET", `/_matrix/client/v3/account/whoami?user_id=${encodeURIComponent(`@kit-watchdog:${s.domain}`)}`, sec.doublePuppet.asToken);
    assert.equal(other.status, 403, other.body.toString());
    const sent = await ownerSays("qq", "ping-matrix");
    const confirmed = `Confirmed valid access token for ${owner} (appservice double puppeting)`;
    const notices = await botNotices("qq", sent, 30, (b) => b.includes(confirmed));
    assert.ok(notices.includes(confirmed), JSON.stringify(notices));
    summary.push(`double puppeting: QQ bot, asked ping-matrix by the owner: ${confirmed}`);
  });

  test("/_wechat upgrades to a WebSocket through nginx with the listen secret; a wrong secret is refused", async () => {
    const secret = listenSecret();
    const ok = await upgrade({ ...NGINX, path: "/_wechat/", authorization: `Basic ${secret}` });
    assert.equal(ok.status, 101);
    const wrong = await upgrade({ ...NGINX, path: "/_wechat/", authorization: "Basic not-the-secret" });
    assert.equal(wrong.status, 403);
    assert.match(wrong.body, /M_UNKNOWN_TOKEN/);
    const logs = docker("logs", `${s.namePrefix}-wechat`);
    assert.match(logs, /Agent connected from /);
  });

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

  test("npm run status over ssh: every container running and healthy, memory under its limit, disk figures; a stopped bridge exits 1 and is named", async () => {
    // The stack file as the owner keeps it: with this run's host key.
    const dir = fs.mkdtempSync(`${E2E_DIR}/status-stack-`);
    const stackFile = fs.readFileSync("stacks/Pulumi.e2e.yaml", "utf8").replace(/hostKey: .*/, `hostKey: ${HOST_KEY}`);
    fs.writeFileSync(`${dir}/Pulumi.e2e.yaml`, stackFile);
    const status = (...extra: string[]) =>
      spawnSync("node", ["--import", "tsx", "infra/cli/status.ts", "--stack", STACK, "--stack-dir", dir, ...extra], { encoding: "utf8", timeout: 120_000 });
    try {
      // Health checks run once a minute (render/healthcheck.ts), the first a minute after a start on
      // Docker 20.10 (no start_interval): a bridge the watchdog tests restarted may need two of them.
      const ok = await poll("status to report all healthy", 240_000, async () => {
        const r = status("--json");
        // "starting" exits 0 too (a warning): every container must have passed Docker's own check.
        return r.status === 0 && JSON.parse(r.stdout).containers.every((c: { health: string }) => c.health === "healthy") ? r : undefined;
      });
      const report = JSON.parse(ok.stdout);
      assert.deepEqual(report.containers.map((c: { name: string; state: string }) => `${c.name}:${c.state}`), ["postgres", "synapse", "bridge-queue", "qq", "wechat", "docker-filter", "watchdog"].map((x) => `${s.namePrefix}-${x}:running`));
      for (const c of report.containers) {
        assert.ok(c.memory.workingSetBytes > 0 && c.memory.workingSetBytes < c.memory.limitBytes, `${c.name}: ${JSON.stringify(c.memory)}`);
        assert.equal(c.memory.limitBytes, s.memoryBudget.rows.find((r) => `${s.namePrefix}-${r.service}` === c.name)!.limitBytes, "the limit is the budget's");
      }
      assert.ok(report.media.local >= 45 * 1024 * 1024, "the 45 MB upload is in the local media store");
      assert.deepEqual(report.databases.map((d: { name: string }) => d.name), ["postgres", "qqbridge", "synapse", "wechatbridge"]);
      const table = status();
      assert.equal(table.status, 0, table.stderr);
      summary.push("", "npm run status -- --stack e2e", table.stdout.trimEnd());
      docker("stop", `${s.namePrefix}-qq`);
      const down = status();
      assert.equal(down.status, 1, down.stdout + down.stderr);
      assert.match(down.stdout, new RegExp(`PROBLEM: ${s.namePrefix}-qq is exited`));
    } finally {
      docker("start", `${s.namePrefix}-qq`);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("every container runs with the CPU budget's cap and weight, as the engine reports them", () => {
    for (const row of s.cpuBudget.rows.filter((r) => r.service !== "upkeep")) {
      const [nano, shares] = docker("inspect", "-f", "{{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}}", `${s.namePrefix}-${row.service}`).trim().split(" ").map(Number);
      assert.deepEqual([nano, shares], [Math.round(row.cpus * 1e9), row.shares], row.service);
    }
  });

  test("no container port answers on anything but 127.0.0.1 (every listening socket on the host)", () => {
    const lines = execFileSync("ss", ["-ltnpH"], { encoding: "utf8" }).trim().split("\n");
    const published = new Set([String(s.synapse.hostPort), String(s.wechat!.hostPort)]);
    const offenders = lines.filter((l) => {
      const local = l.split(/\s+/)[3];
      const port = local.slice(local.lastIndexOf(":") + 1);
      const isContainer = /docker-proxy/.test(l) || published.has(port);
      return isContainer && !local.startsWith("127.0.0.1:");
    });
    assert.deepEqual(offenders, []);
    assert.ok(lines.some((l) => l.includes(`127.0.0.1:${s.synapse.hostPort}`)), "Synapse is published on loopback");
    // A scan of the other addresses: the deployment opened nothing there but nginx's port.
    const opened = [...publicListeners()].filter((a) => !listenersBefore.has(a));
    assert.deepEqual(opened.filter((a) => !a.endsWith(`:${s.nginx.httpPort}`)), [], `new listeners off loopback: ${opened.join(", ")}`);
    times.checks = Date.now() - times.checksStart;
  });

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

  test("a second apply of the same stack changes nothing (compared with the provider's normalised state)", async () => {
    const again = await runE2e();
    assert.equal(JSON.stringify(again.resources), JSON.stringify(program.resources), "the program is deterministic");
    assert.deepEqual(diff(applied!, again), []);
    // The comparison can fail: a non-canonical duration (Synapse's start period of 120 s, which the state holds as "2m0s") is a diff against the state.
    const synapse = again.resources.find((r) => r.name === `${s.namePrefix}-synapse-container`)!;
    const spelled = { ...again, resources: again.resources.map((r) => (r === synapse ? { ...r, inputs: { ...r.inputs, healthcheck: { ...r.inputs.healthcheck, startPeriod: "120s" } } } : r)) };
    assert.deepEqual(diff(applied!, spelled), [`~ ${synapse.name} healthcheck.startPeriod: "2m0s" => "120s"`]);
  });

  test("refresh from the state alone (no program run, no known_hosts file of the kit's on this machine): the docker provider connects and finds nothing changed", async () => {
    assert.equal(fs.existsSync(OLD_KNOWN_HOSTS_DIR), false, "neither the program nor its checks wrote a known_hosts file");
    const changes = await refreshFromState(STATE_FILE);
    assert.deepEqual(changes, []);
    summary.push(`refresh from the state file, no known_hosts file: ${changes.length} changes`);
  });

  test("destroy when the VPS cannot be reached: it stops at the first step with the kit's message, and nothing is removed", async () => {
    const sshdPid = fs.readFileSync(`${E2E_DIR}/sshd.pid`, "utf8").trim();
    const copy = `${E2E_DIR}/state-unreachable.json`;
    fs.copyFileSync(STATE_FILE, copy);
    const before = docker("ps", "-q", "--filter", `label=kit.matrix/stack=${STACK}`).trim().split("\n").sort();
    process.kill(Number(sshdPid));
    try {
      await poll("sshd to stop listening", 30_000, async () => (spawnSync("ssh-keyscan", ["-T", "2", "-p", "2222", "127.0.0.1"]).stdout.length === 0 ? true : undefined));
      const { errors, deleted } = await destroyFromState(copy, { log });
      assert.deepEqual(deleted, [], "nothing was deleted");
      assert.equal(errors.length, 1, errors.join("\n"));
      assert.match(errors[0], new RegExp(`^${s.namePrefix}-host-destroy-guard: ${s.namePrefix}-host-destroy-guard \\(delete\\) failed[\\s\\S]*matrix-kit: cannot reach the Docker engine on root@127\\.0\\.0\\.1 port 2222: ssh: connect to host 127\\.0\\.0\\.1 port 2222: Connection refused\\n  Nothing was removed`));
      summary.push("destroy with the VPS unreachable, what the user reads:", ...errors[0].split("\n").slice(1).filter(Boolean).map((l) => `  ${l}`));
    } finally {
      execFileSync("/usr/sbin/sshd", ["-f", `${E2E_DIR}/sshd_config`]);
      fs.rmSync(copy, { force: true });
    }
    assert.deepEqual(docker("ps", "-q", "--filter", `label=kit.matrix/stack=${STACK}`).trim().split("\n").sort(), before, "every container still runs");
    assert.ok(fs.existsSync(KIT_SITE), "the nginx site is still there");
    assert.ok(fs.existsSync(upkeepCronPath(s)), "the upkeep job's cron entry is still there");
    await poll("sshd to answer again", 30_000, async () => (spawnSync("ssh-keyscan", ["-T", "2", "-p", "2222", "127.0.0.1"]).stdout.length > 0 ? true : undefined));
  });

  test("destroy removes the kit's containers, network and nginx block; nginx still passes -t and serves other sites; volumes stay (from the state alone, no known_hosts file)", async () => {
    summary.push("container memory after the checks:");
    for (const line of docker("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}").trim().split("\n")) {
      if (line.startsWith(s.namePrefix)) summary.push(`  ${line}`);
    }
    const t = Date.now();
    const { errors, deleted } = await destroyFromState(STATE_FILE, { log });
    times.destroy = Date.now() - t;
    assert.deepEqual(errors, []);
    assert.equal(deleted[0], `${s.namePrefix}-host-destroy-guard`, "the guard goes first: nothing is removed before the VPS answered");
    assert.equal(fs.existsSync(OLD_KNOWN_HOSTS_DIR), false, "no known_hosts file was needed or written");
    assert.equal(docker("ps", "-aq", "--filter", `label=kit.matrix/stack=${STACK}`).trim(), "");
    assert.equal(docker("network", "ls", "-q", "--filter", `name=${s.namePrefix}-net`).trim(), "");
    assert.equal(fs.existsSync(`${s.nginx.siteDir}/${s.nginx.fileName}`), false);
    // The kit's files and the directories it made are gone; the sticker packs stay, like the media they point at.
    const left = fs.existsSync(s.hostDir) ? execFileSync("find", [s.hostDir], { encoding: "utf8" }).trim().split("\n") : [];
    const packs = `${s.hostDir}/stickers/packs`;
    assert.deepEqual(left.filter((f) => f !== s.hostDir && f !== `${s.hostDir}/stickers` && !f.startsWith(packs)), [], "only the sticker packs are left");
    for (const f of ["index.html", "widget.js", "widget.css"]) assert.equal(fs.existsSync(`${s.hostDir}/stickers/${f}`), false, `the widget's ${f} is gone`);
    assert.equal(fs.existsSync(upkeepCronPath(s)), false, "the upkeep job's cron entry is gone");
    assert.equal(fs.existsSync(`${s.hostDir}/upkeep`), false, "the upkeep job's files and cache are gone");
    assert.ok(fs.existsSync(upkeepLogPath(s)), "the upkeep log stays in /var/log");
    const stickerPack = JSON.parse(fs.readFileSync(`${packs}/e2e-pack.json`, "utf8")) as { stickers: { url: string }[] };
    const mountpoint = docker("volume", "inspect", "-f", "{{.Mountpoint}}", `${s.namePrefix}-synapse-data`).trim();
    for (const st of stickerPack.stickers) {
      const id = st.url.split("/").pop()!;
      // Synapse's local layout: local_content/<2>/<2>/<rest>.
      assert.ok(fs.existsSync(`${mountpoint}/media_store/local_content/${id.slice(0, 2)}/${id.slice(2, 4)}/${id.slice(4)}`), `sticker ${id} is still in the kept volume`);
    }
    summary.push(`destroy: cron entry, upkeep files and the widget's files removed; ${stickerPack.stickers.length} stickers still in the kept volume, packs kept in ${packs}`);
    execFileSync("nginx", ["-t"], { stdio: "pipe" });
    const other = await request({ host: "other.localhost", port: Number(process.env.E2E_OTHER_PORT ?? 8481), path: "/" });
    assert.equal(other.body.toString().trim(), "other site");
    const kept = docker("volume", "ls", "-q", "--filter", `name=${s.namePrefix}-`).trim().split("\n").sort();
    assert.deepEqual(kept, [`${s.namePrefix}-postgres-data`, `${s.namePrefix}-synapse-data`]);
    // PostgreSQL was stopped, not killed: its next start on the kept volume needs no crash recovery.
    const check = `${s.namePrefix}-postgres-restart-check`;
    docker("run", "-d", "--name", check, "-v", `${s.namePrefix}-postgres-data:/var/lib/postgresql/data`, s.postgres.image, "postgres");
    try {
      const logs = await poll("PostgreSQL to start on the kept volume", 60_000, async () => {
        const l = execFileSync("docker", ["logs", check], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
        const all = l + execFileSync("sh", ["-c", `docker logs ${check} 2>&1 >/dev/null`], { encoding: "utf8" });
        return /ready to accept connections/.test(all) ? all : undefined;
      });
      const shutdown = logs.split("\n").find((l) => /database system was (shut down|interrupted)/.test(l)) ?? "";
      summary.push(`PostgreSQL on the kept volume after destroy: ${shutdown.replace(/^.*LOG:\s*/, "")}`);
      assert.match(shutdown, /database system was shut down at/, logs);
      assert.doesNotMatch(logs, /automatic recovery in progress|was interrupted/, "no crash recovery");
    } finally {
      docker("rm", "-f", check);
    }
    // Retained as documented; this test run removes them itself so the next run starts clean.
    for (const v of kept) docker("volume", "rm", v);
    fs.rmSync(s.hostDir, { recursive: true, force: true });
    summary.unshift(
      "wall times:",
      ...Object.entries(times).filter(([k]) => k !== "checksStart").map(([k, v]) => `  ${k}: ${(v / 1000).toFixed(1)} s`),
    );
  });
});
