/**
 * The watchdog (issue 10): its configuration and its container. It runs
 * templates/watchdog/watchdog.py in the Synapse image (Python, nothing to pull)
 * on the private network, with the Docker socket to restart a bridge.
 */
import type { Secrets } from "../secrets";
import { containerName, enabledBridges, hostPath, networkName, type Bridge, type Settings, type WatchdogSettings } from "../settings";
import { appserviceUrl } from "./bridges";
import { bridgeSpec, type ContainerSpec } from "./containers";
import { goDuration } from "./duration";

type Enabled = Extract<WatchdogSettings, { enabled: true }>;

export const WATCHDOG_PATHS = {
  dir: "/watchdog",
  script: "/watchdog/watchdog.py",
  config: "/watchdog/config.json",
  alive: "/tmp/watchdog.alive",
  dockerSocket: "/var/run/docker.sock",
} as const;

/** The monitoring account's localpart: outside both bridges' namespaces, never the owner. */
export const MONITOR_LOCALPART = "kit-watchdog";

/** How each bridge is asked for its state, and how "not logged in" reads in the answer. */
export function probe(b: Bridge): { statusCommand: string; notLoggedInPattern: string | null } {
  // matrix-wechat 0.2.x (old mautrix layout) answers `ping` with "You're not logged into Wechat."
  // when wedged or logged out. matrix-qq 0.2.x (bridgev2) has no `ping`: `help` always answers,
  // so for QQ the watchdog sees a wedge but not a lost login.
  return b.kind === "wechat" ? { statusCommand: "ping", notLoggedInPattern: "not logged in" } : { statusCommand: "help", notLoggedInPattern: null };
}

/** Startup grace: no verdict on a bridge in its first minute (after a deploy or a restart). */
const START_GRACE_SECONDS = 60;

export function watchdogConfig(s: Settings, w: Enabled, sec: Secrets): Record<string, unknown> {
  return {
    homeserver: `http://${containerName(s, "synapse")}:8008`,
    registrationSharedSecret: sec.registrationSharedSecret,
    monitor: { localpart: MONITOR_LOCALPART, password: sec.watchdogPassword },
    owner: `@${s.admin}:${s.domain}`,
    intervalSeconds: w.intervalSeconds,
    answerTimeoutSeconds: w.answerTimeoutSeconds,
    failuresBeforeRestart: w.failuresBeforeRestart,
    maxRestartsPerHour: w.maxRestartsPerHour,
    startGraceSeconds: START_GRACE_SECONDS,
    dockerSocket: WATCHDOG_PATHS.dockerSocket,
    aliveFile: WATCHDOG_PATHS.alive,
    bridges: enabledBridges(s).map((b) => ({
      kind: b.kind,
      container: containerName(s, b.kind),
      bot: `@${b.botLocalpart}:${s.domain}`,
      liveness: `${appserviceUrl(s, b)}/_matrix/mau/live`,
      ...probe(b),
      stopGraceSeconds: bridgeSpec(s, b).stop.graceSeconds,
      dailyRestart: w.dailyRestart[b.kind],
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
    ports: [],
    env: [],
    volumes: [
      { containerPath: WATCHDOG_PATHS.dir, hostPath: hostPath(s, "watchdog"), readOnly: true },
      // Root on the host, in effect: the price of restarting a container from inside one (README).
      { containerPath: WATCHDOG_PATHS.dockerSocket, hostPath: w.dockerSocket, readOnly: false },
    ],
    memoryBytes: w.memoryLimitBytes,
    entrypoint: ["python", "-u", WATCHDOG_PATHS.script, WATCHDOG_PATHS.config],
    healthcheck: {
      tests: ["CMD", "python", "-c", `import os, sys, time; sys.exit(time.time() - os.path.getmtime("${WATCHDOG_PATHS.alive}") > ${staleSeconds})`],
      interval: goDuration(30),
      timeout: goDuration(5),
      retries: 3,
      startPeriod: goDuration(60),
    },
    // Nothing to flush: a check cut short is repeated by the next start.
    stop: { signal: "SIGTERM", graceSeconds: 5 },
    restart: "unless-stopped",
    waitHealthy: false,
  };
}
