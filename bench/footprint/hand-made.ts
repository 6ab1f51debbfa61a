/**
 * The setups the kit is measured against, rebuilt with the docker CLI on the kit's images, with no
 * memory or CPU limit, no watchdog and the bridges talking to Synapse directly:
 *   - baseline: the hand-made setup the owner gave up on: Synapse's own generated homeserver.yaml
 *     plus only what the blog adds (PostgreSQL, media_retention, max_upload_size, the two app
 *     service registrations), PostgreSQL with its defaults;
 *   - mdad: the same, tuned as matrix-docker-ansible-deploy tunes a 1 GB host (peer.ts): its
 *     Synapse caches, presence, pool and log levels, and its PostgreSQL server options.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { renderBridgeConfig, renderRegistration } from "../../infra/render/bridges";
import { deepMerge } from "../../infra/render/yaml";
import { deriveSecrets, type Secrets } from "../../infra/secrets";
import { containerName, enabledBridges, networkName, type Settings } from "../../infra/settings";
import { subjectFromSettings } from "../../infra/ops/status";
import { containerLog, docker } from "../../test/harness/wait";
import { E2E_DIR, HAND_MADE_FRONT, HAND_MADE_PREFIXES, reachOf, removeByPrefix, removeLeftovers, settingsFor, synapseUp, waitFor, type Deployment } from "./deploy";
import { peerHomeserver, peerLogConfig, peerPostgresSettings } from "./peer";

export type HandMade = keyof typeof HAND_MADE_PREFIXES;

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
function writeFront(s: Settings): void {
  fs.writeFileSync(
    HAND_MADE_FRONT,
    `server {\n    listen 127.0.0.1:${s.nginx.httpPort};\n    server_name ${s.matrixHost};\n    client_max_body_size ${s.synapse.maxUploadSize};\n` +
      `    location / {\n        proxy_pass http://127.0.0.1:${s.synapse.hostPort};\n        proxy_set_header Host $host;\n        proxy_set_header X-Forwarded-For $remote_addr;\n    }\n}\n`,
  );
  execFileSync("nginx", ["-s", "reload"]);
}

/** The baseline (`side` "baseline") or the peer with MDAD's defaults ("mdad"), with the docker CLI. */
export async function deployHandMade(side: HandMade, log: (l: string) => void): Promise<Deployment> {
  // The hand-made setup had no watchdog (its bridges were restarted by hand), and its bridges talked to Synapse directly.
  const s = settingsFor(HAND_MADE_PREFIXES[side], { "matrix:watchdog": { enabled: false }, "matrix:bridgeQueue": { enabled: false } });
  removeLeftovers();
  const sec = deriveSecrets(randomBytes(24).toString("hex"));
  const dir = `${E2E_DIR}/bench-${side}`;
  fs.rmSync(dir, { recursive: true, force: true });
  for (const d of ["synapse/appservices", "qq", "wechat"]) fs.mkdirSync(`${dir}/${d}`, { recursive: true });
  const net = networkName(s);
  const pg = containerName(s, "postgres");
  docker("network", "create", net);
  const pgOptions = side === "mdad" ? peerPostgresSettings().flatMap(([k, v]) => ["-c", `${k}=${v}`]) : [];
  log(`${side}: PostgreSQL with ${side === "mdad" ? `MDAD's options (${pgOptions.filter((_, i) => i % 2).join(" ")})` : "its defaults"} (${s.postgres.image})`);
  docker("run", "-d", "--name", pg, "--network", net, "-e", "POSTGRES_USER=synapse", "-e", `POSTGRES_PASSWORD=${sec.postgresPassword}`,
    "-e", "POSTGRES_INITDB_ARGS=--encoding=UTF8 --locale=C", "-v", `${s.namePrefix}-postgres-data:/var/lib/postgresql/data`, s.postgres.image, "postgres", ...pgOptions);
  await waitFor(`the ${side}'s PostgreSQL`, 120_000, () => {
    // The entrypoint's temporary server answers pg_isready before POSTGRES_DB exists; the real one logs this last.
    return /database system is ready to accept connections[\s\S]*database system is ready to accept connections/.test(
      containerLog(pg),
    );
  });
  for (const b of enabledBridges(s)) docker("exec", pg, "psql", "-q", "-U", "synapse", "-d", "synapse", "-c", `CREATE DATABASE ${b.database}`);

  log(`${side}: Synapse's generated homeserver.yaml${side === "mdad" ? " with MDAD's tuning" : ""}`);
  docker("run", "--rm", "-v", `${dir}/synapse:/data`, "-w", "/data", s.synapse.image, "python", "-m", "synapse.app.homeserver", "--generate-config",
    "--server-name", s.domain, "--config-path", "/data/homeserver.yaml", "--data-directory", "/data", "--report-stats=no");
  const generated = parseYaml(fs.readFileSync(`${dir}/synapse/homeserver.yaml`, "utf8"));
  const homeserver = baselineHomeserver(generated, s, sec);
  fs.writeFileSync(`${dir}/synapse/homeserver.yaml`, toYaml(side === "mdad" ? deepMerge(homeserver, peerHomeserver()) : homeserver));
  // MDAD logs to the console at WARNING; the generated log config writes INFO to /data/homeserver.log.
  if (side === "mdad") fs.writeFileSync(`${dir}/synapse/${String(generated.log_config).replace(/^\/data\//, "")}`, toYaml(peerLogConfig()));
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
  await waitFor(`the ${side}'s Synapse`, 180_000, synapseUp(s.synapse.hostPort));
  writeFront(s);
  const logFile = `${dir}/synapse/homeserver.log`;
  return {
    label: side,
    // The bridges reach Synapse itself: no queue (bridgeQueue.enabled false above).
    ...reachOf(s, sec),
    subject: { ...subjectFromSettings(s), synapseData: `${dir}/synapse` },
    owner: () => {
      const password = `bench-${Date.now()}`;
      docker("exec", containerName(s, "synapse"), "register_new_matrix_user", "-u", "owner", "-p", password, "-a", "-c", "/data/homeserver.yaml", "http://localhost:8008");
      return { localpart: "owner", password };
    },
    // The generated log config writes to a file (flushed every few seconds); MDAD's logs no requests.
    synapseLog: () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8") : ""),
    teardown: async () => {
      removeByPrefix(s.namePrefix);
      fs.rmSync(HAND_MADE_FRONT, { force: true });
      execFileSync("nginx", ["-s", "reload"]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
