/**
 * The value types settings are made of (host names, ports, paths, sizes, durations, images,
 * address ranges, CPU counts, server names), each with the message a user reads when a value
 * is not one. The stack file's shape (schema.ts) builds on them.
 */
import { isIPv4, isIPv6 } from "node:net";
import { z } from "zod";
import { MAX_CPUS, MIN_CPUS } from "./cpu-budget";

export const hostname = z
  .string()
  .regex(
    /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/,
    "a lower-case DNS name like example.com",
  );
export const port = z.number().int().min(1).max(65535);
/** Text written into a file or a script line: a newline, NUL or other control character would end or cut it. */
export const oneLine = (what: string) => z.string().regex(/^[^\x00-\x1f\x7f]+$/, `${what}, on one line without control characters`);
export const absPath = z
  .string()
  .regex(/^\/[A-Za-z0-9._\/-]*$/, "an absolute path of letters, digits and . _ - /")
  // A "." or ".." name leaves the folder it names (the kit removes its folders on destroy); a longer
  // path than this is not one Linux opens, nor one nginx reads ("too long parameter").
  .refine((v) => !v.split("/").some((name) => name === "." || name === ".."), "an absolute path without . or .. in it")
  .refine((v) => v.length <= 1024 && v.split("/").every((name) => name.length <= 255), "an absolute path of at most 1024 characters, each name at most 255");
export const size = z.string().regex(/^[1-9][0-9]*[KMG]$/, 'a size like "50M": digits then K, M or G');
export const memory = z.string().regex(/^[1-9][0-9]*[kmg]$/, 'a memory size like "512m": digits then k, m or g');
export const duration = z.string().regex(/^[1-9][0-9]*[smhdwy]$/, 'a duration like "90d" (s, m, h, d, w or y)');
/** A lifetime the upkeep job applies: at least a day (the job's test-only flags go lower). */
export const longDuration = duration.refine((v) => /^[0-9]+[dwy]$/.test(v), 'at least a day: a duration in d, w or y like "30d"');
/** Five-field cron schedule (minute hour day month weekday) of digits, * , - and /. */
export const cronSchedule = z.string().regex(/^([0-9*,\/-]+\s+){4}[0-9*,\/-]+$/, 'a cron schedule of five fields like "17 4 * * *"');
export const image = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._\/-]*(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(@sha256:[a-f0-9]{64})?$/, "an image reference like name:tag")
  .refine((v) => /@sha256:|:[^/]+$/.test(v), "a pinned tag or digest (a bare name means latest)")
  .refine((v) => !/:latest$/.test(v), 'a pinned tag, not "latest"');
/**
 * A restic repository the VPS reaches: an absolute path (on the VPS itself: warned about) or one
 * of restic's backends, "<backend>:<location>". Quoted wherever it is rendered; no control characters.
 */
export const resticRepository = z
  .string()
  .regex(/^(\/[^\x00-\x1f\x7f]*|(sftp|rest|s3|b2|azure|gs|swift|rclone):[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*)$/, 'a restic repository: an absolute path, or "sftp:user@host:/path", "rest:https://...", "s3:...", "b2:...", "azure:...", "gs:...", "swift:..." or "rclone:..."');
export const keepCount = z.number().int().min(0).max(1000);

/** 4 or 6 for an address range "<address>/<prefix>" (CIDR), undefined for anything else. */
export function cidrFamily(v: string): 4 | 6 | undefined {
  const m = /^([0-9A-Fa-f.:]+)\/([0-9]{1,3})$/.exec(v);
  if (!m) return undefined;
  const family = isIPv4(m[1]) ? 4 : isIPv6(m[1]) ? 6 : undefined;
  const prefix = Number(m[2]);
  return family !== undefined && prefix <= (family === 4 ? 32 : 128) ? family : undefined;
}
/** An address range nginx reads (set_real_ip_from, allow); one address is /32 or /128. */
export const cidr = z.string().refine((v) => cidrFamily(v) !== undefined, 'an address range like "203.0.113.0/24" or "2001:db8::/32" (one address: /32 or /128)');

/** A number of CPUs in hundredths ("0.25"), as Docker's --cpus takes it (config/cpu-budget.ts). */
export const cpuCount = z
  .number()
  .min(0, "a number of CPUs, not negative")
  .max(MAX_CPUS, `at most ${MAX_CPUS} CPUs`)
  .refine((v) => Math.abs(v * 100 - Math.round(v * 100)) < 1e-9, "a number of CPUs in hundredths, like 0.25");
/** A per-service cap and weight; unset, they come from the budget and the kit (CPU_DEFAULTS). */
export const cpuOverride = z
  .object({
    limit: cpuCount.refine((v) => v >= MIN_CPUS, `at least ${MIN_CPUS} CPUs`).optional(),
    // Docker's own bounds for --cpu-shares.
    shares: z.number().int("a whole number").min(2, "at least 2 (Docker's minimum)").max(262144, "at most 262144 (Docker's maximum)").optional(),
  })
  .strict()
  .optional();
/** A Matrix server name as Synapse's federation_domain_whitelist lists it: a DNS name, optionally with a port. */
export const serverName = z
  .string()
  .regex(/^(?=.{1,253}(:|$))([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:[0-9]{1,5})?$/, "a server name like matrix.org or example.com:8448");

export const hhmm = z.string().regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$/, 'a time of day "HH:MM" (UTC)');
export const localpart = z.string().regex(/^[a-z0-9._=\-\/]+$/, "a Matrix localpart (a-z 0-9 . _ = - /)");
export const extra = z.record(z.string(), z.unknown());
/**
 * A bridge bot's avatar: "none" (no avatar; one an earlier configuration set is removed), or media
 * already on the owner's server as mxc://<domain>/<media id> (validate.ts checks the server).
 */
export const botAvatar = z.union([z.literal("none"), z.string().regex(/^mxc:\/\/[A-Za-z0-9.:-]+\/[A-Za-z0-9_-]+$/)]);
