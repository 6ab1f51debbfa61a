/**
 * The stack file's shape: every setting, its type, its default. Parsed by
 * validate.ts; documented in docs/settings.md (test/unit/settings-doc.test.ts holds it to every key).
 */
import { z } from "zod";
import { acmeSchema, cloudflareSchema, tlsSchema } from "./schema-tls";
import { absPath, botAvatar, cidr, cpuCount, cpuOverride, cronSchedule, duration, extra, hhmm, hostname, image, keepCount, localpart, longDuration, memory, oneLine, port, resticRepository, serverName, size } from "./value-types";

export const NS = "matrix";

/** Config keys that must hold Pulumi secrets (`pulumi config set --secret`). */
export const SECRET_KEYS = ["secretSeed", "sshPrivateKey", "cloudflareApiToken", "ownerPassword"] as const;
export type SecretKey = (typeof SECRET_KEYS)[number];

/** Keys a user may still have from older layouts, with where they went. */
export const RENAMED_KEYS: Record<string, string> = {
  uploadLimit: "synapse.maxUploadSize",
  maxUploadSize: "synapse.maxUploadSize",
  serverName: "domain",
  cloudflareToken: "cloudflareApiToken",
  sshKey: "sshPrivateKey",
  wechatListenPort: "wechat.hostPort",
  synapsePort: "synapse.hostPort",
  // Synapse's own local_media_lifetime expired the owner's stickers with the bridged media.
  "synapse.mediaRetention.localMediaLifetime": "synapse.mediaRetention.localUserMediaLifetime (bridged media: bridgedMediaLifetime)",
};

/** Images as pinned by default; a stack may pin others, never a bare or `latest` tag. */
export const DEFAULT_IMAGES = {
  synapse: "matrixdotorg/synapse:v1.163.2",
  postgres: "postgres:16.10-bookworm",
  qq: "lxduo/matrix-qq:0.2.1",
  wechat: "lxduo/matrix-wechat:0.2.4",
} as const;

/** Who Synapse federates with: anyone, the listed servers only, or no one (docs/settings.md, "Federation and heavy rooms"). */
export const FEDERATION_MODES = ["open", "allow-list", "off"] as const;

/** The documented opt-out of host-key checking (warned about on every run). */
export const INSECURE_ACCEPT_ANY_HOST_KEY = "insecure-accept-any";

/** Upstream's example avatars are on matrix.org: a bot that sets one makes the server fetch it from there. */
const BOT_AVATAR_HINT = '"none", or media on your own server: "mxc://<domain>/<media id>"';

/** What to write for a setting, where the schema's own message would not say enough. */
export const SETTING_HINTS: Record<string, string> = {
  "qq.botAvatar": BOT_AVATAR_HINT,
  "wechat.botAvatar": BOT_AVATAR_HINT,
  "target.hostKey":
    `the VPS's public host key "<type> <base64>" (on the VPS: cat /etc/ssh/ssh_host_ed25519_key.pub), ` +
    `or "${INSECURE_ACCEPT_ANY_HOST_KEY}" to skip the check (warned about on every run)`,
};

/** matrix-qq's sign server default; stale upstream defaults are a known trap (Lagrange.Core#893). */
export const DEFAULT_QQ_SIGN_SERVER = "https://sign.lagrangecore.org/api/sign/30366";

/** Once a minute: 6 execs a minute for six containers (render/healthcheck.ts; docs/settings.md, "Health checks' cadence"). */
export const HEALTHCHECK_DEFAULTS = { intervalSeconds: 60 } as const;
/** The official image, LTS branch, pinned (docker-library/official-images library/haproxy): the Docker filter and the bridges' queue. */
export const HAPROXY_IMAGE = "haproxy:3.0.5";
/**
 * The bridges' queue (render/bridge-queue.ts; docs/benchmarks.md, "The bridges' queue"): the bridges'
 * requests Synapse works on at once, per CPU of cpu.total, and when that limit holds: while the CPU
 * is 90 % busy or more and within 30 s of a request of the owner's clients. Holding them always cost
 * the bridged sends and uploads 1.8 and 2.9 times the hand-made setup's p99 with no owner to protect
 * (0.72 and 0.72 held only then); the owner's send p99 at the evening peak stayed where the
 * always-held queue had it (715 ms against 706).
 */
export const BRIDGE_QUEUE_DEFAULTS = { inFlightPerCpu: 3, cpuBusyThreshold: 0.9, ownerActiveSeconds: 30 } as const;
/** The watchdog's timing defaults (also read by validate.ts's cross-key check). */
export const WATCHDOG_DEFAULTS = { intervalSeconds: 30, answerTimeoutSeconds: 20 } as const;

const targetSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("local") }).strict(),
  z
    .object({
      kind: z.literal("ssh"),
      host: z.union([hostname, z.ipv4(), z.ipv6()]),
      port: port.default(22),
      user: z.string().regex(/^[a-z_][a-z0-9_-]*$/, "a Unix user name").default("root"),
      identityFile: oneLine("a file path").optional(),
      hostKey: z.union([
        z.literal(INSECURE_ACCEPT_ANY_HOST_KEY),
        z
          .string()
          .regex(
            /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+\/]+={0,2}( .*)?$/,
            'the VPS\'s public host key, "<type> <base64>" as in /etc/ssh/ssh_host_ed25519_key.pub',
          ),
      ]),
    })
    .strict(),
]);

export const schema = z
  .object({
    domain: hostname,
    matrixHost: hostname.optional(),
    admin: localpart.default("admin"),
    target: targetSchema,
    hostDir: absPath.optional(),
    namePrefix: z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, "lower-case letters, digits and -").optional(),
    nginx: z
      .object({
        siteDir: absPath.default("/etc/nginx/conf.d"),
        fileName: z.string().regex(/^[A-Za-z0-9._-]+\.conf$/, "a file name ending in .conf").optional(),
        httpPort: port.default(80),
        tls: tlsSchema,
        // Run by the site scripts as `sh -c '<command>'`: any one-line command, never part of the script.
        testCommand: oneLine("a shell command").default("nginx -t"),
        reloadCommand: oneLine("a shell command").default("nginx -s reload"),
        // Whose CF-Connecting-IP is believed (absent: Cloudflare's ranges when it proxies,
        // none otherwise), and which client addresses may reach the admin API (none by default).
        trustedProxies: z.array(cidr).optional(),
        adminApiFrom: z.array(cidr).default([]),
      })
      .strict()
      .prefault({}),
    synapse: z
      .object({
        image: image.default(DEFAULT_IMAGES.synapse),
        hostPort: port.default(8082),
        maxUploadSize: size.default("50M"),
        mediaRetention: z
          .object({
            // Kept under a day it would delete what the owner has not seen yet; tests pass a shorter one to the job.
            bridgedMediaLifetime: longDuration.default("30d"),
            localUserMediaLifetime: longDuration.nullable().default(null),
            remoteMediaLifetime: duration.nullable().default("14d"),
          })
          .strict()
          .prefault({}),
        memoryLimit: memory.optional(),
        cachesGlobalFactor: z.number().positive().max(10).default(0.5),
        // Python's allocator (PYTHONMALLOC): "malloc" hands every object to jemalloc, whose count cache autotuning reads.
        pythonMalloc: z.enum(["pymalloc", "malloc"], 'one of "pymalloc" or "malloc"').default("pymalloc"),
        // jemalloc's own options (MALLOC_CONF), e.g. "background_thread:true,dirty_decay_ms:1000".
        jemallocConf: z.string().regex(/^[a-z_]+:[A-Za-z0-9_.]+(,[a-z_]+:[A-Za-z0-9_.]+)*$/, 'jemalloc options like "background_thread:true,dirty_decay_ms:1000"').nullable().default(null),
        enableRegistration: z.boolean().default(false),
        extraConfig: extra.default({}),
      })
      .strict()
      .prefault({}),
    postgres: z
      .object({
        image: image.default(DEFAULT_IMAGES.postgres),
        memoryLimit: memory.optional(),
        sharedBuffers: z.string().regex(/^[1-9][0-9]*(kB|MB|GB)$/, 'a PostgreSQL size like "64MB"').optional(),
        // Server options over the kit's (render/tuning.ts), each passed as its own `-c name=value` argument.
        extraSettings: z.record(z.string().regex(/^[a-z_]+$/, "a PostgreSQL setting's name"), z.union([z.number(), z.string().regex(/^[A-Za-z0-9._-]+$/, "a PostgreSQL setting's value")])).default({}),
      })
      .strict()
      .prefault({}),
    qq: z
      .object({
        enabled: z.boolean().default(true),
        image: image.default(DEFAULT_IMAGES.qq),
        memoryLimit: memory.optional(),
        signServerUrl: z.url({ protocol: /^https?$/ }).default(DEFAULT_QQ_SIGN_SERVER),
        botAvatar: botAvatar.default("none"),
        extraConfig: extra.default({}),
      })
      .strict()
      .prefault({}),
    wechat: z
      .object({
        enabled: z.boolean().default(true),
        image: image.default(DEFAULT_IMAGES.wechat),
        hostPort: port.default(8083),
        memoryLimit: memory.optional(),
        botAvatar: botAvatar.default("none"),
        extraConfig: extra.default({}),
      })
      .strict()
      .prefault({}),
    cloudflare: cloudflareSchema,
    acme: acmeSchema,
    memory: z
      .object({
        // A 1 GB VPS; the reserve keeps the OS, sshd, nginx and the owner's other processes alive at peak.
        total: memory.default("1g"),
        reserve: memory.default("256m"),
      })
      .strict()
      .prefault({}),
    watchdog: z
      .object({
        enabled: z.boolean().default(true),
        memoryLimit: memory.optional(),
        // Defaults heal a wedged bridge in under 2 minutes: a failed check every
        // 30 s at worst, two in a row, then the restart.
        intervalSeconds: z.number().int().min(10).max(3600).default(WATCHDOG_DEFAULTS.intervalSeconds),
        answerTimeoutSeconds: z.number().int().min(5).max(600).default(WATCHDOG_DEFAULTS.answerTimeoutSeconds),
        failuresBeforeRestart: z.number().int().min(1).max(20).default(2),
        maxRestartsPerHour: z.number().int().min(0).max(60).default(3),
        dailyRestart: z
          .object({ qq: hhmm.nullable().default(null), wechat: hhmm.nullable().default(null) })
          .strict()
          .prefault({}),
        // The WeChat bridge refreshes contacts' names and avatars only when told (templates/watchdog/profile_sync.py).
        wechatSync: z.object({ enabled: z.boolean().default(true), every: longDuration.default("7d") }).strict().prefault({}),
        dockerSocket: absPath.default("/var/run/docker.sock"),
        filterImage: image.default(HAPROXY_IMAGE),
      })
      .strict()
      .prefault({}),
    // ---- the bridges' queue to Synapse ----
    bridgeQueue: z
      .object({
        enabled: z.boolean().default(true),
        // Unset: BRIDGE_QUEUE_DEFAULTS.inFlightPerCpu per CPU of cpu.total (config/to-settings.ts).
        inFlight: z.number().int("a whole number").min(1, "at least 1").max(64, "at most 64").optional(),
        // Null: inFlight holds whatever the CPU does; else only while the CPU is at least this busy.
        cpuBusyThreshold: z.number().min(0, "at least 0").max(1, "at most 1").nullable().default(BRIDGE_QUEUE_DEFAULTS.cpuBusyThreshold),
        // Null: inFlight holds whatever the owner does; else only this long after a request of the owner's clients.
        ownerActiveSeconds: z.number().int("whole seconds").min(1, "at least 1").max(3600, "at most 3600").nullable().default(BRIDGE_QUEUE_DEFAULTS.ownerActiveSeconds),
        // Where host nginx tells the queue of the owner's requests (127.0.0.1 only).
        hostPort: port.default(8084),
        memoryLimit: memory.optional(),
        image: image.default(HAPROXY_IMAGE),
      })
      .strict()
      .prefault({}),
    upkeep: z
      .object({
        enabled: z.boolean().default(true),
        // Night, off the evening peak, at a minute few other jobs pick (host time, usually UTC).
        schedule: cronSchedule.default("17 4 * * *"),
        // Runs at night, outside the evening peak, so it comes out of memory.reserve, not the budget.
        memoryLimit: memory.default("192m"),
        bridgedRoomHistoryLifetime: longDuration.nullable().default(null),
        stateCompression: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    backup: z
      .object({
        // Off until a repository is set: where it lives is the owner's choice (see Backups in docs/operations.md).
        repository: resticRepository.nullable().default(null),
        // Nightly, after the upkeep job's 04:17 (expired media are not backed up), host time.
        schedule: cronSchedule.default("47 4 * * *"),
        keep: z
          .object({ daily: keepCount.default(7), weekly: keepCount.default(4), monthly: keepCount.default(6) })
          .strict()
          .prefault({}),
        // Federated media are other servers' copies: fetched again when needed.
        includeRemoteMedia: z.boolean().default(false),
        beforeDestroy: z.boolean().default(true),
        beforeUpgrade: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    // ---- CPU budget ----
    cpu: z
      .object({
        // A 1-CPU VPS; the reserve is a quarter of it for sshd, nginx and the owner's other services.
        total: cpuCount.refine((v) => v > 0, "more than 0 CPUs").default(1),
        reserve: cpuCount.default(0.25),
        synapse: cpuOverride,
        postgres: cpuOverride,
        qq: cpuOverride,
        wechat: cpuOverride,
        watchdog: cpuOverride,
        "docker-filter": cpuOverride,
        "bridge-queue": cpuOverride,
        upkeep: cpuOverride,
      })
      .strict()
      .prefault({}),
    // ---- federation and heavy rooms ----
    federation: z
      .object({
        mode: z.enum(FEDERATION_MODES, `one of "open", "allow-list" or "off"`).default("open"),
        allowedServers: z.array(serverName).default([]),
        // Synapse's own default for limit_remote_rooms (500 current state events); null: no limit.
        roomComplexityLimit: z.number().positive("more than 0").max(1000, "at most 1000").nullable().default(1),
      })
      .strict()
      .prefault({}),
    // ---- health checks' cadence ----
    // Off by default: the docker provider refuses to create a container with a start interval on an
    // engine older than 25 (API 1.44), and Debian 12's docker.io is 20.10 (render/healthcheck.ts).
    // intervalSeconds: each check is an exec that costs the engine about as much as the check itself.
    healthcheck: z
      .object({
        startInterval: z.boolean().default(false),
        intervalSeconds: z.number().int("whole seconds").min(10, "at least 10").max(600, "at most 600").default(HEALTHCHECK_DEFAULTS.intervalSeconds),
      })
      .strict()
      .prefault({}),
    stickers: z.object({ enabled: z.boolean().default(true) }).strict().prefault({}),
    volumes: z.object({ retainOnDestroy: z.boolean().default(true) }).strict().prefault({}),
    // Only for the e2e's failed-reload test (an update whose site nginx rejects).
    // originPullCa: the kit's tests' stand-in for Cloudflare's origin-pull CA (PEM), which nginx then trusts instead.
    testOnly: z
      .object({
        failNginxTest: z.boolean().default(false),
        originPullCa: z.string().regex(/^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+\/=\n]+-----END CERTIFICATE-----\n?$/, "a PEM certificate").optional(),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type Raw = z.infer<typeof schema>;
