/** Synapse's homeserver.yaml and log config, as data. */
import type { Secrets } from "../secrets";
import { containerName, enabledBridges, hostPath, type Settings } from "../settings";
import { DOUBLE_PUPPET, SYNAPSE_PATHS, SYNAPSE_PORT } from "./addresses";
import { publicBaseUrl } from "./discovery";
import { federationConfig, listenerResources } from "./federation";
import { POOLS, synapseCaches, THUMBNAIL_SIZES } from "./tuning";
import { deepMerge, MANAGED, toYaml } from "./yaml";

/** Where an app service registration Synapse loads (SYNAPSE_PATHS.appservice) lives on the host. */
export function appserviceHostPath(s: Settings, id: string): string {
  return hostPath(s, "synapse", `appservices/${id}.yaml`);
}

export function homeserverConfig(s: Settings, sec: Secrets): Record<string, unknown> {
  const base: Record<string, unknown> = {
    server_name: s.domain,
    public_baseurl: `${publicBaseUrl(s)}/`,
    pid_file: "/data/homeserver.pid",
    listeners: [
      {
        port: SYNAPSE_PORT,
        tls: false,
        type: "http",
        // Behind host nginx: take the client address and scheme from X-Forwarded-*.
        x_forwarded: true,
        bind_addresses: ["0.0.0.0"],
        resources: [{ names: listenerResources(s), compress: false }],
      },
    ],
    database: {
      name: "psycopg2",
      args: {
        user: s.postgres.synapseRole,
        password: sec.databasePasswords.synapse,
        database: s.postgres.synapseDatabase,
        host: containerName(s, "postgres"),
        port: 5432,
        // Small host: a handful of connections is plenty for one user (render/tuning.ts).
        ...POOLS.synapse,
      },
      allow_unsafe_locale: false,
    },
    log_config: SYNAPSE_PATHS.logConfig,
    media_store_path: SYNAPSE_PATHS.mediaStore,
    // The one upload limit: host nginx's client_max_body_size is rendered from the same setting.
    max_upload_size: s.synapse.maxUploadSize,
    // Remote copies are re-fetchable, so Synapse expires them itself. Local media is not given a
    // lifetime here: Synapse's would expire the owner's stickers with the bridged media;
    // the upkeep job expires local media by uploader instead (render/upkeep.ts).
    media_retention: s.synapse.mediaRetention.remoteMediaLifetime === null ? {} : { remote_media_lifetime: s.synapse.mediaRetention.remoteMediaLifetime },
    // Two of Synapse's five default sizes: every bridged picture is thumbnailed as it arrives (render/tuning.ts).
    thumbnail_sizes: THUMBNAIL_SIZES,
    signing_key_path: SYNAPSE_PATHS.signingKey,
    registration_shared_secret: sec.registrationSharedSecret,
    macaroon_secret_key: sec.macaroonSecretKey,
    form_secret: sec.formSecret,
    enable_registration: s.synapse.enableRegistration,
    report_stats: false,
    suppress_key_server_warning: true,
    // Small-host tuning: caches bounded by memory (render/tuning.ts), no presence fan-out,
    // no URL previews fetching pages.
    caches: synapseCaches(s),
    presence: { enabled: false },
    // Message retention only for rooms that ask for it (no default policy): the watchdog's
    // direct chats, whose probes would otherwise add thousands of events a day to the database.
    retention: { enabled: true, purge_jobs: [{ interval: "12h" }] },
    url_preview_enabled: false,
    app_service_config_files: [...enabledBridges(s).map((b) => SYNAPSE_PATHS.appservice(b.kind)), SYNAPSE_PATHS.appservice(DOUBLE_PUPPET.id)],
    // Who federates, the key servers, and remote rooms too heavy to join (render/federation.ts).
    ...federationConfig(s),
  };
  return deepMerge(base, s.synapse.extraConfig);
}

export function renderHomeserver(s: Settings, sec: Secrets): string {
  return toYaml(MANAGED(s.stack), homeserverConfig(s, sec));
}

/** Log to stdout only: `docker logs` keeps it, nothing grows on the 25 GB disk. */
export function renderSynapseLogConfig(s: Settings): string {
  return toYaml(MANAGED(s.stack), {
    version: 1,
    formatters: { precise: { format: "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(message)s" } },
    handlers: { console: { class: "logging.StreamHandler", formatter: "precise" } },
    loggers: { "synapse.storage.SQL": { level: "WARNING" } },
    root: { level: "INFO", handlers: ["console"] },
    disable_existing_loggers: false,
  });
}
