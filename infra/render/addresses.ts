/**
 * Where each of the kit's services is reached on the private network and where its files are
 * inside its container: several renderers share them and none owns them, so they sit below every
 * renderer (this module imports none of theirs) and each imports them downward.
 */
import { containerName, type Settings } from "../settings";

/** Synapse's one listener (client and federation), on the private network and behind the published port. */
export const SYNAPSE_PORT = 8008;

/** Synapse as the kit's containers reach it on the private network (the watchdog, the upkeep job, the bridges without their queue). */
export function synapsePrivateUrl(s: Settings): string {
  return `http://${containerName(s, "synapse")}:${SYNAPSE_PORT}`;
}

/** Paths inside the Synapse container: /config is the kit's files (read-only), /data the volume. */
export const SYNAPSE_PATHS = {
  configDir: "/config",
  config: "/config/homeserver.yaml",
  logConfig: "/config/log.config",
  signingKey: "/config/signing.key",
  appservice: (id: string) => `/config/appservices/${id}.yaml`,
  dataDir: "/data",
  mediaStore: "/data/media_store",
} as const;

/** Paths inside a bridge container: the lxduo images read /data/config.yaml and /data/registration.yaml. */
export const BRIDGE_PATHS = { dataDir: "/data", config: "/data/config.yaml", registration: "/data/registration.yaml" } as const;

/** The kit's double-puppet app service: its id, its file under appservices/, its sender. */
export const DOUBLE_PUPPET = { id: "kit-doublepuppet", senderLocalpart: "kit-doublepuppet" } as const;

/** Where the official haproxy image reads its configuration (the Docker filter, the bridges' queue). */
export const HAPROXY_PATHS = { dir: "/usr/local/etc/haproxy", config: "/usr/local/etc/haproxy/haproxy.cfg" } as const;

/** Where the bridges' queue listens on the private network: Synapse's port, so a bridge sees no difference. */
export const BRIDGE_QUEUE_PORT = 8008;

/** Where, in its container, the bridges' queue hears of the owner's requests (published on bridgeQueue.hostPort). */
export const BRIDGE_QUEUE_OWNER_PORT = 8010;

/** The bridges' queue container, by its name on the private network. */
export function bridgeQueueName(s: Settings): string {
  return containerName(s, "bridge-queue");
}

/**
 * The 127.0.0.1 port where host nginx tells the bridges' queue of the owner's requests, or null when
 * the queue does not ask (it is off, or ownerActiveSeconds is null): the site's notices and the
 * container's published port go together.
 */
export function ownerNoticePort(s: Settings): number | null {
  return s.bridgeQueue.enabled && s.bridgeQueue.ownerActiveSeconds !== null ? s.bridgeQueue.hostPort : null;
}

/** Where the bridges send their client-server requests: the queue when it runs, else Synapse itself. */
export function bridgesHomeserverAddress(s: Settings): string {
  return s.bridgeQueue.enabled ? `http://${bridgeQueueName(s)}:${BRIDGE_QUEUE_PORT}` : synapsePrivateUrl(s);
}
