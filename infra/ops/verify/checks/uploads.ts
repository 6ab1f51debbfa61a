/** The upload limit: announced by Synapse, enforced by the proxy just above it, not below. */
import { isObject } from "../canonical";
import { probeHeadersOnly, request, type Failure } from "../client";
import type { CheckResult } from "../report";
import { formatBytes, type VerifyTarget } from "../target";
import { type CheckContext, pass, fail, skip, parseJson, snippet, networkFix } from "./common";

/** The size as nginx's client_max_body_size takes it. */
export function nginxSize(bytes: number): string {
  for (const [unit, size] of [["g", 1024 ** 3], ["m", 1024 ** 2], ["k", 1024]] as const) {
    if (bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}

export interface Announced {
  bytes?: number;
  /** How we learned it, or why we could not. */
  note: string;
  /** Whether the server answered something unexpected (not just "needs a token"). */
  trouble?: string;
  /** No answer at all: the limit row fails like every other check against a dead host. */
  unreachable?: Failure;
}

/** Read m.upload.size from Synapse's media config (authenticated endpoint first when we have a token). */
async function readAnnouncedLimit(ctx: CheckContext): Promise<Announced> {
  const origin = ctx.target.matrixOrigin;
  const paths = ctx.accessToken ? ["/_matrix/client/v1/media/config", "/_matrix/media/v3/config"] : ["/_matrix/media/v3/config"];
  const headers: Record<string, string> = ctx.accessToken ? { Authorization: `Bearer ${ctx.accessToken}` } : {};
  let last: Announced = { note: "" };
  for (const path of paths) {
    const a = await request({ url: `${origin}${path}`, headers }, ctx.client);
    if (!a.ok) return { note: `${path}: ${a.message}`, unreachable: a };
    const doc = parseJson(a.body);
    const size = isObject(doc) ? doc["m.upload.size"] : undefined;
    if (a.status === 200 && typeof size === "number" && Number.isSafeInteger(size) && size > 0) {
      return { bytes: size, note: `Synapse announces ${formatBytes(size)} at ${path}` };
    }
    if (a.status === 401 || a.status === 403 || a.status === 404) {
      last = { note: `${path} needs a token (HTTP ${a.status})` };
    } else {
      last = { note: `${path} answered HTTP ${a.status} ${snippet(a.body, 60)}`, trouble: `HTTP ${a.status}` };
    }
  }
  return last;
}

/**
 * Which limit to probe with, and the row saying where it came from. Synapse's own
 * announcement wins (that is what clients obey); the stack's setting (or
 * --upload-limit) stands in when the announcement needs a token.
 */
export function decideLimit(t: VerifyTarget, announced: Announced): { row: CheckResult; limit?: number } {
  const id = "upload.limit";
  const name = "upload limit";
  if (announced.bytes !== undefined) {
    if (t.uploadLimitBytes !== undefined && t.uploadLimitBytes !== announced.bytes) {
      const fix = "the running Synapse has another max_upload_size than the stack: `pulumi up` applies matrix:synapse.maxUploadSize to Synapse and nginx together";
      return { row: fail(id, name, `${announced.note}, but ${t.uploadLimitSource} is ${formatBytes(t.uploadLimitBytes)}`, fix), limit: announced.bytes };
    }
    return { row: pass(id, name, announced.note), limit: announced.bytes };
  }
  if (announced.unreachable) {
    // Still probe with the stack's limit (if any): each row then names the same dead end.
    const fix = networkFix(announced.unreachable, t.matrixOrigin, "nginx (or Cloudflare in front of it)");
    return { row: fail(id, name, announced.unreachable.message, fix), limit: t.uploadLimitBytes };
  }
  if (t.uploadLimitBytes !== undefined) {
    return { row: pass(id, name, `${formatBytes(t.uploadLimitBytes)} from ${t.uploadLimitSource}; ${announced.note}`), limit: t.uploadLimitBytes };
  }
  const why = `no limit to test: ${announced.note}`;
  const fix = "pass --upload-limit <Synapse's max_upload_size, e.g. 50M>, --access-token <token>, or --stack";
  return { row: announced.trouble ? fail(id, name, why, fix) : skip(id, name, `skipped: ${why}`, fix) };
}

export async function checkUploads(ctx: CheckContext): Promise<CheckResult[]> {
  const t = ctx.target;
  const { row, limit } = decideLimit(t, await readAnnouncedLimit(ctx));
  if (limit === undefined) {
    return [row, skip("upload.over-limit", "upload over limit", "skipped: no upload limit known"), skip("upload.under-limit", "upload under limit", "skipped: no upload limit known")];
  }

  const url = `${t.matrixOrigin}/_matrix/media/v3/upload?filename=verify.bin`;
  const probe = (size: number, waitMs: number) =>
    probeHeadersOnly(
      { url, method: "POST", headers: { "Content-Type": "application/octet-stream", "Content-Length": String(size) }, waitMs },
      ctx.client,
    );
  // Over the limit the refusal should come at once, but a slow link deserves the full timeout before we call it accepted.
  const [over, under] = await Promise.all([probe(limit + 1, ctx.client.timeoutMs), probe(limit - 1, ctx.uploadGraceMs)]);
  return [row, judgeOverLimit(limit, over, url), judgeUnderLimit(limit, under, url)];
}

type Probe = Awaited<ReturnType<typeof probeHeadersOnly>>;

export function judgeOverLimit(limit: number, p: Probe, url: string): CheckResult {
  const id = "upload.over-limit";
  const name = "upload over limit";
  const size = limit + 1;
  const lower = `set client_max_body_size ${nginxSize(limit)} in nginx, equal to Synapse's max_upload_size (the kit writes both from matrix:synapse.maxUploadSize), so an upload too big for Synapse is refused before it is sent`;
  if (!p.ok) return fail(id, name, p.message, networkFix(p, url, "nginx (or Cloudflare in front of it)"));
  if (!p.answered) {
    return fail(id, name, `Content-Length ${size}: no answer in ${p.waitedMs / 1000} s (the proxy accepted the size and waits for the body)`, lower);
  }
  if (p.status === 413) return pass(id, name, `Content-Length ${size}: HTTP 413 after ${p.afterMs} ms`);
  return fail(id, name, `Content-Length ${size}: HTTP ${p.status}, not 413 (the proxy let the size through)`, lower);
}

export function judgeUnderLimit(limit: number, p: Probe, url: string): CheckResult {
  const id = "upload.under-limit";
  const name = "upload under limit";
  const size = limit - 1;
  if (!p.ok) return fail(id, name, p.message, networkFix(p, url, "nginx (or Cloudflare in front of it)"));
  if (!p.answered) return pass(id, name, `Content-Length ${size}: no 413 in ${p.waitedMs / 1000} s (the proxy waits for the body)`);
  if (p.status === 413) {
    return fail(
      id,
      name,
      `Content-Length ${size}: HTTP 413 after ${p.afterMs} ms, under Synapse's limit of ${formatBytes(limit)}`,
      `raise client_max_body_size in nginx to ${nginxSize(limit)} (Synapse's max_upload_size; the kit writes both from matrix:synapse.maxUploadSize); behind Cloudflare, its plan's request size limit (100 MB on Free and Pro) applies too`,
    );
  }
  return pass(id, name, `Content-Length ${size}: HTTP ${p.status}, not 413 (the size was accepted)`);
}

// ---------------------------------------------------------------- WeChat agent
