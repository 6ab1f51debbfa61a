/**
 * The Docker filter: the watchdog needs the Docker Engine API only to read its
 * bridges' state and restart them, and the socket itself is root on the host. So the socket
 * goes into a small HAProxy container that passes exactly those calls and answers 403 to
 * everything else (create, exec, images, other containers, the engine's settings); the watchdog
 * reaches it over TCP on a network only the two share (internal: no way out, no bridge on it).
 */
import { containerName, enabledBridges, hostPath, type Settings, type WatchdogSettings } from "../settings";
import { cpuSpec, type ContainerSpec } from "./container-spec";
import { haproxyRun } from "./haproxy";
import { HAPROXY_PATHS } from "./addresses";
import { renderTemplate, safeWord } from "./templates";

type Enabled = Extract<WatchdogSettings, { enabled: true }>;

export const DOCKER_FILTER_PORT = 2375;
/** The engine's socket, beside HAProxy's own paths (render/haproxy.ts). */
export const DOCKER_FILTER_PATHS = { ...HAPROXY_PATHS, socket: "/var/run/docker.sock" } as const;
/** Longer than the watchdog's Docker calls wait (a restart waits for the bridge's stop grace). */
const TIMEOUT_SECONDS = 130;

export function dockerFilterName(s: Settings): string {
  return containerName(s, "docker-filter");
}

/** The network only the filter and the watchdog are on. */
export function dockerFilterNetworkName(s: Settings): string {
  return `${s.namePrefix}-docker-filter-net`;
}

/** What the watchdog's config calls its Docker host (DOCKER_HOST's form). */
export function dockerFilterHost(s: Settings): string {
  return `tcp://${dockerFilterName(s)}:${DOCKER_FILTER_PORT}`;
}

/** The containers the filter lets the watchdog read and restart: the enabled bridges, nothing else. */
export function filteredContainers(s: Settings): string[] {
  return enabledBridges(s).map((b) => containerName(s, b.kind));
}

/** haproxy.cfg; `socket` (the engine's, in the container) and `bind` (any address, the port) are a test's to change. */
export function renderDockerFilterConfig(s: Settings, opts: { socket?: string; bind?: string } = {}): string {
  // Names are [a-z0-9-] (safeWord refuses the rest; no regex character but '.' passes it, escaped here).
  const names = filteredContainers(s).map((n) => safeWord(n).replace(/\./g, "[.]")).join("|");
  return renderTemplate("docker-filter/haproxy.cfg.hbs", {
    names,
    bind: safeWord(opts.bind ?? `:${DOCKER_FILTER_PORT}`),
    socket: safeWord(opts.socket ?? DOCKER_FILTER_PATHS.socket),
    timeoutSeconds: TIMEOUT_SECONDS,
  });
}

export function dockerFilterSpec(s: Settings, w: Enabled): ContainerSpec {
  return {
    service: "docker-filter",
    name: dockerFilterName(s),
    image: w.filterImage,
    network: dockerFilterNetworkName(s),
    ports: [],
    env: [],
    volumes: [
      { containerPath: DOCKER_FILTER_PATHS.dir, hostPath: hostPath(s, "docker-filter"), readOnly: true },
      // Only this container holds the socket; what it passes is haproxy.cfg's to say.
      { containerPath: DOCKER_FILTER_PATHS.socket, hostPath: w.dockerSocket, readOnly: false },
    ],
    // The official image runs as user haproxy (since 2.4), which cannot open the root-owned socket;
    // the docker group's id differs from host to host, so root it is: this container holds the
    // socket (root on the host) either way, and runs nothing but HAProxy on a read-only config.
    user: "0",
    memoryBytes: w.filterMemoryLimitBytes,
    cpu: cpuSpec(s, "docker-filter"),
    ...haproxyRun(s),
  };
}
