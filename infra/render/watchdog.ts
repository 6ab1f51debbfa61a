/**
 * The watchdog: its configuration and its container. It runs
 * templates/watchdog/watchdog.py in the Synapse image (Python, nothing to pull)
 * on the private network; it restarts a bridge through the Docker filter (render/docker-filter.ts),
 * on a network only the two share, never with the socket itself.
 */
import type { Secrets } from "../secrets";
import { containerName, enabledBridges, hostPath, networkName, type Bridge, type Settings, type WatchdogSettings } from "../settings";
import { acmeLogPath, acmePaths } from "./acme";
import { BACKUP_RESULT_FILE, backupLogPath, backupPaths } from "./backup";
import { appserviceUrl, COMMAND_PREFIX } from "./bridges";
import { bridgeSpec } from "./containers";
import { cpuSpec, type ContainerSpec } from "./container-spec";
import { dockerFilterHost, dockerFilterNetworkName } from "./docker-filter";
import { durationSeconds } from "./duration";
import { healthcheck } from "./healthcheck";
import { synapsePrivateUrl } from "./addresses";
import { MONITOR_LOCALPART, WATCHDOG_ROOMS_KEY } from "./names";

type Enabled = Extract<WatchdogSettings, { enabled: true }>;

export const WATCHDOG_PATHS = {
  dir: "/watchdog",
  script: "/watchdog/watchdog.py",
  config: "/watchdog/config.json",
  alive: "/tmp/watchdog.alive",
  /** Where it counts its restarts for `npm run status` (a host directory of its own, writable). */
  stateDir: "/state",
  stateFile: "/state/restarts.json",
  /** The backup script's result directory (read-only), when the stack backs up. */
  backupStateDir: "/backup-state",
  /** The certificate script's result directory (read-only), with ACME's certificates. */
  acmeStateDir: "/acme-state",
} as const;

/** The host directory of the watchdog's restart counts (`npm run status` reads restarts.json there). */
export function watchdogStateDir(s: Settings): string {
  return hostPath(s, "watchdog-state");
}

/**
 * How each bridge is asked for the owner's login state in the watchdog's probe room, and how the
 * answer reads: the command with its prefix, which both real bots answer in any room, and their
 * exact answers (shared/real-bridges/OBSERVED.md, the bridges' sources). Any other notice (the
 * WeChat bot's greeting of a new room) is not an answer; logged in is read first.
 * - WeChat: `ping` answers "You're not logged into WeChat." or "Logged in as <uin>, ...".
 * - QQ (bridgev2) has no `ping`: `list-logins` answers "You're not logged in", or one line per
 *   login ``* `<id>` (<name>) - `<STATE>` `` whatever its state (mautrix-go v0.23.0
 *   bridgev2/user.go GetFormattedUserLogins). A login that went to BAD_CREDENTIALS, LOGGED_OUT or
 *   UNKNOWN_ERROR is listed as well, so only a line whose state works (or has no state yet) reads as
 *   logged in; a list with none is a login lost.
 * The owner's login holds a restart back from one of `loginCommands` until the bot says the login
 * ended (`loginEndedPattern`: every end the bridges' login commands reply with, success or failure,
 * from mautrix-go v0.23.0 bridgev2/commands/login.go with matrix-qq 0.2.1's pkg/connector/login.go,
 * and matrix-wechat 0.2.4's internal/command.go), at most `loginWindowSeconds` (QQ waits for the QR
 * scan inside its event handler, up to 15 minutes and 30 s; WeChat's login times out after 2 minutes).
 */
export function probe(b: Bridge): {
  statusCommand: string;
  loggedOutPattern: string;
  loggedInPattern: string;
  commandPrefix: string;
  loginCommands: string[];
  loginEndedPattern: string;
  loginWindowSeconds: number;
} {
  const commandPrefix = COMMAND_PREFIX[b.kind];
  return b.kind === "wechat"
    ? {
        statusCommand: `${commandPrefix} ping`,
        loggedOutPattern: "^You're not logged into WeChat\\.",
        loggedInPattern: "^Logged in as ",
        commandPrefix,
        loginCommands: ["login"],
        loginEndedPattern: "^(Login successful\\.|Timedout, Please restart the login\\.|Get QR code timed out\\.|Failed to connect: |Failed to upload QR code: |You're already logged in)",
        loginWindowSeconds: 150,
      }
    : {
        statusCommand: `${commandPrefix} list-logins`,
        loggedOutPattern: "^You're not logged in|(?m:^\\* `)",
        loggedInPattern: "(?m:^\\* `[^`]*` \\(.*\\) - `(CONNECTED|CONNECTING|BACKFILLING|TRANSIENT_DISCONNECT|)`$)",
        commandPrefix,
        loginCommands: ["login", "relogin"],
        loginEndedPattern:
          "^(Successfully logged in as |Login failed: |Failed to start login: |Failed to prepare login process: |Failed to send QR code: |Invalid login flow |Please specify a login flow|Login `[^`]*` not found|Usage: |Unsupported display type )",
        loginWindowSeconds: 960,
      };
}

/**
 * The WeChat bridge's scheduled sync (templates/watchdog/profile_sync.py): its two commands, sent
 * as the owner with the prefix, and their answers (matrix-wechat 0.2.4 internal/command.go fnSync;
 * mautrix-go v0.16.2 bridge/commands/handler.go for a user who is not logged in). matrix-qq 0.2.1
 * has no such command (docs/operations.md says what that means for QQ's avatars).
 */
export function profileSync(b: Bridge, w: Enabled): Record<string, unknown> | null {
  if (b.kind !== "wechat" || !w.wechatSync.enabled) return null;
  const prefix = COMMAND_PREFIX.wechat;
  return {
    commands: [`${prefix} sync contacts --contact-avatars`, `${prefix} sync groups`],
    everySeconds: durationSeconds(w.wechatSync.every),
    answerPattern: "^(Resynced (contacts|groups)$|Error resyncing (contacts|groups): |That command requires you to be logged in\\.)",
    okPattern: "^Resynced ",
    // A sync of a few thousand contacts with their avatars, on one CPU.
    timeoutSeconds: 900,
  };
}

/** Startup grace: no verdict on a bridge in its first minute (after a deploy or a restart). */
const START_GRACE_SECONDS = 60;

export function watchdogConfig(s: Settings, w: Enabled, sec: Secrets): Record<string, unknown> {
  return {
    homeserver: synapsePrivateUrl(s),
    registrationSharedSecret: sec.registrationSharedSecret,
    // The double-puppet app service's token: the probes act as the owner (render/bridges.ts).
    doublePuppetToken: sec.doublePuppet.asToken,
    monitor: { localpart: MONITOR_LOCALPART, password: sec.watchdogPassword, roomsKey: WATCHDOG_ROOMS_KEY },
    owner: `@${s.admin}:${s.domain}`,
    intervalSeconds: w.intervalSeconds,
    answerTimeoutSeconds: w.answerTimeoutSeconds,
    failuresBeforeRestart: w.failuresBeforeRestart,
    maxRestartsPerHour: w.maxRestartsPerHour,
    startGraceSeconds: START_GRACE_SECONDS,
    // Docker's DOCKER_HOST form: the filter, which passes only inspect and restart of these bridges.
    dockerHost: dockerFilterHost(s),
    aliveFile: WATCHDOG_PATHS.alive,
    stateFile: WATCHDOG_PATHS.stateFile,
    // A failed or stale backup is told to the owner like a bridge's trouble.
    backup: s.backup.enabled ? { resultFile: `${WATCHDOG_PATHS.backupStateDir}/${BACKUP_RESULT_FILE}`, log: backupLogPath(s) } : null,
    // So is a failed renewal of ACME's certificate.
    certificate: s.acme.enabled ? { resultFile: `${WATCHDOG_PATHS.acmeStateDir}/last.json`, log: acmeLogPath(s) } : null,
    bridges: enabledBridges(s).map((b) => ({
      kind: b.kind,
      container: containerName(s, b.kind),
      bot: `@${b.botLocalpart}:${s.domain}`,
      liveness: `${appserviceUrl(s, b)}/_matrix/mau/live`,
      ...probe(b),
      stopGraceSeconds: bridgeSpec(s, b).stop.graceSeconds,
      dailyRestart: w.dailyRestart[b.kind],
      profileSync: profileSync(b, w),
    })),
  };
}

export function renderWatchdogConfig(s: Settings, w: Enabled, sec: Secrets): string {
  return `${JSON.stringify(watchdogConfig(s, w, sec), null, 2)}\n`;
}

export function watchdogSpec(s: Settings, w: Enabled): ContainerSpec {
  // A loop that stops writing its heartbeat for a whole round (every bridge timing out) and a minute more is hung.
  const staleSeconds = w.intervalSeconds + enabledBridges(s).length * w.answerTimeoutSeconds + 60;
  return {
    service: "watchdog",
    name: containerName(s, "watchdog"),
    image: s.synapse.image,
    network: networkName(s),
    extraNetworks: [dockerFilterNetworkName(s)],
    ports: [],
    env: [],
    volumes: [
      { containerPath: WATCHDOG_PATHS.dir, hostPath: hostPath(s, "watchdog"), readOnly: true },
      { containerPath: WATCHDOG_PATHS.stateDir, hostPath: watchdogStateDir(s), readOnly: false },
      ...(s.backup.enabled ? [{ containerPath: WATCHDOG_PATHS.backupStateDir, hostPath: backupPaths(s).stateDir, readOnly: true }] : []),
      ...(s.acme.enabled ? [{ containerPath: WATCHDOG_PATHS.acmeStateDir, hostPath: acmePaths(s).stateDir, readOnly: true }] : []),
    ],
    memoryBytes: w.memoryLimitBytes,
    cpu: cpuSpec(s, "watchdog"),
    entrypoint: ["python", "-u", WATCHDOG_PATHS.script, WATCHDOG_PATHS.config],
    // The start period covers its first round of checks, which writes the file the test reads.
    healthcheck: healthcheck(
      s,
      ["CMD", "python", "-c", `import os, sys, time; sys.exit(time.time() - os.path.getmtime("${WATCHDOG_PATHS.alive}") > ${staleSeconds})`],
      { startPeriodSeconds: 60, retries: 3 },
    ),
    // Nothing to flush: a check cut short is repeated by the next start.
    stop: { signal: "SIGTERM", graceSeconds: 5 },
    restart: "unless-stopped",
  };
}
