/**
 * The bridges' queue to Synapse. Synapse serves every request on one thread
 * and one CPU: at the evening peak the bridges' sends are dozens at once, and the owner's own
 * send (from Element, through nginx) waits behind every one of them. HAProxy between the bridges
 * and Synapse lets `inFlight` bridged requests into Synapse at a time and queues the rest in order
 * (none refused for waiting), so the owner's request meets a few bridged ones, not the crowd.
 * Measured (npm run bench:peak, docs/benchmarks.md, "The bridges' queue"): 2 in flight halved the owner's send
 * p99 but no longer kept up with 10 bridged messages a second; the default keeps up.
 * With `cpuBusyThreshold` set, the limit holds only while the VPS's CPU is that busy (admission.lua):
 * with time to spare the owner's request does not wait behind theirs, so they go in freely.
 */
import { containerName, hostPath, networkName, type BridgeQueueSettings, type Settings } from "../settings";
import { BRIDGE_QUEUE_PORT, bridgeQueueName, HAPROXY_PATHS, SYNAPSE_PORT } from "./addresses";
import { cpuSpec, type ContainerSpec } from "./container-spec";
import { haproxyRun } from "./haproxy";
import { renderTemplate, safeWord } from "./templates";

type Enabled = Extract<BridgeQueueSettings, { enabled: true }>;

/** Docker's embedded DNS server, in every container on a user-defined network. */
const DOCKER_DNS = "127.0.0.11:53";
/** A bridge's longest request (a large upload on a starved CPU), waiting included. */
const REQUEST_SECONDS = 300;
/** Longer than any evening's backlog should take to drain; a request still waiting is answered 503 (the bridges retry). */
const QUEUE_SECONDS = 120;
/** Every bridge's connections at once, waiting ones included (each costs HAProxy two 16 KB buffers). */
const MAX_CONNECTIONS = 256;
/**
 * How often admission.lua reads the CPU's counters, and how many calm readings in a row let the
 * bridges in freely again: a second, so a burst that fills the CPU is held within half a second of
 * starting, and a lull between two bursts does not open the doors.
 */
export const ADMISSION = { periodMs: 500, holdPeriods: 2 } as const;
/** Where admission.lua sits beside haproxy.cfg in the container. */
export const ADMISSION_SCRIPT = `${HAPROXY_PATHS.dir}/admission.lua`;

/** haproxy.cfg; `bind`, `synapse` (host:port), `resolver` (null: none) and `admission` (the script's path) are a test's to change. */
export function renderBridgeQueueConfig(s: Settings, q: Enabled, opts: { bind?: string; synapse?: string; resolver?: string | null; admission?: string } = {}): string {
  const resolver = opts.resolver === undefined ? DOCKER_DNS : opts.resolver;
  return renderTemplate("bridge-queue/haproxy.cfg.hbs", {
    admission: q.cpuBusyThreshold === null ? "" : safeWord(opts.admission ?? ADMISSION_SCRIPT),
    inFlight: q.inFlight,
    bind: safeWord(opts.bind ?? `:${BRIDGE_QUEUE_PORT}`),
    synapse: safeWord(opts.synapse ?? `${containerName(s, "synapse")}:${SYNAPSE_PORT}`),
    resolver: resolver === null ? "" : safeWord(resolver),
    requestSeconds: REQUEST_SECONDS,
    queueSeconds: QUEUE_SECONDS,
    maxConnections: MAX_CONNECTIONS,
  });
}

/** admission.lua, or null when the limit always holds (no `cpuBusyThreshold`); `statPath` is a test's to change. */
export function renderBridgeQueueAdmission(q: Enabled, opts: { statPath?: string } = {}): string | null {
  if (q.cpuBusyThreshold === null) return null;
  return renderTemplate("bridge-queue/admission.lua.hbs", {
    statPath: safeWord(opts.statPath ?? "/proc/stat"),
    threshold: q.cpuBusyThreshold,
    inFlight: q.inFlight,
    freeInFlight: MAX_CONNECTIONS,
    ...ADMISSION,
  });
}

export function bridgeQueueSpec(s: Settings, q: Enabled): ContainerSpec {
  return {
    service: "bridge-queue",
    name: bridgeQueueName(s),
    image: q.image,
    network: networkName(s),
    ports: [],
    env: [],
    volumes: [{ containerPath: HAPROXY_PATHS.dir, hostPath: hostPath(s, "bridge-queue"), readOnly: true }],
    memoryBytes: q.memoryLimitBytes,
    cpu: cpuSpec(s, "bridge-queue"),
    ...haproxyRun(s),
  };
}
