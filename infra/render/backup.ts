/**
 * Backups: restic on the VPS, into the repository the stack names. The kit writes a
 * backup script and a restore script (templates/backup/), the repository's password file (a
 * derived secret) and a nightly cron entry. What a backup holds: each database dumped inside the
 * PostgreSQL container (and the roles), the Synapse volume without remote media and URL
 * previews (unless the stack includes remote media), the bridges' files, the sticker packs and
 * the watchdog's record. Pure: settings in, file texts out.
 */
import { containerName, enabledBridges, hostPath, volumeName, type BackupSettings, type Settings } from "../settings";
import { SYNAPSE_PATHS } from "./addresses";
import { renderTemplate, shellQuote } from "./templates";
import { upkeepLock } from "./upkeep";
import { healthCheckWords } from "./containers";
import { ownershipSql } from "./postgres";
import { MONITOR_LOCALPART, WATCHDOG_ROOMS_KEY } from "./names";

type Enabled = Extract<BackupSettings, { enabled: true }>;

/** The result file's name, in a directory of its own that the watchdog mounts read-only (the password stays out of it). */
export const BACKUP_RESULT_FILE = "last.json";

/** The kit's backup files on the host; the result file outlives a failed run for status and the watchdog. */
export function backupPaths(s: Settings) {
  const dir = hostPath(s, "backup");
  const stateDir = hostPath(s, "backup-state");
  return {
    dir,
    script: `${dir}/backup.sh`,
    restore: `${dir}/restore.sh`,
    passwordFile: `${dir}/password`,
    stateDir,
    statusFile: `${stateDir}/${BACKUP_RESULT_FILE}`,
    cacheDir: `${dir}/cache`,
    stage: `${dir}/stage`,
    work: `${dir}/restore-work`,
  };
}

/** cron ignores files in /etc/cron.d whose names contain a dot: the prefix has none. */
export function backupCronPath(s: Settings): string {
  return `/etc/cron.d/${s.namePrefix}-backup`;
}

export function backupLogPath(s: Settings): string {
  return `/var/log/${s.namePrefix}-backup.log`;
}

/** Caches in the Synapse volume (under its data dir): other servers' media, and URL previews. */
const REMOTE_MEDIA = ["media_store/remote_content", "media_store/remote_thumbnail"];
const URL_PREVIEWS = ["media_store/url_cache", "media_store/url_cache_thumbnails"];

/**
 * What restic saves besides the dumps: the Synapse volume by name (found on the host at run
 * time), host folders a restore replaces whole (the sticker packs, the watchdog's record), and
 * the bridges' data folders, whose files a restore puts back beside the config and registration
 * that `pulumi up` renders (those two are left out: the stack renders them again).
 */
function saved(s: Settings, b: Enabled) {
  const bridgeDirs = enabledBridges(s).map((x) => hostPath(s, x.kind));
  return {
    volumes: [volumeName(s, "synapse")],
    hostDirs: [hostPath(s, "stickers", "packs"), hostPath(s, "watchdog-state")],
    bridgeDirs,
    excludes: [
      // A pattern without a leading / matches at any depth: these are in the Synapse volume.
      ...(b.includeRemoteMedia ? [] : REMOTE_MEDIA),
      ...URL_PREVIEWS,
      ...bridgeDirs.flatMap((d) => [`${d}/config.yaml`, `${d}/registration.yaml`]),
    ],
  };
}

function common(s: Settings, b: Enabled) {
  const p = backupPaths(s);
  return {
    stack: s.stack,
    repository: b.repository,
    passwordFile: p.passwordFile,
    cacheDir: p.cacheDir,
    stage: p.stage,
    lock: `/tmp/${s.namePrefix}-backup.lock`,
    // restic's host name for the snapshots: the deployment, not the machine (a restore may run on another).
    host: s.namePrefix,
    postgres: containerName(s, "postgres"),
    synapse: containerName(s, "synapse"),
    user: s.postgres.superuser,
    // Synapse's server key, derived inside its container from the signing key it loaded: the backup
    // notes it, the restore compares it before and after. Not /_matrix/key/v2/server: with
    // matrix:federation.mode "off" Synapse serves no key resource (it answers 404). The JSON has the
    // shape of that endpoint's verify_keys, so backups noted from it compare the same.
    serverKey: `docker exec ${shellQuote(containerName(s, "synapse"))} python -c ${shellQuote(serverKeyPython(SYNAPSE_PATHS.signingKey))}`,
  };
}

/**
 * The owner's events: those outside the rooms the watchdog makes itself, whose ids its monitoring
 * account keeps in its account data (a new deployment's watchdog makes them before any restore).
 */
export function ownerEventsSql(s: Settings): string {
  const kitRooms = `SELECT value FROM account_data, json_each_text(content::json) WHERE user_id = '@${MONITOR_LOCALPART}:${s.domain}' AND account_data_type = '${WATCHDOG_ROOMS_KEY}'`;
  return `SELECT count(*) FROM events WHERE room_id NOT IN (${kitRooms})`;
}

/** Python (run with Synapse's own signedjson) printing the public half of a signing key file, compact. */
export function serverKeyPython(signingKeyPath: string): string {
  return [
    "import json, sys",
    "from signedjson.key import read_signing_keys, get_verify_key, encode_verify_key_base64",
    `keys = read_signing_keys(open(${JSON.stringify(signingKeyPath)}))`,
    'vk = {"%s:%s" % (k.alg, k.version): {"key": encode_verify_key_base64(get_verify_key(k))} for k in keys}',
    'sys.stdout.write(json.dumps({"verify_keys": vk}, separators=(",", ":"), sort_keys=True))',
  ].join("\n");
}

export function renderBackupScript(s: Settings, b: Enabled): string {
  return renderTemplate("backup/backup.sh.hbs", {
    ...common(s, b),
    ...saved(s, b),
    statusFile: backupPaths(s).statusFile,
    databases: [s.postgres.synapseDatabase, ...enabledBridges(s).map((x) => x.database)],
    keep: b.keep,
  });
}

export function renderRestoreScript(s: Settings, b: Enabled): string {
  const bridges = enabledBridges(s).map((x) => containerName(s, x.kind));
  const watchdog = s.watchdog.enabled ? [containerName(s, "watchdog")] : [];
  const { hostDirs, bridgeDirs } = saved(s, b);
  return renderTemplate("backup/restore.sh.hbs", {
    ...common(s, b),
    hostDirs,
    bridgeDirs,
    work: backupPaths(s).work,
    upkeepLock: upkeepLock(s),
    synapseDatabase: s.postgres.synapseDatabase,
    ownerEventsSql: ownerEventsSql(s),
    // Files a new deployment makes by itself: not data a restore must refuse to overwrite.
    cacheExcludes: [...REMOTE_MEDIA, ...URL_PREVIEWS].map((d) => `! -path ${shellQuote(`./${d}/*`)}`).join(" "),
    ownershipSql: ownershipSql(s),
    stop: [...watchdog, ...bridges, containerName(s, "synapse")],
    // Its wait for Synapse runs Synapse's own health check too (render/healthcheck.ts).
    synapseCheck: healthCheckWords(s, "synapse"),
    start: [...bridges, ...watchdog],
  });
}

export function renderBackupCron(s: Settings, b: Enabled): string {
  return renderTemplate("backup/cron.hbs", { stack: s.stack, schedule: b.schedule, run: backupPaths(s).script, log: backupLogPath(s) });
}

/** The last line the repository check prints when the VPS can open (or has just made) the repository. */
export const REPOSITORY_OK = "matrix-kit: backup repository ok";

/**
 * Opens matrix:backup.repository on the VPS with the stack's password (stdin), before anything is
 * changed: a repository another deployment made (another password) fails the preview and the
 * update, naming the setting and restic's reason, instead of the first nightly backup or a destroy's.
 * `init`: an update initialises a repository that is not there yet (a preview only says so).
 */
export function openRepositoryScript(b: Enabled, init: boolean): string {
  return renderTemplate("host/open-backup-repository.sh.hbs", { repository: b.repository, init, ok: REPOSITORY_OK });
}

/** The repository's password: a derived secret, in a root-only file on the host, never printed. */
export function renderBackupPassword(password: string): string {
  return `${password}\n`;
}
