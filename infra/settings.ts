/**
 * The typed, validated settings every renderer and component works from.
 * Produced only by `config/`; nothing else reads stack configuration.
 * Secrets are not in here: they travel separately (see `secrets.ts`) so that
 * a plain `Settings` value can be logged, snapshotted and written to plan.json.
 */
import type { CpuBudget, MemoryBudget } from "./budgets";
import type { BackupSettings, BridgeQueueSettings, UpkeepSettings } from "./settings-services";

export type { BudgetRow, BudgetService, CpuBudget, CpuRow, CpuService, MemoryBudget } from "./budgets";
export type { BackupSettings, BridgeQueueSettings, UpkeepSettings } from "./settings-services";

/** Where Docker and host commands run. */
export type Target =
  | { kind: "local" }
  | {
      kind: "ssh";
      host: string;
      port: number;
      user: string;
      /** Key file the docker CLI's ssh uses (the docker provider shells out to `ssh`). */
      identityFile?: string;
      /**
       * The VPS's public host key, "<type> <base64>"; null when the stack opted out
       * (`insecure-accept-any`). The command connection checks it, and the docker
       * provider's ssh gets it in its options (render/ssh.ts).
       */
      hostKey: string | null;
    };

export interface NginxSettings {
  /** Directory on the host nginx includes site files from. */
  siteDir: string;
  /** File name of the kit's server blocks inside `siteDir`. */
  fileName: string;
  /** Port the plain-HTTP server blocks listen on. */
  httpPort: number;
  /**
   * TLS on the host (paths on the host; config/tls.ts); absent: plain HTTP. `clientCertificateCa`:
   * the CA whose client certificates nginx requires (Cloudflare's origin pulls), or null.
   */
  tls?: { port: number; certificate: string; certificateKey: string; clientCertificateCa: string | null };
  testCommand: string;
  reloadCommand: string;
  /** Serve `/.well-known/matrix/*` from nginx (true when Cloudflare is off). */
  serveWellKnown: boolean;
  /**
   * Senders (CIDR ranges) whose CF-Connecting-IP nginx takes as the client's address; nobody
   * else's is believed. Default: Cloudflare's published ranges (data/cloudflare-ips.json)
   * when Cloudflare proxies the Matrix host, none otherwise.
   */
  trustedProxies: string[];
  /** Client address ranges /_synapse/admin is proxied for (after realip); empty: never. */
  adminApiFrom: string[];
}

export interface SynapseSettings {
  image: string;
  hostPort: number;
  /** As written by the user, e.g. "50M": Synapse and nginx both accept this form. */
  maxUploadSize: string;
  maxUploadBytes: number;
  mediaRetention: {
    /** Media the bridges' ghosts and bots uploaded: deleted by the upkeep job this long after their last access. */
    bridgedMediaLifetime: string;
    /** Media real local users (the owner) uploaded: null keeps them; protected media (stickers) are always kept. */
    localUserMediaLifetime: string | null;
    /** Synapse's own remote_media_lifetime for the cache of other servers' media. */
    remoteMediaLifetime: string | null;
  };
  memoryLimitBytes: number;
  cachesGlobalFactor: number;
  /** PYTHONMALLOC: "malloc" puts Python's small objects in jemalloc too (what cache autotuning measures). */
  pythonMalloc: "pymalloc" | "malloc";
  /** jemalloc's MALLOC_CONF; null: its own defaults. */
  jemallocConf: string | null;
  enableRegistration: boolean;
  uid: number;
  gid: number;
  extraConfig: Record<string, unknown>;
}

export interface PostgresSettings {
  image: string;
  memoryLimitBytes: number;
  sharedBuffers: string;
  /** Server options over the kit's own (render/tuning.ts), by name. */
  extraSettings: Record<string, string | number>;
  /**
   * The cluster's superuser (POSTGRES_USER), used only by the kit's own commands (database
   * set-up, backup, restore) over the container's local socket; no service logs in as it.
   * "synapse" because volumes made before the kit gave each service its own role were
   * initialised with it, and PostgreSQL can neither rename nor demote the role initdb made
   * (the bootstrap superuser).
   */
  superuser: string;
  /** The postgres user in the image (999 in the official image and the e2e stand-in): owns the password file. */
  uid: number;
  synapseDatabase: string;
  /** Synapse's own role: owns Synapse's database and nothing else. */
  synapseRole: string;
  /** The upkeep job's role: a member of Synapse's (it vacuums and compresses Synapse's tables, which takes their owner). */
  upkeepRole: string;
}

export type BridgeKind = "qq" | "wechat";

export interface BridgeSettingsBase {
  kind: BridgeKind;
  image: string;
  memoryLimitBytes: number;
  /** Port the app service listens on inside the container (Synapse pushes to it). */
  appservicePort: number;
  /** Bot localpart: the registration's sender_localpart and the config's bot username. */
  botLocalpart: string;
  /** Prefix of puppet localparts, e.g. "qq_" for @qq_12345:domain. */
  userPrefix: string;
  /** The bot's avatar, media on the owner's server (mxc://<domain>/...); null: none. */
  botAvatar: string | null;
  database: string;
  /** The bridge's own PostgreSQL role: owns its database and nothing else. */
  databaseRole: string;
  uid: number;
  gid: number;
  extraConfig: Record<string, unknown>;
}

export interface QqSettings extends BridgeSettingsBase {
  kind: "qq";
  signServerUrl: string;
}

export interface WechatSettings extends BridgeSettingsBase {
  kind: "wechat";
  /** Host port (127.0.0.1) the agent listener is published on, proxied at /_wechat. */
  hostPort: number;
  /** Agent listener port inside the container. */
  listenPort: number;
}

export type CloudflareSettings =
  | { enabled: false }
  | {
      enabled: true;
      zoneId: string;
      accountId: string;
      /** Public address of the VPS for the Matrix host's A/AAAA record. */
      originAddress: string;
      proxied: boolean;
      workerName: string;
      /** The zone's SSL mode: "strict" sets Full (strict); "keep" leaves it as the owner has it. */
      sslMode: "strict" | "keep";
      /** The zone's authenticated origin pulls on, and nginx requiring Cloudflare's client certificate. */
      authenticatedOriginPulls: boolean;
      /** The CA of the client certificate Cloudflare presents (PEM; infra/data/cloudflare-origin-pull-ca.json). */
      originPullCa: string;
      /** The origin certificate Cloudflare's Origin CA issues (nginx.tls.source "cloudflare"). */
      originCertificate: { validityDays: number; renewBeforeDays: number };
      /** "placeholder": a proxied record for <domain> when the zone has none, so the Worker's route fires. */
      apexRecord: "none" | "placeholder";
      plan: "free" | "pro" | "business" | "enterprise";
    };

/** Where host nginx's certificate comes from (matrix:nginx.tls.source; config/tls.ts). */
export type TlsSource = "cloudflare" | "acme" | "files" | "none";

/** ACME (nginx.tls.source "acme"): certbot on the VPS, HTTP-01 through host nginx (render/acme.ts). */
export type AcmeSettings =
  | { enabled: false }
  | { enabled: true; email: string | null; directoryUrl: string; caBundle: string | null; schedule: string };

export type WatchdogSettings =
  | { enabled: false }
  | {
      enabled: true;
      memoryLimitBytes: number;
      intervalSeconds: number;
      answerTimeoutSeconds: number;
      failuresBeforeRestart: number;
      maxRestartsPerHour: number;
      /** "HH:MM" UTC per bridge, or null: no daily restart. */
      dailyRestart: Record<BridgeKind, string | null>;
      /** The WeChat bridge's contacts and groups synced as the owner this often ("7d"), or not at all. */
      wechatSync: { enabled: true; every: string } | { enabled: false };
      /** The Docker Engine's socket on the host, mounted into the Docker filter (render/docker-filter.ts). */
      dockerSocket: string;
      /** The Docker filter's HAProxy image, and its container's fixed memory limit. */
      filterImage: string;
      filterMemoryLimitBytes: number;
    };

/** Who Synapse federates with, and which remote rooms are too heavy to join. */
export interface FederationSettings {
  /** open: anyone; allow-list: `allowedServers` only; off: no one (no listener, route or m.server). */
  mode: "open" | "allow-list" | "off";
  /** Server names for allow-list (Synapse's federation_domain_whitelist); empty in the other modes. */
  allowedServers: string[];
  /** Synapse's limit_remote_rooms complexity (current state events / 500); null: no limit. */
  roomComplexityLimit: number | null;
}

export interface Settings {
  stack: string;
  /** server_name: the part after the colon in @user:domain. */
  domain: string;
  matrixHost: string;
  /** Matrix localpart of the owner, given admin rights on the bridges. */
  admin: string;
  target: Target;
  hostDir: string;
  namePrefix: string;
  nginx: NginxSettings;
  synapse: SynapseSettings;
  postgres: PostgresSettings;
  qq?: QqSettings;
  wechat?: WechatSettings;
  cloudflare: CloudflareSettings;
  /** Where nginx's certificate comes from; ACME's settings when it is "acme". */
  tlsSource: TlsSource;
  acme: AcmeSettings;
  watchdog: WatchdogSettings;
  /** Enabled only with a bridge to queue (config/to-settings.ts). */
  bridgeQueue: BridgeQueueSettings;
  upkeep: UpkeepSettings;
  backup: BackupSettings;
  /**
   * startInterval: the VPS's Docker Engine is 25 or newer (API 1.44+), so the health checks may
   * run every 2 s during their start period (render/healthcheck.ts); the provider refuses it on older engines.
   * intervalSeconds: time between two checks once a container is healthy (default 60).
   */
  healthcheck: { startInterval: boolean; intervalSeconds: number };
  /** The sticker picker widget the kit hosts at https://<matrixHost>/stickers/. */
  stickers: { enabled: boolean };
  volumes: { retainOnDestroy: boolean };
  /** Every container's memory limit and where it came from; they fit in memory.total - memory.reserve. */
  memoryBudget: MemoryBudget;
  /** Every container's CPU cap and weight, each cap within cpu.total - cpu.reserve. */
  cpuBudget: CpuBudget;
  federation: FederationSettings;
  /**
   * Settings that exist for the kit's own tests, never for a real stack: failNginxTest puts a
   * directive nginx does not know into the site, so the update's `nginx -t` fails (the e2e's
   * proof that a rejected site keeps the previous one serving).
   */
  testOnly: { failNginxTest: boolean; originPullCa?: string };
}

export type Bridge = QqSettings | WechatSettings;

/** The enabled bridges, in a fixed order (renders must be stable). */
export function enabledBridges(s: Settings): Bridge[] {
  return [s.qq, s.wechat].filter((b): b is Bridge => b !== undefined);
}

/** Docker names derived once, so components and renders agree. */
export function containerName(s: Settings, service: "postgres" | "synapse" | BridgeKind | "watchdog" | "docker-filter" | "bridge-queue" | "upkeep"): string {
  return `${s.namePrefix}-${service}`;
}

export function networkName(s: Settings): string {
  return `${s.namePrefix}-net`;
}

export function volumeName(s: Settings, service: "postgres" | "synapse" | BridgeKind): string {
  return `${s.namePrefix}-${service}-data`;
}

/** Where the kit's files for a service land on the host. */
export function hostPath(
  s: Settings,
  service: "postgres" | "synapse" | BridgeKind | "watchdog" | "watchdog-state" | "docker-filter" | "bridge-queue" | "upkeep" | "stickers" | "admin" | "backup" | "backup-state" | "upgrade" | "tls" | "acme" | "acme-state",
  file?: string,
): string {
  return file === undefined ? `${s.hostDir}/${service}` : `${s.hostDir}/${service}/${file}`;
}
