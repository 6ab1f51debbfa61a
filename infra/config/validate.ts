/**
 * The one place that validates stack configuration.
 *
 * `validate()` is pure: raw key/value pairs in (as in a stacks/Pulumi.<env>.yaml
 * file, keys with their `matrix:` namespace), typed `Settings` or the complete
 * list of problems out. Every problem names the key and what is allowed, and all
 * of them are reported at once (matrix-docker-ansible-deploy validate_config.yml),
 * so a user fixes their stack file in one pass and nothing is created before that.
 */
import type { Settings } from "../settings";
import { NS, RENAMED_KEYS, schema, SECRET_KEYS, SETTING_HINTS, WATCHDOG_DEFAULTS } from "./schema";
import { budgetProblems } from "./budget";
import { cpuBudgetProblems } from "./cpu-budget";
import { cpuBudget, memoryBudget, sizeToBytes, toSettings } from "./to-settings";
import { tlsProblems } from "./tls";

/** A stack's configuration as read: values by full key, and which keys are Pulumi secrets. */
export interface RawConfig {
  values: Record<string, unknown>;
  /** Full keys (`matrix:x`) whose values are Pulumi secrets. */
  secretKeys: ReadonlySet<string>;
}

export type Validation = { ok: true; settings: Settings } | { ok: false; errors: string[] };

/** Every problem of a stack, one per line, each naming its setting. */
export function configProblems(stack: string, errors: string[]): string {
  return `stack "${stack}" has ${errors.length} configuration problem(s):\n  - ${errors.join("\n  - ")}`;
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
            renamed ? `${NS}:${path} was renamed: use ${NS}:${renamed}` : `${NS}:${path} is not a setting of this kit (docs/settings.md lists every one)`,
          );
        }
        continue;
      }
      const path = issue.path.join(".");
      const got = at(plain, issue.path);
      const allowed =
        SETTING_HINTS[path] ??
        (issue.code === "invalid_union"
          ? "a DNS name or an IP address"
          : issue.code === "invalid_type"
            ? `a ${issue.expected}`
            : issue.message.replace(/^Invalid (input|string): /, ""));
      const what = got === undefined ? `is required: ${allowed}` : `must be ${allowed}`;
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
  const watchdog = (plain.watchdog ?? {}) as Record<string, unknown>;
  const num = (v: unknown, d: number) => (typeof v === "number" ? v : d);
  const interval = num(watchdog.intervalSeconds, WATCHDOG_DEFAULTS.intervalSeconds);
  const answer = num(watchdog.answerTimeoutSeconds, WATCHDOG_DEFAULTS.answerTimeoutSeconds);
  if (watchdog.enabled !== false && answer >= interval) {
    errors.push(`${NS}:watchdog.answerTimeoutSeconds (${answer}) must be less than ${NS}:watchdog.intervalSeconds (${interval})`);
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
  if (r.bridgeQueue.enabled && r.bridgeQueue.ownerActiveSeconds !== null && (r.qq.enabled || r.wechat.enabled)) usePort(r.bridgeQueue.hostPort, "bridgeQueue.hostPort");
  const matrixHost = r.matrixHost ?? `matrix.${r.domain}`;
  if (matrixHost === r.domain && r.cloudflare.enabled) {
    errors.push(`${NS}:matrixHost must differ from ${NS}:domain when Cloudflare serves <domain>/.well-known/matrix/*`);
  }
  const budget = memoryBudget(r);
  errors.push(...budgetProblems(budget, NS));
  const cpu = cpuBudget(r);
  errors.push(...cpuBudgetProblems(cpu, NS));
  errors.push(...federationProblems(r.federation));
  errors.push(...tlsProblems(r, matrixHost, sizeToBytes(r.synapse.maxUploadSize)));
  for (const kind of ["qq", "wechat"] as const) {
    const avatar = r[kind].botAvatar;
    // A bot avatar on another server is fetched from there (the real QQ bridge downloads it on start).
    if (avatar !== "none" && !avatar.startsWith(`mxc://${r.domain}/`)) {
      errors.push(`${NS}:${kind}.botAvatar must be media on your own server, mxc://${r.domain}/<media id>, or "none" (got ${describe(avatar)}): another server's media would be fetched from it`);
    }
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, settings: toSettings(stack, r, matrixHost, budget, cpu) };
}

/** The allow-list is the mode's whole meaning: required with it, refused without it (it would restrict nothing). */
function federationProblems(f: { mode: string; allowedServers: string[] }): string[] {
  if (f.mode === "allow-list" && f.allowedServers.length === 0) {
    return [`${NS}:federation.allowedServers must name at least one server when ${NS}:federation.mode is "allow-list" (an empty list would federate with no one: use mode "off")`];
  }
  if (f.mode !== "allow-list" && f.allowedServers.length > 0) {
    return [`${NS}:federation.allowedServers is only used when ${NS}:federation.mode is "allow-list" (it is "${f.mode}"): set the mode, or remove the list`];
  }
  return [];
}

