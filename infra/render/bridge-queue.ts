/**
 * The bridges' queue to Synapse. Synapse serves every request on one thread
 * and one CPU: at the evening peak the bridges' sends are dozens at once, and the owner's own
 * send (from Element, through nginx) waits behind every one of them. HAProxy between the bridges
 * and Synapse lets `inFlight` bridged requests into Synapse at a time and queues the rest in order
 * (none refused for waiting), so the owner's request meets a few bridged ones, not the crowd.
 * Measured (npm run bench:peak, docs/benchmarks.md, "The bridges' queue"): 2 in flight halved the owner's send
 * p99 but no longer kept up with 10 bridged messages a second; the default keeps up.
 * By default (`cpuBusyThreshold`, `ownerActiveSeconds`) the limit holds only while both call for it
 * (admission.lua): while the VPS's CPU is that busy (with time to spare, the owner's request does
 * not wait behind theirs), and for that long after a request of the owner's clients, which host
 * nginx announces to the queue (render/nginx.ts); otherwise the bridges go in freely. Held all the
 * time, the queue cost bridged sends 1.8 times the hand-made setup's p99 on an evening the owner
 * spent away (0.72 held only then); the owner's send p99 at the peak stayed where it was.
 */
import { containerName, hostPath, networkName, type BridgeQueueSettings, type Settings } from "../settings";
import { BRIDGE_QUEUE_OWNER_PORT, BRIDGE_QUEUE_PORT, bridgeQueueName, HAPROXY_PATHS, ownerNoticePort, SYNAPSE_PORT } from "./addresses";
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

/** Whether the queue watches anything, or holds the bridges to inFlight all the time (no admission.lua). */
const watches = (q: Enabled) => q.cpuBusyThreshold !== null || q.ownerActiveSeconds !== null;

/**
 * haproxy.cfg; `bind`, `synapse` (host:port), `resolver` (null: none), `admission` (the script's path)
 * and `ownerBind` are a test's to change.
 */
export function renderBridgeQueueConfig(
  s: Settings,
  q: Enabled,
  opts: { bind?: string; synapse?: string; resolver?: string | null; admission?: string; ownerBind?: string } = {},
): string {
  const resolver = opts.resolver === undefined ? DOCKER_DNS : opts.resolver;
  return renderTemplate("bridge-queue/haproxy.cfg.hbs", {
    admission: watches(q) ? safeWord(opts.admission ?? ADMISSION_SCRIPT) : "",
    ownerBind: q.ownerActiveSeconds === null ? "" : safeWord(opts.ownerBind ?? `:${BRIDGE_QUEUE_OWNER_PORT}`),
    ownerActiveSeconds: q.ownerActiveSeconds ?? 0,
    inFlight: q.inFlight,
    bind: safeWord(opts.bind ?? `:${BRIDGE_QUEUE_PORT}`),
    synapse: safeWord(opts.synapse ?? `${containerName(s, "synapse")}:${SYNAPSE_PORT}`),
    resolver: resolver === null ? "" : safeWord(resolver),
    requestSeconds: REQUEST_SECONDS,
    queueSeconds: QUEUE_SECONDS,
    maxConnections: MAX_CONNECTIONS,
  });
}

/** admission.lua, or null when the limit always holds (neither setting); `statPath` is a test's to change. */
export function renderBridgeQueueAdmission(q: Enabled, opts: { statPath?: string } = {}): string | null {
  if (!watches(q)) return null;
  return renderTemplate("bridge-queue/admission.lua.hbs", {
    statPath: safeWord(opts.statPath ?? "/proc/stat"),
    // 0: every reading counts as busy (the CPU is not asked); -1: the owner is not asked.
    threshold: q.cpuBusyThreshold ?? 0,
    ownerActiveSeconds: q.ownerActiveSeconds ?? -1,
    inFlight: q.inFlight,
    freeInFlight: MAX_CONNECTIONS,
    ...ADMISSION,
  });
}

export function bridgeQueueSpec(s: Settings, q: Enabled): ContainerSpec {
  const notices = ownerNoticePort(s);
  return {
    service: "bridge-queue",
    name: bridgeQueueName(s),
    image: q.image,
    network: networkName(s),
    // Host nginx announces the owner's requests here (render/nginx.ts), on loopback like every published port.
    ports: notices === null ? [] : [{ internal: BRIDGE_QUEUE_OWNER_PORT, external: notices, ip: "127.0.0.1" }],
    env: [],
    volumes: [{ containerPath: HAPROXY_PATHS.dir, hostPath: hostPath(s, "bridge-queue"), readOnly: true }],
    memoryBytes: q.memoryLimitBytes,
    cpu: cpuSpec(s, "bridge-queue"),
    ...haproxyRun(s),
  };
}
