/**
 * The upkeep job: a cron entry on the host runs templates/upkeep/run.sh.hbs, which
 * starts templates/upkeep/upkeep.py in a throwaway container of the Synapse image (Python and
 * psycopg2, nothing to pull) on the private network. Each run expires media by who uploaded
 * them (the bridges' ghosts and bots after `bridgedMediaLifetime`; real local users only when
 * `localUserMediaLifetime` is set; protected media never), optionally purges old history in
 * bridged rooms, compresses Synapse's state tables and vacuums its database, and logs what it
 * freed. Pure: settings and secrets in, file texts out.
 */
import type { Secrets } from "../secrets";
import { containerName, enabledBridges, hostPath, networkName, volumeName, type Settings, type UpkeepSettings } from "../settings";
import { bridgeUserRegexes } from "./bridges";
import { cpuSpec } from "./container-spec";
import { SYNAPSE_PATHS, synapsePrivateUrl } from "./addresses";
import { durationSeconds } from "./duration";
import { renderTemplate } from "./templates";
import { MONITOR_LOCALPART } from "./names";

type Enabled = Extract<UpkeepSettings, { enabled: true }>;

export const UPKEEP_PATHS = {
  dir: "/upkeep",
  script: "/upkeep/upkeep.py",
  config: "/upkeep/config.json",
  /** pip's target for the state compressor, kept between runs in the job's cache. */
  vendor: "/upkeep-cache/vendor",
  cache: "/upkeep-cache",
  /** The Synapse volume, read-only: the job measures the media store with it. */
  data: "/data",
  /** <hostDir>/admin: the admin account's token, kept between runs and shared with `npm run stickers`. */
  admin: "/kit-admin",
  adminToken: "/kit-admin/token",
} as const;

/** Where the kit's admin account's token is kept on the host (a login per use would hit Synapse's login rate limit). */
export function adminTokenPath(s: Settings): string {
  return hostPath(s, "admin", "token");
}

/** The kit's admin account on Synapse (admin API calls of the job and `npm run stickers`). */
export const ADMIN_LOCALPART = "kit-admin";

/**
 * rust-synapse-compress-state's Python binding, from PyPI: 0.1.2 is the last release with a
 * working wheel (0.1.4's wheel ships a 15 KB library with no symbols). Hash-pinned.
 */
export const STATE_COMPRESSOR = {
  requirement: "synapse_auto_compressor==0.1.2",
  sha256: "d2e9a8c5432c3140ba3c9ca5fd43531df2aa417f2feeb0fc2045eb8f00550b20",
  // The tool's documented defaults for a scheduled run (its README: 500 groups a chunk, 100 chunks).
  chunkSize: 500,
  defaultLevels: "100,50,25",
  numberOfChunks: 100,
} as const;

/** Where the log of every run goes on the host (outside the kit's directory: it outlives a destroy). */
export function upkeepLogPath(s: Settings): string {
  return `/var/log/${s.namePrefix}-upkeep.log`;
}

/** cron ignores files in /etc/cron.d whose names contain a dot: the prefix has none. */
export function upkeepCronPath(s: Settings): string {
  return `/etc/cron.d/${s.namePrefix}-upkeep`;
}

/** The credentials of the kit's admin account, on the host for the job and `npm run stickers`. */
export function adminAccountFile(s: Settings, sec: Secrets): string {
  return `${JSON.stringify(
    {
      homeserver: `http://127.0.0.1:${s.synapse.hostPort}`,
      serverName: s.domain,
      localpart: ADMIN_LOCALPART,
      password: sec.adminPassword,
      registrationSharedSecret: sec.registrationSharedSecret,
      owner: `@${s.admin}:${s.domain}`,
    },
    null,
    2,
  )}\n`;
}

export function upkeepConfig(s: Settings, u: Enabled, sec: Secrets): Record<string, unknown> {
  const lifetime = (v: string | null) => (v === null ? null : durationSeconds(v));
  return {
    homeserver: synapsePrivateUrl(s),
    serverName: s.domain,
    admin: { localpart: ADMIN_LOCALPART, password: sec.adminPassword, tokenFile: UPKEEP_PATHS.adminToken },
    registrationSharedSecret: sec.registrationSharedSecret,
    database: {
      host: containerName(s, "postgres"),
      port: 5432,
      user: s.postgres.upkeepRole,
      password: sec.databasePasswords.upkeep,
      name: s.postgres.synapseDatabase,
    },
    mediaStore: SYNAPSE_PATHS.mediaStore,
    // Every user the bridges puppet or run as (their registrations' exclusive namespaces).
    bridgedUsers: enabledBridges(s).flatMap((b) => bridgeUserRegexes(s, b)),
    bridgeBots: enabledBridges(s).map((b) => `@${b.botLocalpart}:${s.domain}`),
    // The kit's own accounts upload nothing worth keeping and are never "the owner's".
    kitUsers: [`@${ADMIN_LOCALPART}:${s.domain}`, `@${MONITOR_LOCALPART}:${s.domain}`],
    bridgedMediaLifetimeSeconds: durationSeconds(s.synapse.mediaRetention.bridgedMediaLifetime),
    localUserMediaLifetimeSeconds: lifetime(s.synapse.mediaRetention.localUserMediaLifetime),
    bridgedRoomHistoryLifetimeSeconds: lifetime(u.bridgedRoomHistoryLifetime),
    stateCompression: u.stateCompression ? { ...STATE_COMPRESSOR, vendor: UPKEEP_PATHS.vendor } : null,
    lastRunFile: `${UPKEEP_PATHS.cache}/last-run.json`,
  };
}

export function renderUpkeepConfig(s: Settings, u: Enabled, sec: Secrets): string {
  return `${JSON.stringify(upkeepConfig(s, u, sec), null, 2)}\n`;
}

export function upkeepLock(s: Settings): string {
  return `/tmp/${s.namePrefix}-upkeep.lock`;
}

/** Waits for a run in flight (it holds the lock), then removes a container a killed run left. */
export function upkeepDrainScript(s: Settings): string {
  return renderTemplate("upkeep/drain.sh.hbs", { lock: upkeepLock(s), container: containerName(s, "upkeep") });
}

/** The script cron runs: one run at a time, output to the log, the container removed after. */
export function renderUpkeepRunScript(s: Settings, u: Enabled): string {
  return renderTemplate("upkeep/run.sh.hbs", {
    stack: s.stack,
    lock: upkeepLock(s),
    log: upkeepLogPath(s),
    container: containerName(s, "upkeep"),
    network: networkName(s),
    memory: `${Math.floor(u.memoryLimitBytes / 1024 ** 2)}m`,
    cpu: cpuSpec(s, "upkeep"),
    dir: hostPath(s, "upkeep"),
    cache: hostPath(s, "upkeep", "cache"),
    adminDir: hostPath(s, "admin"),
    volume: volumeName(s, "synapse"),
    image: s.synapse.image,
    paths: UPKEEP_PATHS,
  });
}

export function renderUpkeepCron(s: Settings, u: Enabled): string {
  return renderTemplate("upkeep/cron.hbs", { stack: s.stack, schedule: u.schedule, run: hostPath(s, "upkeep", "run.sh") });
}
