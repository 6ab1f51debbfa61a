/**
 * Federation and heavy rooms in Synapse's terms. One setting,
 * matrix:federation.mode, is rendered into Synapse (here), nginx and the discovery
 * documents (render/discovery.ts) so the three always agree:
 *  - open: Synapse's defaults, anyone may federate;
 *  - allow-list: federation_domain_whitelist, the listed servers only; no trusted key
 *    server (Synapse's docs: a private federation fetches keys from their owners);
 *  - off: no "federation" listener resource, an empty whitelist (Synapse refuses every
 *    origin and destination), send_federation false, no key server; nginx gives the
 *    federation paths no route and no m.server is published. For an owner who only
 *    bridges QQ and WeChat: those rooms live on this server and need no federation.
 * Option names and meanings: Synapse's config documentation and its 1.163 loader
 * (synapse/config/server.py LimitRemoteRoomsConfig, federation.py, workers.py).
 */
import type { Settings } from "../settings";

/** Whether other servers may reach this one at all. */
export function federates(s: Settings): boolean {
  return s.federation.mode !== "off";
}

/** The resources Synapse's listener serves: no federation (nor its key resource) when it is off. */
export function listenerResources(s: Settings): string[] {
  return federates(s) ? ["client", "federation"] : ["client"];
}

/**
 * What a refused join says (Synapse shows it to the user who tried, who here is the owner):
 * why, and the setting that raises the limit. Complexity is Synapse's current state events / 500.
 */
export function complexityError(limit: number): string {
  return (
    `This room is too large for this small server: its complexity is above ${limit}, the limit its owner set ` +
    `(matrix:federation.roomComplexityLimit; complexity is the room's current state events / 500). ` +
    `Joining it would keep the server's CPU busy for a long time. To join anyway, raise that setting ` +
    `(or set it to null for no limit) and run \`pulumi up\`.`
  );
}

/** Synapse's federation and limit_remote_rooms keys, merged into homeserver.yaml. */
export function federationConfig(s: Settings): Record<string, unknown> {
  const f = s.federation;
  const limit = f.roomComplexityLimit;
  return {
    // The owner is a server admin (registered with -a): admins_can_join would exempt the one user it is for.
    limit_remote_rooms: limit === null ? { enabled: false } : { enabled: true, complexity: limit, complexity_error: complexityError(limit), admins_can_join: false },
    ...(f.mode === "open"
      ? { trusted_key_servers: [{ server_name: "matrix.org" }] }
      : { federation_domain_whitelist: f.mode === "off" ? [] : f.allowedServers, trusted_key_servers: [] }),
    ...(f.mode === "off" ? { send_federation: false } : {}),
  };
}
