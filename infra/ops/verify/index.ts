/**
 * `runVerify`: check a live deployment from outside, as Element, a federating
 * server and the WeChat agent see it. Pure of Pulumi: the CLI turns a stack file
 * into a `VerifyTarget` (target.ts), tests build one directly.
 */
import { checkAdminHidden, checkClientVersions, checkFederation, checkOrigin, checkStickers, checkUploads, checkWechat, checkWellKnown, checkWorldCertificate, type CheckContext } from "./checks";
import type { ResolveRule } from "./client";
import type { CheckResult } from "./report";
import { summarize, type Report } from "./report";
import type { VerifyTarget } from "./target";

export interface VerifyOptions {
  target: VerifyTarget;
  /** `--resolve host:port:address:port` rules (curl's --connect-to). */
  resolve?: ResolveRule[];
  /** Extra CA certificates (PEM text), trusted in addition to the usual roots. */
  caPem?: string;
  /** Deadline of each request; default 10 s. */
  timeoutMs?: number;
  /** How long an upload just under the limit must go unanswered to count as accepted; default 3 s. */
  uploadGraceMs?: number;
  wechatSecret?: string;
  accessToken?: string;
  /** Clock for valid_until_ts (tests). */
  now?: () => number;
  /** Trusted for the origin's certificate (PEM), e.g. a private CA of the origin's. */
  originCaPem?: string;
  /** Presented to the origin (PEM), as Cloudflare's edge presents its own. */
  clientCert?: { cert: string; key: string };
  /** Only the checks whose ids start with one of these (e.g. "origin", "tls"). */
  only?: string[];
}

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_UPLOAD_GRACE_MS = 3_000;

export async function runVerify(opts: VerifyOptions): Promise<Report> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const ctx: CheckContext = {
    target: opts.target,
    client: { resolve: opts.resolve ?? [], caPem: opts.caPem, timeoutMs },
    wechatSecret: opts.wechatSecret || undefined,
    accessToken: opts.accessToken || undefined,
    // The grace cannot outlast a request's deadline.
    uploadGraceMs: Math.min(opts.uploadGraceMs ?? DEFAULT_UPLOAD_GRACE_MS, timeoutMs),
    now: opts.now ?? Date.now,
    originCa: opts.originCaPem,
    clientCert: opts.clientCert,
  };
  // Independent groups run side by side, so a run costs about one upload grace period;
  // federation waits for the server well-known because m.server says where to go.
  // With --only, a check that would be filtered out is not run at all (no request for it).
  const wanted = (prefix: string) => !opts.only || opts.only.some((o) => prefix.startsWith(o) || o.startsWith(prefix));
  const none = Promise.resolve([] as CheckResult[]);
  const [server, client, versions, uploads, wechat, admin, stickers, world, origin] = await Promise.all([
    wanted("well-known") || wanted("federation")
      ? checkWellKnown(ctx, "server").then(async (wk) => ({ wk, federation: await checkFederation(ctx, wk.delegated) }))
      : Promise.resolve({ wk: { rows: [] as CheckResult[] }, federation: [] as CheckResult[] }),
    wanted("well-known") ? checkWellKnown(ctx, "client") : Promise.resolve({ rows: [] as CheckResult[] }),
    wanted("client") ? checkClientVersions(ctx).then((r) => [r]) : none,
    wanted("upload") ? checkUploads(ctx) : none,
    wanted("wechat") ? checkWechat(ctx) : none,
    wanted("admin") ? checkAdminHidden(ctx).then((r) => [r]) : none,
    wanted("stickers") ? checkStickers(ctx).then((r) => [r]) : none,
    wanted("tls") ? checkWorldCertificate(ctx).then((r) => [r]) : none,
    wanted("origin") ? checkOrigin(ctx) : none,
  ]);
  const all = [...server.wk.rows, ...client.rows, ...server.federation, ...versions, ...uploads, ...wechat, ...admin, ...stickers, ...world, ...origin];
  const checks = opts.only ? all.filter((c) => opts.only!.some((o) => c.id.startsWith(o))) : all;
  return { source: opts.target.source, domain: opts.target.domain, matrixHost: opts.target.matrixHost, checks, summary: summarize(checks) };
}

export { exitCode, formatJson, formatTable, summaryLine, type CheckResult, type Report } from "./report";
export { parseResolve, type ResolveRule } from "./client";
export { formatBytes, parseSize, targetFromNames, targetFromSettings, type VerifyTarget } from "./target";
