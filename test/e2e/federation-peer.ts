/**
 * The e2e's second homeserver and what the kit's side needs to federate with
 * it on a machine without internet, as pure functions (checked with the real Synapse loader and
 * nginx in test/render/e2e-federation-peer.test.ts; used by test/e2e/federation.ts).
 *
 * Synapse behaviours relied on, read in Synapse 1.163.2's sources (the wheel the e2e image has):
 *  - a server name with an explicit port is connected to directly: no .well-known, no SRV lookup
 *    (synapse/http/federation/matrix_federation_agent.py: MatrixFederationAgent.request,
 *    MatrixHostnameEndpoint._resolve_server);
 *  - outbound federation refuses private addresses unless allow-listed (config/server.py:
 *    DEFAULT_IP_RANGE_BLOCKLIST holds 172.16.0.0/12 etc.; ip_range_whitelist also applies to
 *    federation); Docker's networks are private ranges;
 *  - federation TLS is checked against federation_custom_ca_list when set (config/tls.py);
 *  - a destination that failed is not retried before destination_min_retry_interval (10m by
 *    default, config/federation.py), and joins do not ignore that backoff
 *    (federation/transport/client.py make_membership_event): a server restarted by an update
 *    must not lock the other out for ten minutes;
 *  - proxies come from http_proxy/https_proxy in the environment (config/server.py
 *    parse_proxy_config): the peer's are emptied, its federation must not leave the machine.
 */
import type { Settings } from "../../infra/settings";

/** The second homeserver: its name, its federation port, its container. */
export const PEER = {
  host: "other.e2e.localhost",
  federationPort: 8448,
  clientPort: 8008,
  /** With its port: the kit's Synapse connects straight to other.e2e.localhost:8448 (no .well-known, no SRV). */
  serverName: "other.e2e.localhost:8448",
  container: "kit-e2e-federation-peer",
  /** The peer's own data directory inside its container (a folder of the run's, bind-mounted). */
  dataDir: "/data",
} as const;

/** Where the run's CA lands in the kit's Synapse volume (SYNAPSE_PATHS.dataDir), for federation_custom_ca_list. */
export const KIT_CA_PATH = "/data/e2e-federation-ca.pem";

/** The TLS front's port: 443, because that is where a server that reads the kit's m.server connects. */
export const FRONT_PORT = 443;

/** Both sides: a failed destination retried after seconds, not Synapse's 10 minutes (see above). */
const RETRY = { destination_min_retry_interval: "2s", destination_max_retry_interval: "10s" };

/**
 * Test-only homeserver.yaml keys for the kit's Synapse, through matrix:synapse.extraConfig (an
 * existing setting; no new one was needed): trust the run's CA, allow the Docker network's
 * addresses, retry quickly, and no key server (the kit's default, matrix.org, cannot be reached
 * from here: Synapse would ask it first for every key, crypto/keyring.py).
 */
export function kitFederationExtraConfig(subnet: string, caPath: string = KIT_CA_PATH): Record<string, unknown> {
  return { federation_custom_ca_list: [caPath], ip_range_whitelist: [subnet], trusted_key_servers: [], federation: RETRY };
}

/** The e2e's roomComplexityLimit while federating: a fresh room (~6 state events) is under it, one with 40 more is over. */
export const TEST_LIMIT = 0.05;

/** One step's stack values: the federation settings, the test's limit, the test-only keys in matrix:synapse.extraConfig. */
export function federationStepValues(stackSynapse: object, subnet: string, federation: Record<string, unknown>, caPath?: string): Record<string, unknown> {
  return {
    "matrix:federation": { roomComplexityLimit: TEST_LIMIT, ...federation },
    "matrix:synapse": { ...stackSynapse, extraConfig: kitFederationExtraConfig(subnet, caPath) },
  };
}

/**
 * The peer's homeserver.yaml: SQLite, federation over TLS on 8448 with the run's CA, the client
 * API on 8008 (other names, ports and address: the render test's peer on loopback).
 */
export function peerHomeserver(o: { dataDir: string; subnet: string; registrationSecret: string; serverName?: string; federationPort?: number; clientPort?: number; bind?: string }): Record<string, unknown> {
  const d = o.dataDir;
  const bind = [o.bind ?? "0.0.0.0"];
  return {
    server_name: o.serverName ?? PEER.serverName,
    pid_file: `${d}/homeserver.pid`,
    listeners: [
      { port: o.federationPort ?? PEER.federationPort, tls: true, type: "http", bind_addresses: bind, resources: [{ names: ["federation"], compress: false }] },
      // The test's client calls (published on 127.0.0.1 only) and the image's health check.
      { port: o.clientPort ?? PEER.clientPort, tls: false, type: "http", bind_addresses: bind, resources: [{ names: ["client"], compress: false }] },
    ],
    tls_certificate_path: `${d}/tls.pem`,
    tls_private_key_path: `${d}/tls.key`,
    federation_custom_ca_list: [`${d}/ca.pem`],
    ip_range_whitelist: [o.subnet],
    trusted_key_servers: [],
    suppress_key_server_warning: true,
    federation: RETRY,
    database: { name: "sqlite3", args: { database: `${d}/homeserver.db` } },
    media_store_path: `${d}/media_store`,
    signing_key_path: `${d}/signing.key`,
    registration_shared_secret: o.registrationSecret,
    enable_registration: false,
    report_stats: false,
    presence: { enabled: false },
    // The test fills a room with state events and retries joins: no 429 on the peer's side.
    rc_message: { per_second: 1000, burst_count: 1000 },
    rc_room_creation: { per_second: 1000, burst_count: 1000 },
    rc_joins: { local: { per_second: 1000, burst_count: 1000 }, remote: { per_second: 1000, burst_count: 1000 } },
  };
}

/**
 * Test-only nginx server blocks playing Cloudflare's edge for the peer, on the kit network's
 * gateway address (reachable from the peer's container only): <domain> to the Worker (served by
 * workerd), the Matrix host to host nginx, whose routes (federation off: none) are the kit's.
 */
export function peerFrontConf(o: { s: Settings; listen: string; port?: number; tlsDir: string; workerPort: number }): string {
  const block = (name: string, body: string) => `server {
    listen ${o.listen}:${o.port ?? FRONT_PORT} ssl;
    server_name ${name};
    ssl_certificate ${o.tlsDir}/server.pem;
    ssl_certificate_key ${o.tlsDir}/server.key;
${body}
}
`;
  return [
    block(o.s.domain, `    location / {\n        proxy_pass http://127.0.0.1:${o.workerPort};\n        proxy_set_header Host $host;\n    }`),
    block(
      o.s.matrixHost,
      `    client_max_body_size 0;\n    location / {\n        proxy_pass http://127.0.0.1:${o.s.nginx.httpPort};\n        proxy_http_version 1.1;\n        proxy_set_header Host $host;\n    }`,
    ),
  ].join("");
}
