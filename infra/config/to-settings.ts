/** Validated raw values -> the typed Settings every renderer and component works from. */
import cloudflareIps from "../data/cloudflare-ips.json";
import type { Bridge, Settings } from "../settings";
import { planBudget, type BudgetService, type MemoryBudget } from "./budget";
import { planCpuBudget, type CpuBudget, type CpuService } from "./cpu-budget";
import { BRIDGE_QUEUE_DEFAULTS, INSECURE_ACCEPT_ANY_HOST_KEY, type Raw } from "./schema";
import { tlsSettings } from "./tls";

const SIZE_UNITS: Record<string, number> = { K: 1024, M: 1024 ** 2, G: 1024 ** 3 };
const MEM_UNITS: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
export function sizeToBytes(v: string): number {
  return Number(v.slice(0, -1)) * SIZE_UNITS[v.slice(-1)];
}
export function memToBytes(v: string): number {
  return Number(v.slice(0, -1)) * MEM_UNITS[v.slice(-1)];
}

/**
 * shared_buffers unless the stack sets it: a tenth of PostgreSQL's limit, at least 16MB (17MB on
 * a 1 GB VPS). Shared memory is charged to the container once touched, and the kit's database
 * is read through the page cache as well. Measured on the medium workload against a quarter
 * (PostgreSQL's advice for a dedicated host, 43MB), three pairs side by side: PostgreSQL's peak
 * 0.85 (0.84-0.90), the total 0.94 (0.93-0.94: 18-21 MiB less), the bridged send p99 1.02
 * (0.99-1.09) and the send phase 1.08 (1.01-1.15), within this machine's noise between
 * deployments (docs/benchmarks.md, "Three sides and the levers"). Not measured at 2 GB.
 */
export function defaultSharedBuffers(postgresLimitBytes: number): string {
  return `${Math.max(16, Math.floor(postgresLimitBytes / 1024 ** 2 / 10))}MB`;
}

/** The queue runs only with a bridge whose requests it queues. */
function bridgeQueueRuns(r: Raw): boolean {
  return r.bridgeQueue.enabled && (r.qq.enabled || r.wechat.enabled);
}

/** 3 per CPU: on one CPU, 2 no longer kept up with 10 bridged messages a second and 6 no longer helped the owner (docs/benchmarks.md, "The bridges' queue"). */
export function bridgeQueueInFlight(cpuTotal: number): number {
  return Math.min(64, Math.max(1, Math.round(BRIDGE_QUEUE_DEFAULTS.inFlightPerCpu * cpuTotal)));
}

/** The memory budget of a parsed stack: explicit limits kept, the rest derived (budget.ts). */
export function memoryBudget(r: Raw): MemoryBudget {
  const mem = (v: string | undefined) => (v === undefined ? undefined : memToBytes(v));
  const services: BudgetService[] = [
    "synapse",
    "postgres",
    ...(r.qq.enabled ? ["qq" as const] : []),
    ...(r.wechat.enabled ? ["wechat" as const] : []),
    ...(r.watchdog.enabled ? ["watchdog" as const, "docker-filter" as const] : []),
    ...(bridgeQueueRuns(r) ? ["bridge-queue" as const] : []),
  ];
  return planBudget(
    memToBytes(r.memory.total),
    memToBytes(r.memory.reserve),
    { synapse: mem(r.synapse.memoryLimit), postgres: mem(r.postgres.memoryLimit), qq: mem(r.qq.memoryLimit), wechat: mem(r.wechat.memoryLimit), watchdog: mem(r.watchdog.memoryLimit), "bridge-queue": mem(r.bridgeQueue.memoryLimit) },
    services,
  );
}

/** The CPU budget of a parsed stack: one row per container the stack runs (config/cpu-budget.ts). */
export function cpuBudget(r: Raw): CpuBudget {
  const bridges = (["qq", "wechat"] as const).filter((b) => r[b].enabled);
  const services: CpuService[] = [
    "synapse",
    "postgres",
    ...bridges,
    // The watchdog's container exists only with a bridge to watch (render/all.ts).
    ...(r.watchdog.enabled && bridges.length > 0 ? ["watchdog" as const, "docker-filter" as const] : []),
    ...(bridgeQueueRuns(r) ? ["bridge-queue" as const] : []),
    ...(r.upkeep.enabled ? ["upkeep" as const] : []),
  ];
  const { total, reserve, ...overrides } = r.cpu;
  return planCpuBudget(total, reserve, overrides, services);
}

/** `budget` and `cpu` are memoryBudget(r) and cpuBudget(r), already checked by the caller. */
export function toSettings(stack: string, r: Raw, matrixHost: string, budget: MemoryBudget, cpu: CpuBudget): Settings {
  const limit = (service: BudgetService) => budget.rows.find((row) => row.service === service)?.limitBytes ?? 0;
  const bridgeBase = <K extends Bridge["kind"]>(kind: K, b: { image: string; botAvatar: string; extraConfig: Record<string, unknown> }) => ({
    kind,
    image: b.image,
    botAvatar: b.botAvatar === "none" ? null : b.botAvatar,
    memoryLimitBytes: limit(kind),
    botLocalpart: `${kind}bot`,
    userPrefix: `${kind}_`,
    database: `${kind}bridge`,
    databaseRole: `${kind}bridge`,
    extraConfig: b.extraConfig,
  });
  const cf = r.cloudflare;
  const hostDir = r.hostDir ?? `/opt/matrix-kit/${stack}`;
  const https = tlsSettings(r, stack, hostDir);
  return {
    stack,
    domain: r.domain,
    matrixHost,
    admin: r.admin,
    target:
      r.target.kind === "ssh"
        ? {
            ...r.target,
            // Type and key only: a comment from the .pub file is not part of the key.
            hostKey: r.target.hostKey === INSECURE_ACCEPT_ANY_HOST_KEY ? null : r.target.hostKey.split(" ").slice(0, 2).join(" "),
          }
        : r.target,
    hostDir,
    namePrefix: r.namePrefix ?? `mx-${stack}`,
    nginx: {
      siteDir: r.nginx.siteDir,
      fileName: r.nginx.fileName ?? `matrix-kit-${stack}.conf`,
      httpPort: r.nginx.httpPort,
      tls: https.tls,
      testCommand: r.nginx.testCommand,
      reloadCommand: r.nginx.reloadCommand,
      serveWellKnown: !cf.enabled,
      // Behind Cloudflare's proxy every connection comes from its edge: only there is CF-Connecting-IP the client's.
      trustedProxies: r.nginx.trustedProxies ?? (cf.enabled && cf.proxied ? [...cloudflareIps.ipv4, ...cloudflareIps.ipv6] : []),
      adminApiFrom: r.nginx.adminApiFrom,
    },
    synapse: {
      image: r.synapse.image,
      hostPort: r.synapse.hostPort,
      maxUploadSize: r.synapse.maxUploadSize,
      maxUploadBytes: sizeToBytes(r.synapse.maxUploadSize),
      mediaRetention: r.synapse.mediaRetention,
      memoryLimitBytes: limit("synapse"),
      cachesGlobalFactor: r.synapse.cachesGlobalFactor,
      pythonMalloc: r.synapse.pythonMalloc,
      jemallocConf: r.synapse.jemallocConf,
      enableRegistration: r.synapse.enableRegistration,
      // The official image drops to 991:991 and needs /data owned by it.
      uid: 991,
      gid: 991,
      extraConfig: r.synapse.extraConfig,
    },
    postgres: {
      image: r.postgres.image,
      memoryLimitBytes: limit("postgres"),
      sharedBuffers: r.postgres.sharedBuffers ?? defaultSharedBuffers(limit("postgres")),
      extraSettings: r.postgres.extraSettings,
      superuser: "synapse",
      uid: 999,
      synapseDatabase: "synapse",
      synapseRole: "homeserver",
      upkeepRole: "upkeep",
    },
    qq: r.qq.enabled
      ? // lxduo/matrix-qq's docker-run.sh chowns /data to 1337:1337 and drops to it (su-exec).
        { ...bridgeBase("qq", r.qq), uid: 1337, gid: 1337, appservicePort: 17777, signServerUrl: r.qq.signServerUrl }
      : undefined,
    wechat: r.wechat.enabled
      ? // lxduo/matrix-wechat runs as root (no su-exec in its docker-run.sh).
        { ...bridgeBase("wechat", r.wechat), uid: 0, gid: 0, appservicePort: 17778, hostPort: r.wechat.hostPort, listenPort: 20002 }
      : undefined,
    cloudflare: https.cloudflare,
    tlsSource: https.source,
    acme: https.acme,
    watchdog: r.watchdog.enabled
      ? {
          enabled: true,
          memoryLimitBytes: limit("watchdog"),
          intervalSeconds: r.watchdog.intervalSeconds,
          answerTimeoutSeconds: r.watchdog.answerTimeoutSeconds,
          failuresBeforeRestart: r.watchdog.failuresBeforeRestart,
          maxRestartsPerHour: r.watchdog.maxRestartsPerHour,
          dailyRestart: r.watchdog.dailyRestart,
          wechatSync: r.watchdog.wechatSync.enabled ? { enabled: true, every: r.watchdog.wechatSync.every } : { enabled: false },
          dockerSocket: r.watchdog.dockerSocket,
          filterImage: r.watchdog.filterImage,
          filterMemoryLimitBytes: limit("docker-filter"),
        }
      : { enabled: false },
    bridgeQueue: bridgeQueueRuns(r)
      ? {
          enabled: true,
          inFlight: r.bridgeQueue.inFlight ?? bridgeQueueInFlight(r.cpu.total),
          cpuBusyThreshold: r.bridgeQueue.cpuBusyThreshold,
          ownerActiveSeconds: r.bridgeQueue.ownerActiveSeconds,
          hostPort: r.bridgeQueue.hostPort,
          image: r.bridgeQueue.image,
          memoryLimitBytes: limit("bridge-queue"),
        }
      : { enabled: false },
    upkeep: r.upkeep.enabled
      ? {
          enabled: true,
          schedule: r.upkeep.schedule.trim().split(/\s+/).join(" "),
          memoryLimitBytes: memToBytes(r.upkeep.memoryLimit),
          bridgedRoomHistoryLifetime: r.upkeep.bridgedRoomHistoryLifetime,
          stateCompression: r.upkeep.stateCompression,
        }
      : { enabled: false },
    backup: r.backup.repository
      ? {
          enabled: true,
          repository: r.backup.repository,
          schedule: r.backup.schedule.trim().split(/\s+/).join(" "),
          keep: r.backup.keep,
          includeRemoteMedia: r.backup.includeRemoteMedia,
          beforeDestroy: r.backup.beforeDestroy,
          beforeUpgrade: r.backup.beforeUpgrade,
        }
      : { enabled: false },
    healthcheck: r.healthcheck,
    stickers: r.stickers,
    volumes: r.volumes,
    testOnly: r.testOnly,
    memoryBudget: budget,
    cpuBudget: cpu,
    federation: {
      mode: r.federation.mode,
      allowedServers: r.federation.allowedServers,
      roomComplexityLimit: r.federation.roomComplexityLimit,
    },
  };
}
