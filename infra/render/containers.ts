/**
 * Every container the kit runs, as plain data: the components turn these into
 * docker.Container inputs and `npm run render` prints them in plan.json, so the
 * plan a user reads is the one that is applied.
 */
import type { Secrets } from "../secrets";
import { containerName, hostPath, networkName, volumeName, type Bridge, type Settings } from "../settings";
import { BRIDGE_PATHS, SYNAPSE_PATHS } from "./addresses";
import { cpuSpec, type ContainerSpec } from "./container-spec";
import { healthcheck, healthCommandWords } from "./healthcheck";
import { postgresSettings, synapseAllocatorEnv } from "./tuning";

/**
 * The superuser's password, given to the server's entrypoint as a file (POSTGRES_PASSWORD_FILE,
 * read at initdb only) from the host, where it is the postgres user's alone (0600).
 */
export const POSTGRES_PASSWORD_PATH = "/run/secrets/postgres-password";

/**
 * The image's entrypoint exports the password it read from the file (its `file_env`) for initdb,
 * and ends with `exec postgres ...`, so the server and every backend it forks would carry it in
 * /proc/<pid>/environ. The kit puts its own `postgres` first on the entrypoint's PATH: it drops the
 * password from the environment and runs the image's server. The entrypoint itself is the image's.
 */
export const POSTGRES_WRAPPER = { dir: "/kit-bin", path: "/kit-bin/postgres" } as const;

export function postgresWrapperHostPath(s: Settings): string {
  return hostPath(s, "postgres", "kit-bin/postgres");
}

/** The kit's `postgres`: the environment without the password, then the image's own server. */
export function renderPostgresWrapper(): string {
  return [
    "#!/bin/sh",
    "# Managed by matrix-kit: the image's entrypoint ends with `exec postgres ...`, and this is the",
    "# postgres its PATH finds first. The entrypoint exported the superuser's password for initdb: the",
    "# server and its backends get an environment without it. Then the image's own server runs.",
    "unset POSTGRES_PASSWORD PGPASSWORD",
    `PATH=\${PATH#${POSTGRES_WRAPPER.dir}:}`,
    'exec postgres "$@"',
    "",
  ].join("\n");
}

/** The password file's content (the entrypoint drops the trailing newline, as `$(< file)` does). */
export function renderPostgresPassword(sec: Secrets): string {
  return `${sec.postgresPassword}\n`;
}

const LOOPBACK = "127.0.0.1" as const;

export function postgresSpec(s: Settings): ContainerSpec {
  return {
    service: "postgres",
    name: containerName(s, "postgres"),
    image: s.postgres.image,
    network: networkName(s),
    ports: [],
    env: [
      { name: "POSTGRES_USER", value: s.postgres.superuser },
      { name: "POSTGRES_PASSWORD_FILE", value: POSTGRES_PASSWORD_PATH },
      // The kit creates its databases itself (UTF8, C collation, template0).
      { name: "POSTGRES_DB", value: "postgres" },
      { name: "POSTGRES_INITDB_ARGS", value: "--encoding=UTF8 --locale=C" },
    ],
    volumes: [
      { containerPath: "/var/lib/postgresql/data", volumeName: volumeName(s, "postgres"), readOnly: false },
      { containerPath: POSTGRES_PASSWORD_PATH, hostPath: hostPath(s, "postgres", "password"), readOnly: true },
      { containerPath: POSTGRES_WRAPPER.path, hostPath: postgresWrapperHostPath(s), readOnly: true },
    ],
    memoryBytes: s.postgres.memoryLimitBytes,
    cpu: cpuSpec(s, "postgres"),
    // The image's entrypoint (which initialises a new volume) with the kit's postgres first on its PATH.
    entrypoint: ["/bin/sh", "-c", `PATH="${POSTGRES_WRAPPER.dir}:$PATH" exec docker-entrypoint.sh "$@"`, "postgres-entrypoint"],
    command: postgresCommand(s),
    // The start period covers crash recovery after an unclean stop (a killed VPS) on a slow disk.
    healthcheck: healthcheck(s, ["CMD", "pg_isready", "-q", "-U", s.postgres.superuser, "-d", "postgres"], { startPeriodSeconds: 60, retries: 3 }),
    // SIGINT is PostgreSQL's fast shutdown (the official image's STOPSIGNAL): it aborts
    // transactions and writes a checkpoint, so the next start needs no crash recovery.
    // The grace covers that checkpoint with shared_buffers full of dirty pages on a slow disk.
    stop: { signal: "SIGINT", graceSeconds: 60 },
    restart: "unless-stopped",
  };
}

/** PostgreSQL server options for a small host (render/tuning.ts), passed as `postgres -c ...`. */
export function postgresCommand(s: Settings): string[] {
  return ["postgres", ...postgresSettings(s).flatMap(([k, v]) => ["-c", `${k}=${v}`])];
}

export function synapseSpec(s: Settings): ContainerSpec {
  return {
    service: "synapse",
    name: containerName(s, "synapse"),
    image: s.synapse.image,
    network: networkName(s),
    ports: [{ internal: 8008, external: s.synapse.hostPort, ip: LOOPBACK }],
    env: [
      { name: "SYNAPSE_CONFIG_PATH", value: SYNAPSE_PATHS.config },
      { name: "SYNAPSE_CONFIG_DIR", value: SYNAPSE_PATHS.configDir },
      { name: "SYNAPSE_DATA_DIR", value: SYNAPSE_PATHS.dataDir },
      { name: "UID", value: String(s.synapse.uid) },
      { name: "GID", value: String(s.synapse.gid) },
      // The allocator's settings (render/tuning.ts, synapseAllocatorEnv): the image preloads jemalloc.
      ...synapseAllocatorEnv(s),
    ],
    volumes: [
      { containerPath: SYNAPSE_PATHS.dataDir, volumeName: volumeName(s, "synapse"), readOnly: false },
      { containerPath: SYNAPSE_PATHS.configDir, hostPath: hostPath(s, "synapse"), readOnly: true },
    ],
    memoryBytes: s.synapse.memoryLimitBytes,
    cpu: cpuSpec(s, "synapse"),
    // The start period covers a first start's database migrations on a one-CPU VPS.
    healthcheck: healthcheck(s, ["CMD", "curl", "-fSs", "http://localhost:8008/health"], { startPeriodSeconds: 120, retries: 3 }),
    // Synapse finishes in-flight requests and stops its background processes on SIGTERM.
    stop: { signal: "SIGTERM", graceSeconds: 30 },
    restart: "unless-stopped",
  };
}

/**
 * A data container's own health check, shell-quoted for `docker exec <container> ...`: the one its
 * spec gives Docker, run by the kit's waits (the update's, the step before an upgrade, the restore's).
 */
export function healthCheckWords(s: Settings, service: "postgres" | "synapse"): string {
  return healthCommandWords((service === "postgres" ? postgresSpec : synapseSpec)(s).healthcheck);
}

export function bridgeSpec(s: Settings, b: Bridge): ContainerSpec {
  return {
    service: b.kind,
    name: containerName(s, b.kind),
    image: b.image,
    network: networkName(s),
    ports: b.kind === "wechat" ? [{ internal: b.listenPort, external: b.hostPort, ip: LOOPBACK }] : [],
    env: [],
    // Bridge state lives in PostgreSQL; /data holds the kit's config and registration,
    // which the bridge rewrites on start (so it is writable, owned by the bridge's user).
    volumes: [{ containerPath: BRIDGE_PATHS.dataDir, hostPath: hostPath(s, b.kind), readOnly: false }],
    memoryBytes: b.memoryLimitBytes,
    cpu: cpuSpec(s, b.kind),
    // mautrix app services answer /_matrix/mau/live; the alpine images have busybox wget, not curl.
    // The start period covers the bridge's wait for Synapse and its own database upgrade.
    healthcheck: healthcheck(s, ["CMD", "wget", "-q", "-O", "/dev/null", `http://127.0.0.1:${b.appservicePort}/_matrix/mau/live`], {
      startPeriodSeconds: 60,
      retries: 3,
    }),
    // The mautrix bridges flush their state to PostgreSQL on SIGTERM.
    stop: { signal: "SIGTERM", graceSeconds: 15 },
    restart: "unless-stopped",
  };
}
