/**
 * The one place that reads and validates stack configuration.
 *
 * `validate()` is pure: raw key/value pairs in (as in a stacks/Pulumi.<env>.yaml
 * file, keys with their `matrix:` namespace), typed `Settings` or the complete
 * list of problems out. Every problem names the key and what is allowed, and all
 * of them are reported at once (matrix-docker-ansible-deploy validate_config.yml),
 * so a user fixes their stack file in one pass and nothing is created before that.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import type { Bridge, Settings } from "./settings";

export const NS = "matrix";

/** Config keys that must hold Pulumi secrets (`pulumi config set --secret`). */
export const SECRET_KEYS = ["secretSeed", "sshPrivateKey", "cloudflareApiToken"] as const;
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
};

/** Images as pinned by default; a stack may pin others, never a bare or `latest` tag. */
export const DEFAULT_IMAGES = {
  synapse: "matrixdotorg/synapse:v1.163.2",
  postgres: "postgres:16.10-bookworm",
  qq: "lxduo/matrix-qq:0.2.1",
  wechat: "lxduo/matrix-wechat:0.2.4",
} as const;

/** matrix-qq's sign server default; stale upstream defaults are a known trap (Lagrange.Core#893). */
export const DEFAULT_QQ_SIGN_SERVER = "https://sign.lagrangecore.org/api/sign/30366";

const hostname = z
  .string()
  .regex(
    /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/,
    "a lower-case DNS name like example.com",
  );
const port = z.number().int().min(1).max(65535);
const absPath = z.string().regex(/^\/[A-Za-z0-9._\/-]*$/, "an absolute path of letters, digits and . _ - /");
const size = z.string().regex(/^[1-9][0-9]*[KMG]$/, 'a size like "50M": digits then K, M or G');
const memory = z.string().regex(/^[1-9][0-9]*[kmg]$/, 'a memory size like "512m": digits then k, m or g');
const duration = z.string().regex(/^[1-9][0-9]*[smhdwy]$/, 'a duration like "90d" (s, m, h, d, w or y)');
const image = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._\/-]*(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(@sha256:[a-f0-9]{64})?$/, "an image reference like name:tag")
  .refine((v) => /@sha256:|:[^/]+$/.test(v), "a pinned tag or digest (a bare name means latest)")
  .refine((v) => !/:latest$/.test(v), 'a pinned tag, not "latest"');
const localpart = z.string().regex(/^[a-z0-9._=\-\/]+$/, "a Matrix localpart (a-z 0-9 . _ = - /)");
const extra = z.record(z.string(), z.unknown());

const targetSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("local") }).strict(),
  z
    .object({
      kind: z.literal("ssh"),
      host: z.union([hostname, z.ipv4(), z.ipv6()]),
      port: port.default(22),
      user: z.string().regex(/^[a-z_][a-z0-9_-]*$/, "a Unix user name").default("root"),
      identityFile: z.string().min(1).optional(),
    })
    .strict(),
]);

const schema = z
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
        tls: z.object({ port: port.default(443), certificate: absPath, certificateKey: absPath }).strict().optional(),
        testCommand: z.string().min(1).default("nginx -t"),
        reloadCommand: z.string().min(1).default("nginx -s reload"),
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
            localMediaLifetime: duration.nullable().default(null),
            remoteMediaLifetime: duration.nullable().default("14d"),
          })
          .strict()
          .prefault({}),
        memoryLimit: memory.default("768m"),
        cachesGlobalFactor: z.number().positive().max(10).default(0.5),
        enableRegistration: z.boolean().default(false),
        extraConfig: extra.default({}),
      })
      .strict()
      .prefault({}),
    postgres: z
      .object({
        image: image.default(DEFAULT_IMAGES.postgres),
        memoryLimit: memory.default("256m"),
        sharedBuffers: z.string().regex(/^[1-9][0-9]*(kB|MB|GB)$/, 'a PostgreSQL size like "64MB"').default("64MB"),
      })
      .strict()
      .prefault({}),
    qq: z
      .object({
        enabled: z.boolean().default(true),
        image: image.default(DEFAULT_IMAGES.qq),
        memoryLimit: memory.default("192m"),
        signServerUrl: z.url({ protocol: /^https?$/ }).default(DEFAULT_QQ_SIGN_SERVER),
        extraConfig: extra.default({}),
      })
      .strict()
      .prefault({}),
    wechat: z
      .object({
        enabled: z.boolean().default(true),
        image: image.default(DEFAULT_IMAGES.wechat),
        hostPort: port.default(8083),
        memoryLimit: memory.default("192m"),
        extraConfig: extra.default({}),
      })
      .strict()
      .prefault({}),
    cloudflare: z
      .object({
        enabled: z.boolean().default(false),
        zoneId: z.string().regex(/^[a-f0-9]{32}$/, "a 32-character hex zone id").optional(),
        accountId: z.string().regex(/^[a-f0-9]{32}$/, "a 32-character hex account id").optional(),
        originAddress: z.union([z.ipv4(), z.ipv6()]).optional(),
        proxied: z.boolean().default(true),
        workerName: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "lower-case letters, digits and -").optional(),
      })
      .strict()
      .prefault({}),
    volumes: z.object({ retainOnDestroy: z.boolean().default(true) }).strict().prefault({}),
  })
  .strict();

type Raw = z.infer<typeof schema>;

/** A stack's configuration as read: values by full key, and which keys are Pulumi secrets. */
export interface RawConfig {
  values: Record<string, unknown>;
  /** Full keys (`matrix:x`) whose values are Pulumi secrets. */
  secretKeys: ReadonlySet<string>;
}

export type Validation = { ok: true; settings: Settings } | { ok: false; errors: string[] };

export class ConfigError extends Error {
  constructor(readonly stack: string, readonly errors: string[]) {
    super(`stack "${stack}" has ${errors.length} configuration problem(s):\n  - ${errors.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

const SIZE_UNITS: Record<string, number> = { K: 1024, M: 1024 ** 2, G: 1024 ** 3 };
const MEM_UNITS: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
export function sizeToBytes(v: string): number {
  return Number(v.slice(0, -1)) * SIZE_UNITS[v.slice(-1)];
}
function memToBytes(v: string): number {
  return Number(v.slice(0, -1)) * MEM_UNITS[v.slice(-1)];
}

function describe(v: unknown): string {
  if (v === undefined) return "nothing";
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function at(obj: unknown, path: PropertyKey[]): unknown {
  let cur = obj;
  for (const p of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

export interface ValidateOptions {
  /**
   * Report missing secrets as errors (default). `npm run render` turns this off:
   * it never needs their values, and example stacks cannot ship encrypted ones.
   */
  requireSecrets?: boolean;
}

/** Validate one stack's raw configuration. Never throws for bad input. */
export function validate(stack: string, raw: RawConfig, opts: ValidateOptions = {}): Validation {
  const requireSecrets = opts.requireSecrets ?? true;
  const errors: string[] = [];
  const plain: Record<string, unknown> = {};
  const secrets = new Set<string>();
  for (const [fullKey, value] of Object.entries(raw.values)) {
    const [ns, key] = fullKey.includes(":") ? fullKey.split(/:(.*)/s, 2) : [NS, fullKey];
    if (ns !== NS) continue; // other namespaces (aws:, pulumi:) are not ours to judge
    if (key in RENAMED_KEYS) {
      errors.push(`${NS}:${key} was renamed: use ${NS}:${RENAMED_KEYS[key]}`);
    } else if ((SECRET_KEYS as readonly string[]).includes(key)) {
      if (!raw.secretKeys.has(fullKey)) {
        errors.push(`${NS}:${key} must be a secret: set it with \`pulumi config set --secret ${NS}:${key} ...\``);
      }
      secrets.add(key);
    } else {
      plain[key] = value;
    }
  }

  const parsed = schema.safeParse(plain);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === "unrecognized_keys") {
        for (const k of issue.keys) {
          const path = [...issue.path, k].join(".");
          const renamed = RENAMED_KEYS[path];
          errors.push(
            renamed ? `${NS}:${path} was renamed: use ${NS}:${renamed}` : `${NS}:${path} is not a setting of this kit (see README "Settings")`,
          );
        }
        continue;
      }
      const path = issue.path.join(".");
      const got = at(plain, issue.path);
      const allowed =
        issue.code === "invalid_union"
          ? "a DNS name or an IP address"
          : issue.code === "invalid_type"
            ? `a ${issue.expected}`
            : issue.message.replace(/^Invalid (input|string): /, "");
      const what = got === undefined ? "is required" : `must be ${allowed}`;
      errors.push(`${NS}:${path} ${what} (got ${describe(got)})`);
    }
  }

  if (requireSecrets && !secrets.has("secretSeed")) {
    errors.push(`${NS}:secretSeed is required: \`pulumi config set --secret ${NS}:secretSeed "$(openssl rand -hex 32)"\` (every generated secret derives from it)`);
  }
  // Cross-key rules run on the raw values too, so one pass reports them with the schema's problems.
  const target = plain.target as { kind?: unknown } | undefined;
  if (requireSecrets && target?.kind === "ssh" && !secrets.has("sshPrivateKey")) {
    errors.push(`${NS}:sshPrivateKey is required when ${NS}:target.kind is "ssh": \`pulumi config set --secret ${NS}:sshPrivateKey < ~/.ssh/id_ed25519\``);
  }
  const cloudflare = plain.cloudflare as Record<string, unknown> | undefined;
  if (cloudflare?.enabled === true) {
    for (const k of ["zoneId", "accountId", "originAddress"]) {
      if (cloudflare[k] === undefined) errors.push(`${NS}:cloudflare.${k} is required when ${NS}:cloudflare.enabled is true`);
    }
    if (requireSecrets && !secrets.has("cloudflareApiToken")) {
      errors.push(`${NS}:cloudflareApiToken is required when ${NS}:cloudflare.enabled is true: \`pulumi config set --secret ${NS}:cloudflareApiToken ...\``);
    }
  }
  if (!parsed.success) return { ok: false, errors };

  const r = parsed.data;
  const ports = new Map<number, string>();
  const usePort = (p: number, key: string) => {
    const prev = ports.get(p);
    if (prev) errors.push(`${NS}:${key} (${p}) collides with ${NS}:${prev}: each host port may be used once`);
    else ports.set(p, key);
  };
  usePort(r.nginx.httpPort, "nginx.httpPort");
  if (r.nginx.tls) usePort(r.nginx.tls.port, "nginx.tls.port");
  usePort(r.synapse.hostPort, "synapse.hostPort");
  if (r.wechat.enabled) usePort(r.wechat.hostPort, "wechat.hostPort");
  const matrixHost = r.matrixHost ?? `matrix.${r.domain}`;
  if (matrixHost === r.domain && r.cloudflare.enabled) {
    errors.push(`${NS}:matrixHost must differ from ${NS}:domain when Cloudflare serves <domain>/.well-known/matrix/*`);
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, settings: toSettings(stack, r, matrixHost) };
}

function toSettings(stack: string, r: Raw, matrixHost: string): Settings {
  const bridgeBase = <K extends Bridge["kind"]>(kind: K, b: { image: string; memoryLimit: string; extraConfig: Record<string, unknown> }) => ({
    kind,
    image: b.image,
    memoryLimitBytes: memToBytes(b.memoryLimit),
    botLocalpart: `${kind}bot`,
    userPrefix: `${kind}_`,
    database: `${kind}bridge`,
    extraConfig: b.extraConfig,
  });
  const cf = r.cloudflare;
  return {
    stack,
    domain: r.domain,
    matrixHost,
    admin: r.admin,
    target: r.target,
    hostDir: r.hostDir ?? `/opt/matrix-kit/${stack}`,
    namePrefix: r.namePrefix ?? `mx-${stack}`,
    nginx: {
      siteDir: r.nginx.siteDir,
      fileName: r.nginx.fileName ?? `matrix-kit-${stack}.conf`,
      httpPort: r.nginx.httpPort,
      tls: r.nginx.tls,
      testCommand: r.nginx.testCommand,
      reloadCommand: r.nginx.reloadCommand,
      serveWellKnown: !cf.enabled,
    },
    synapse: {
      image: r.synapse.image,
      hostPort: r.synapse.hostPort,
      maxUploadSize: r.synapse.maxUploadSize,
      maxUploadBytes: sizeToBytes(r.synapse.maxUploadSize),
      mediaRetention: r.synapse.mediaRetention,
      memoryLimitBytes: memToBytes(r.synapse.memoryLimit),
      cachesGlobalFactor: r.synapse.cachesGlobalFactor,
      enableRegistration: r.synapse.enableRegistration,
      // The official image drops to 991:991 and needs /data owned by it.
      uid: 991,
      gid: 991,
      extraConfig: r.synapse.extraConfig,
    },
    postgres: {
      image: r.postgres.image,
      memoryLimitBytes: memToBytes(r.postgres.memoryLimit),
      sharedBuffers: r.postgres.sharedBuffers,
      user: "synapse",
      synapseDatabase: "synapse",
    },
    qq: r.qq.enabled
      ? // lxduo/matrix-qq's docker-run.sh chowns /data to 1337:1337 and drops to it (su-exec).
        { ...bridgeBase("qq", r.qq), uid: 1337, gid: 1337, appservicePort: 17777, signServerUrl: r.qq.signServerUrl }
      : undefined,
    wechat: r.wechat.enabled
      ? // lxduo/matrix-wechat runs as root (no su-exec in its docker-run.sh).
        { ...bridgeBase("wechat", r.wechat), uid: 0, gid: 0, appservicePort: 17778, hostPort: r.wechat.hostPort, listenPort: 20002 }
      : undefined,
    cloudflare: cf.enabled
      ? {
          enabled: true,
          zoneId: cf.zoneId!,
          accountId: cf.accountId!,
          originAddress: cf.originAddress!,
          proxied: cf.proxied,
          workerName: cf.workerName ?? `matrix-well-known-${stack}`,
        }
      : { enabled: false },
    volumes: r.volumes,
  };
}

/**
 * Read this stack's configuration from the Pulumi runtime and validate it.
 * Throws a ConfigError listing every problem before any resource exists.
 */
export function loadFromPulumi(stack: string, allConfig: Record<string, string>, isSecret: (key: string) => boolean): Settings {
  const values: Record<string, unknown> = {};
  const secretKeys = new Set<string>();
  for (const [key, text] of Object.entries(allConfig)) {
    // Structured values (objects, lists) reach the runtime as JSON text.
    values[key] = /^\s*[{[]/.test(text) ? safeJson(text) : text;
    if (isSecret(key)) secretKeys.add(key);
  }
  const result = validate(stack, { values, secretKeys });
  if (!result.ok) throw new ConfigError(stack, result.errors);
  return result.settings;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Secret stack settings, as Pulumi secrets (never unwrapped here). */
export interface SecretConfig {
  secretSeed: pulumi.Output<string>;
  sshPrivateKey?: pulumi.Output<string>;
  cloudflareApiToken?: pulumi.Output<string>;
}

/** The program's entry point into configuration: validated settings plus secret handles. */
export function loadStack(): { settings: Settings; secrets: SecretConfig } {
  // isConfigSecret is exported by the runtime but not typed in its .d.ts.
  const runtimeConfig = require("@pulumi/pulumi/runtime/config") as { isConfigSecret(k: string): boolean };
  const settings = loadFromPulumi(pulumi.getStack(), pulumi.runtime.allConfig(), (k) => runtimeConfig.isConfigSecret(k));
  const cfg = new pulumi.Config(NS);
  return {
    settings,
    secrets: {
      secretSeed: cfg.requireSecret("secretSeed"),
      sshPrivateKey: cfg.getSecret("sshPrivateKey"),
      cloudflareApiToken: cfg.getSecret("cloudflareApiToken"),
    },
  };
}

/** Where a stack's config file lives (Pulumi.yaml: stackConfigDir: stacks). */
export function stackFilePath(stack: string, root = path.resolve(__dirname, "..")): string {
  return path.join(root, "stacks", `Pulumi.${stack}.yaml`);
}

/**
 * Read a stacks/Pulumi.<stack>.yaml without the Pulumi CLI (for `npm run render`).
 * Secret values stay encrypted (`secure:`): they count as present, never decrypted.
 */
export function readStackFile(file: string): RawConfig {
  const doc = (parseYaml(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
  const values: Record<string, unknown> = {};
  const secretKeys = new Set<string>();
  for (const [key, value] of Object.entries(doc.config ?? {})) {
    const isSecure = value !== null && typeof value === "object" && "secure" in (value as object);
    values[key] = value;
    if (isSecure) secretKeys.add(key);
  }
  return { values, secretKeys };
}
