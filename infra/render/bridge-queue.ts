/**
 * The bridges' queue to Synapse. Synapse serves every request on one thread
 * and one CPU: at the evening peak the bridges' sends are dozens at once, and the owner's own
 * send (from Element, through nginx) waits behind every one of them. HAProxy between the bridges
 * and Synapse lets `inFlight` bridged requests into Synapse at a time and queues the rest in order
 * (none refused for waiting), so the owner's request meets a few bridged ones, not the crowd.
 * Measured (npm run bench:peak, docs/benchmarks.md, "The bridges' queue"): 2 in flight halved the owner's send
 * p99 but no longer kept up with 10 bridged messages a second; the default keeps up.
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

/** haproxy.cfg; `bind`, `synapse` (host:port) and `resolver` (null: none) are a test's to change. */
export function renderBridgeQueueConfig(s: Settings, q: Enabled, opts: { bind?: string; synapse?: string; resolver?: string | null } = {}): string {
  const resolver = opts.resolver === undefined ? DOCKER_DNS : opts.resolver;
  return renderTemplate("bridge-queue/haproxy.cfg.hbs", {
    inFlight: q.inFlight,
    bind: safeWord(opts.bind ?? `:${BRIDGE_QUEUE_PORT}`),
    synapse: safeWord(opts.synapse ?? `${containerName(s, "synapse")}:${SYNAPSE_PORT}`),
    resolver: resolver === null ? "" : safeWord(resolver),
    requestSeconds: REQUEST_SECONDS,
    queueSeconds: QUEUE_SECONDS,
    maxConnections: MAX_CONNECTIONS,
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
