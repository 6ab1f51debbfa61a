/**
 * The two deployments the footprint benchmark compares, on this machine as the
 * VPS (test/e2e/vps.sh), on the same images and the same host port:
 *   - kit: the e2e stack with the kit's defaults for a 1 GB VPS, run by the real
 *     program under Pulumi's MOCK runtime and applied by the e2e apply harness;
 *   - baseline: the hand-made setup the owner gave up on, rebuilt with the docker
 *     CLI: Synapse's own generated homeserver.yaml plus only what the blog adds
 *     (PostgreSQL, media_retention, max_upload_size, the two app service
 *     registrations), PostgreSQL with its defaults, no memory limits.
 * The bridges are the e2e stand-ins in both, with the same rendered configs.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { readStackFile, stackFilePath, validate } from "../../infra/config";
import { backupPaths } from "../../infra/render/backup";
import { bridgesHomeserverAddress } from "../../infra/render/addresses";
import { nginxSitePath } from "../../infra/render/nginx";
import { upkeepCronPath } from "../../infra/render/upkeep";
import { renderBridgeConfig, renderRegistration } from "../../infra/render/bridges";
import { deepMerge } from "../../infra/render/yaml";
import { deriveSecrets, type Secrets } from "../../infra/secrets";
import { containerName, enabledBridges, hostPath, networkName, type Settings } from "../../infra/settings";
import { type StatusSubject, subjectFromSettings } from "../../infra/ops/status";
import { apply, type Applied } from "../../test/harness/apply";
import { destroyApplied } from "../../test/harness/lifecycle";
import { request } from "../../test/harness/http";
import { runProgram } from "../../test/harness/program";
import { docker, poll } from "../../test/harness/wait";


export interface Deployment {
  /** "baseline", "kit", or "kit+<variant>" for the kit with stack settings changed. */
  label: string;
  /** Every container's name starts with it and a dash. */
  namePrefix: string;
  /** The Matrix site on the host's nginx: its port and server name (the owner's way in). */
  front: { port: number; host: string };
  /** Synapse on its loopback port (the owner's logins and the bench's own calls). */
  synapseUrl: string;
  /**
   * Where the bridges' requests go, by its address on the private network as the bridges reach it
   * (not through the published port's docker-proxy): the kit's queue when it runs
   * (render/bridge-queue.ts), otherwise Synapse itself.
   */
  bridgesUrl: string;
  domain: string;
  asTokens: { qq: string; wechat: string };
  subject: StatusSubject;
  /**
   * The owner, an admin: registered with the shared secret and `password` by hand (the baseline),
   * or the account `pulumi up` made (the kit). Returns the password it signs in with.
   */
  registerOwner(localpart: string, password: string): string;
  /** The kit's upkeep job on the host (run.sh), run by hand after the workload; none for the baseline. */
  upkeepRun?: string;
  /** The kit's backup and restore scripts and its repository (a folder of the deployment's own); none for the baseline. */
  backup?: { script: string; restore: string; statusFile: string; repository: string };
  teardown(): Promise<void>;
}

const STACK = "e2e";
const E2E_DIR = process.env.E2E_DIR ?? "/tmp/matrix-kit-e2e";

/** `ok` returns true once the thing is up (the shared poll wants a value). */
const waitFor = (what: string, timeoutMs: number, ok: () => Promise<boolean> | boolean) => poll(what, timeoutMs, async () => ((await ok()) ? true : undefined));

/**
 * An address the kit's containers use on the private network (`http://<container>:<port>`), with
 * the container's name replaced by its IP: this machine is the VPS, so the network is reachable
 * from here, but Docker's DNS names are not.
 */
function onPrivateNetwork(url: string): string {
  const u = new URL(url);
  const ip = docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", u.hostname).trim().split(/\s+/)[0];
  if (!ip) throw new Error(`${u.hostname} has no address on a network`);
  return `http://${ip}:${u.port}`;
}

function removeByPrefix(prefix: string): void {
  const ids = (kind: string[]) => docker(...kind, "-q", "--filter", `name=^${prefix}`).split(/\s+/).filter(Boolean);
  for (const id of ids(["ps", "-a"])) docker("rm", "-f", id);
  for (const id of ids(["network", "ls"])) docker("network", "rm", id);
  for (const id of ids(["volume", "ls"])) docker("volume", "rm", id);
}

/** The stack file's settings with `extra` merged in, as deployKit merges a variant's into the program's. */
function settingsFor(namePrefix: string, extra: Record<string, unknown> = {}): Settings {
  const file = readStackFile(stackFilePath(STACK));
  const v = validate(STACK, { ...file, values: deepMerge({ ...file.values, "matrix:namePrefix": namePrefix }, extra) }, { requireSecrets: false });
  if (!v.ok) throw new Error(v.errors.join("\n"));
  return v.settings;
}

const KIT_PREFIX = `mx-${STACK}`;
const BASELINE_PREFIX = "mx-base";
const BASELINE_FRONT = "/etc/nginx/conf.d/zz-matrix-kit-bench-baseline.conf";

/**
 * What a run that stopped part-way left (a deploy that failed half done, a benchmark killed):
 * either side's containers, networks and volumes, the kit's nginx site and cron entry, the
 * baseline's front. Both sides publish the same host ports, so every deployment starts by
 * removing all of it, not only its own side's.
 */
function removeLeftovers(): void {
  const kit = settingsFor(KIT_PREFIX);
  for (const prefix of [KIT_PREFIX, BASELINE_PREFIX]) removeByPrefix(prefix);
  for (const f of [nginxSitePath(kit), upkeepCronPath(kit), BASELINE_FRONT]) fs.rmSync(f, { force: true });
  execFileSync("nginx", ["-s", "reload"]);
}


// node:http with a socket timeout: Node 20's fetch can wait forever, with nothing keeping the
// process alive, on a connection docker-proxy accepts while Synapse is still starting.
const synapseUp = (port: number) => async () => (await request({ host: "127.0.0.1", port, path: "/health", timeoutMs: 5000 })).status === 200;

/** The kit: the program's resources, applied as `pulumi up` would; a variant replaces stack settings (full keys). */
export async function deployKit(log: (l: string) => void, variant?: { name: string; values: Record<string, unknown> }): Promise<Deployment> {
  // A repository of this deployment's own, new each time: its password derives from this deployment's seed.
  const repository = `${E2E_DIR}/bench/backup-repo-${variant?.name ?? "kit"}`;
  fs.rmSync(repository, { recursive: true, force: true });
  // The variant's settings too: what this side runs (the bridges' queue or not) is read from them.
  const s = settingsFor(KIT_PREFIX, deepMerge({ "matrix:backup": { repository } }, variant?.values ?? {}));
  removeLeftovers();
  const seed = randomBytes(24).toString("hex");
  const hostKey = fs.readFileSync(`${E2E_DIR}/host_ed25519.pub`, "utf8").split(" ").slice(0, 2).join(" ");
  const program = await runProgram({
    stack: STACK,
    secrets: {
      "matrix:secretSeed": seed,
      "matrix:sshPrivateKey": fs.readFileSync(`${E2E_DIR}/id_ed25519`, "utf8"),
      "matrix:cloudflareApiToken": "bench-cloudflare-token-not-used-by-any-api",
    },
    // A variant's values are merged into the stack file's (its image settings stay).
    values: deepMerge({ ...readStackFile(stackFilePath(STACK)).values, "matrix:target": { ...s.target, hostKey }, "matrix:backup": { repository } }, variant?.values ?? {}),
    invokes: "run",
  });
  const applied: Applied = await apply(program, { retainVolumes: false, log });
  const url = `http://127.0.0.1:${s.synapse.hostPort}`;
  await waitFor("the kit's Synapse", 120_000, synapseUp(s.synapse.hostPort));
  const sec = deriveSecrets(seed);
  return {
    label: variant ? `kit+${variant.name}` : "kit",
    namePrefix: s.namePrefix,
    front: { port: s.nginx.httpPort, host: s.matrixHost },
    synapseUrl: url,
    bridgesUrl: onPrivateNetwork(bridgesHomeserverAddress(s)),
    domain: s.domain,
    asTokens: { qq: sec.qq.asToken, wechat: sec.wechat.asToken },
    subject: subjectFromSettings(s),
    // The kit made the owner's account itself (@<admin>, its first password from the seed).
    registerOwner: (u) => {
      if (u !== s.admin) throw new Error(`the kit makes @${s.admin}, not @${u}`);
      return sec.ownerPassword;
    },
    upkeepRun: s.upkeep.enabled ? hostPath(s, "upkeep", "run.sh") : undefined,
    backup: s.backup.enabled ? { ...backupPaths(s), repository } : undefined,
    teardown: async () => {
      const errors = await destroyApplied(applied, { log });
      if (errors.length) throw new Error(`destroy: ${errors.join("; ")}`);
      removeByPrefix(s.namePrefix);
    },
  };
}

/** What the blog adds to Synapse's generated homeserver.yaml, and nothing else. */
export function baselineHomeserver(generated: Record<string, any>, s: Settings, sec: Secrets): Record<string, any> {
  const cfg = structuredClone(generated);
  cfg.database = {
    name: "psycopg2",
    args: { user: "synapse", password: sec.postgresPassword, database: "synapse", host: containerName(s, "postgres"), cp_min: 5, cp_max: 10 },
  };
  // The owner's setting after the disk filled, and Synapse's documented example for remote media.
  cfg.media_retention = { local_media_lifetime: "3d", remote_media_lifetime: "14d" };
  cfg.max_upload_size = s.synapse.maxUploadSize;
  cfg.app_service_config_files = enabledBridges(s).map((b) => `/data/appservices/${b.kind}.yaml`);
  // The official image's `generate` listens on all addresses; the bare generator on loopback
  // only, unreachable through a published port. This is the one change that is not the blog's.
  for (const l of cfg.listeners ?? []) delete l.bind_addresses;
  return cfg;
}

/** The blog's nginx site: a plain proxy to Synapse on the port and name the kit's site uses. */
function writeBaselineFront(s: Settings): void {
  fs.writeFileSync(
    BASELINE_FRONT,
    `server {\n    listen 127.0.0.1:${s.nginx.httpPort};\n    server_name ${s.matrixHost};\n    client_max_body_size ${s.synapse.maxUploadSize};\n` +
      `    location / {\n        proxy_pass http://127.0.0.1:${s.synapse.hostPort};\n        proxy_set_header Host $host;\n        proxy_set_header X-Forwarded-For $remote_addr;\n    }\n}\n`,
  );
  execFileSync("nginx", ["-s", "reload"]);
}

/** The hand-made setup, with the docker CLI. */
export async function deployBaseline(log: (l: string) => void): Promise<Deployment> {
  // The hand-made setup had no watchdog (its bridges were restarted by hand), and its bridges talked to Synapse directly.
  const s = settingsFor(BASELINE_PREFIX, { "matrix:watchdog": { enabled: false }, "matrix:bridgeQueue": { enabled: false } });
  removeLeftovers();
  const sec = deriveSecrets(randomBytes(24).toString("hex"));
  const dir = `${E2E_DIR}/bench-baseline`;
  fs.rmSync(dir, { recursive: true, force: true });
  for (const d of ["synapse/appservices", "qq", "wechat"]) fs.mkdirSync(`${dir}/${d}`, { recursive: true });
  const net = networkName(s);
  const pg = containerName(s, "postgres");
  docker("network", "create", net);
  log(`baseline: PostgreSQL with its defaults (${s.postgres.image})`);
  docker("run", "-d", "--name", pg, "--network", net, "-e", "POSTGRES_USER=synapse", "-e", `POSTGRES_PASSWORD=${sec.postgresPassword}`,
    "-e", "POSTGRES_INITDB_ARGS=--encoding=UTF8 --locale=C", "-v", `${s.namePrefix}-postgres-data:/var/lib/postgresql/data`, s.postgres.image, "postgres");
  await waitFor("the baseline's PostgreSQL", 120_000, () => {
    // The entrypoint's temporary server answers pg_isready before POSTGRES_DB exists; the real one logs this last.
    return /database system is ready to accept connections[\s\S]*database system is ready to accept connections/.test(
      execFileSync("sh", ["-c", `docker logs ${pg} 2>&1`], { encoding: "utf8" }),
    );
  });
  for (const b of enabledBridges(s)) docker("exec", pg, "psql", "-q", "-U", "synapse", "-d", "synapse", "-c", `CREATE DATABASE ${b.database}`);

  log("baseline: Synapse's generated homeserver.yaml");
  docker("run", "--rm", "-v", `${dir}/synapse:/data`, "-w", "/data", s.synapse.image, "python", "-m", "synapse.app.homeserver", "--generate-config",
    "--server-name", s.domain, "--config-path", "/data/homeserver.yaml", "--data-directory", "/data", "--report-stats=no");
  const generated = parseYaml(fs.readFileSync(`${dir}/synapse/homeserver.yaml`, "utf8"));
  fs.writeFileSync(`${dir}/synapse/homeserver.yaml`, toYaml(baselineHomeserver(generated, s, sec)));
  for (const b of enabledBridges(s)) {
    const registration = renderRegistration(s, b, sec);
    fs.writeFileSync(`${dir}/synapse/appservices/${b.kind}.yaml`, registration);
    fs.writeFileSync(`${dir}/${b.kind}/registration.yaml`, registration);
    // As the hand-made setup had it: the bridges connect as the superuser (the kit gives each its own role).
    const asSuperuser = { ...b, databaseRole: s.postgres.superuser };
    fs.writeFileSync(`${dir}/${b.kind}/config.yaml`, renderBridgeConfig(s, asSuperuser, { ...sec, databasePasswords: { ...sec.databasePasswords, [b.kind]: sec.postgresPassword } }));
  }
  execFileSync("chown", ["-R", "991:991", `${dir}/synapse`]);
  docker("run", "-d", "--name", containerName(s, "synapse"), "--network", net, "-p", `127.0.0.1:${s.synapse.hostPort}:8008`,
    "-e", "SYNAPSE_CONFIG_PATH=/data/homeserver.yaml", "-v", `${dir}/synapse:/data`, s.synapse.image);
  for (const b of enabledBridges(s)) docker("run", "-d", "--name", containerName(s, b.kind), "--network", net, "-v", `${dir}/${b.kind}:/data`, b.image);
  const url = `http://127.0.0.1:${s.synapse.hostPort}`;
  await waitFor("the baseline's Synapse", 180_000, synapseUp(s.synapse.hostPort));
  writeBaselineFront(s);
  return {
    label: "baseline",
    namePrefix: s.namePrefix,
    front: { port: s.nginx.httpPort, host: s.matrixHost },
    synapseUrl: url,
    // Synapse itself: the baseline runs no queue (bridgeQueue.enabled false above).
    bridgesUrl: onPrivateNetwork(bridgesHomeserverAddress(s)),
    domain: s.domain,
    asTokens: { qq: sec.qq.asToken, wechat: sec.wechat.asToken },
    subject: { ...subjectFromSettings(s), synapseData: `${dir}/synapse` },
    registerOwner: (u, p) => {
      docker("exec", containerName(s, "synapse"), "register_new_matrix_user", "-u", u, "-p", p, "-a", "-c", "/data/homeserver.yaml", "http://localhost:8008");
      return p;
    },
    teardown: async () => {
      removeByPrefix(s.namePrefix);
      fs.rmSync(BASELINE_FRONT, { force: true });
      execFileSync("nginx", ["-s", "reload"]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
