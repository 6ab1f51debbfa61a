/**
 * The checks of `npm run verify`, each looking at the deployment the way a
 * client, a federating server or the WeChat agent does. Every check turns what
 * it saw into rows of the report; none throws for a broken or dead server.
 */
import { isObject, verifySelfSignatures } from "./canonical";
import { probeHeadersOnly, request, upgrade, type Answer, type ClientOptions, type Failure, type Outcome } from "./client";
import type { CheckResult } from "./report";
import { federationOrigin, formatBytes, parseServerName, type ServerAddress, type VerifyTarget } from "./target";

export interface CheckContext {
  target: VerifyTarget;
  client: ClientOptions;
  /** The WeChat agent listener's raw listen_secret; never printed. */
  wechatSecret?: string;
  /** A user's access token, to read the upload limit Synapse announces (its media config needs auth). */
  accessToken?: string;
  /** How long a just-under-the-limit upload must go unanswered to count as accepted. */
  uploadGraceMs: number;
  now: () => number;
}

/** The WeChat agent's hint, given wherever the secret is missing. */
export const WECHAT_SECRET_HINT = "pass --wechat-secret (pulumi stack output --show-secrets wechatListenSecret)";

/** Element's origin: what a browser client sends, and what CORS must allow. */
const WEB_ORIGIN = "https://app.element.io";

const pass = (id: string, name: string, observed: string): CheckResult => ({ id, name, status: "pass", observed });
const fail = (id: string, name: string, observed: string, fix: string): CheckResult => ({ id, name, status: "fail", observed, fix });
const skip = (id: string, name: string, observed: string, fix?: string): CheckResult => ({ id, name, status: "skip", observed, fix });

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The start of a body, for an observation (error pages can be long HTML). */
function snippet(body: string, max = 80): string {
  // Proxies answer errors with HTML pages; their title says it all.
  const title = /<title>([^<]*)<\/title>/i.exec(body);
  if (title) return `(HTML page "${title[1].trim()}")`;
  const flat = body.replace(/\s+/g, " ").trim();
  if (flat === "") return "(empty body)";
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function header(a: Answer, name: string): string | undefined {
  const v = a.headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(", ") : v;
}

function hostOf(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || (u.protocol === "https:" ? 443 : 80)) };
}

/** What to do when a request got no answer at all; `service` names what should be listening. */
export function networkFix(f: Failure, url: string, service: string): string {
  const { host, port } = hostOf(url);
  switch (f.kind) {
    case "tls":
      if (f.message.includes("plain HTTP")) return `${host}:${port} must speak TLS: nginx \`listen ${port} ssl\` with a certificate (matrix:nginx.tls), or Cloudflare in front`;
      return `serve a certificate for ${host} that clients trust (a public CA; behind Cloudflare: SSL mode Full and an origin certificate in matrix:nginx.tls); for a private CA pass --ca-file`;
    case "dns":
      return `create a DNS record for ${host} pointing at the server (or at Cloudflare)`;
    case "refused":
    case "reset":
      return `nothing took the connection on ${host}:${port}: ${service} must listen there`;
    case "timeout":
    case "unreachable":
      return `check that ${host}:${port} is reachable from the internet (firewall, security group, the host is up)`;
    default:
      return `check ${service} at ${host}:${port}`;
  }
}

// ---------------------------------------------------------------- discovery

type Which = "server" | "client";

/** Who to change when a well-known answer is wrong. */
function wellKnownOwner(t: VerifyTarget, which: Which): string {
  switch (t.wellKnownServedBy) {
    case "cloudflare-worker":
      return `the kit's Cloudflare Worker answers ${t.domain}/.well-known/matrix/${which}: its route must be active and ${t.domain} proxied (orange cloud); \`pulumi up\` re-deploys it`;
    case "nginx":
      return `the kit's nginx block for ${t.domain} answers /.well-known/matrix/${which}: \`pulumi up\` re-writes it (check \`nginx -t\`)`;
    default:
      return `serve /.well-known/matrix/${which} on ${t.domain} (the kit's Worker or nginx block does)`;
  }
}

/** Pick the text for whoever serves <domain>/.well-known/matrix/* in this deployment. */
function byServer(t: VerifyTarget, text: { nginx: string; worker: string; other: string }): string {
  return t.wellKnownServedBy === "nginx" ? text.nginx : t.wellKnownServedBy === "cloudflare-worker" ? text.worker : text.other;
}

/** What should be listening for <domain>. */
function wellKnownServer(t: VerifyTarget): string {
  return byServer(t, { nginx: "nginx", worker: `Cloudflare (a proxied DNS record for ${t.domain})`, other: "a web server" });
}

export interface WellKnownResult {
  rows: CheckResult[];
  /** m.server as served, when usable: where federation goes. */
  delegated?: ServerAddress;
}

function sameBaseUrl(a: string, b: string): boolean {
  return a.replace(/\/+$/, "") === b.replace(/\/+$/, "");
}

/** Judge the document itself: status, JSON, and the field a client or server reads. */
export function judgeWellKnownBody(t: VerifyTarget, which: Which, a: Outcome, url: string): { row: CheckResult; doc?: Record<string, unknown> } {
  const id = `well-known.${which}`;
  const name = `well-known ${which}`;
  if (!a.ok) return { row: fail(id, name, a.message, networkFix(a, url, wellKnownServer(t))) };
  if (a.status >= 300 && a.status < 400) {
    return { row: fail(id, name, `HTTP ${a.status} redirect to ${header(a, "location") ?? "(no Location)"}`, `answer directly, without a redirect: ${wellKnownOwner(t, which)}`) };
  }
  if (a.status !== 200) return { row: fail(id, name, `HTTP ${a.status} ${snippet(a.body)}`, wellKnownOwner(t, which)) };
  const doc = parseJson(a.body);
  if (!isObject(doc)) return { row: fail(id, name, `HTTP 200 but not a JSON object: ${snippet(a.body)}`, wellKnownOwner(t, which)) };
  const shown = JSON.stringify(doc);
  if (which === "server") {
    const want = t.expectedServer["m.server"];
    const got = doc["m.server"];
    if (typeof got !== "string") return { row: fail(id, name, `no "m.server" string in ${shown}`, `answer ${JSON.stringify(t.expectedServer)}: ${wellKnownOwner(t, which)}`), doc };
    const g = parseServerName(got);
    const w = parseServerName(want);
    if (!g) return { row: fail(id, name, `m.server "${got}" is not a host[:port]`, `answer ${JSON.stringify(t.expectedServer)}: ${wellKnownOwner(t, which)}`), doc };
    if (w && (g.host !== w.host || (g.port ?? 8448) !== (w.port ?? 8448))) {
      const what = g.host !== w.host ? "host" : "port";
      return {
        row: fail(id, name, `m.server is "${got}", expected "${want}" (wrong ${what})`, `answer ${JSON.stringify(t.expectedServer)}: ${wellKnownOwner(t, which)}`),
        doc,
      };
    }
    return { row: pass(id, name, `HTTP 200 ${shown}`), doc };
  }
  const want = t.expectedClient["m.homeserver"].base_url;
  const hs = doc["m.homeserver"];
  const got = isObject(hs) ? hs.base_url : undefined;
  if (typeof got !== "string") {
    return { row: fail(id, name, `no "m.homeserver"."base_url" string in ${shown}`, `answer ${JSON.stringify(t.expectedClient)}: ${wellKnownOwner(t, which)}`), doc };
  }
  if (!sameBaseUrl(got, want)) {
    return { row: fail(id, name, `base_url is "${got}", expected "${want}"`, `answer ${JSON.stringify(t.expectedClient)}: ${wellKnownOwner(t, which)}`), doc };
  }
  return { row: pass(id, name, `HTTP 200 ${shown}`), doc };
}

/** The media type without parameters: "application/json; charset=utf-8" is fine. */
export function mediaType(contentType: string | undefined): string | undefined {
  return contentType?.split(";")[0].trim().toLowerCase();
}

export function judgeContentType(t: VerifyTarget, which: Which, a: Outcome, url: string): CheckResult {
  const id = `well-known.${which}.content-type`;
  const name = `well-known ${which} Content-Type`;
  if (!a.ok) return fail(id, name, a.message, networkFix(a, url, wellKnownServer(t)));
  if (a.status !== 200) return fail(id, name, `no document (HTTP ${a.status})`, wellKnownOwner(t, which));
  const ct = header(a, "content-type");
  if (mediaType(ct) === "application/json") return pass(id, name, `Content-Type: ${ct}`);
  const fixHow = byServer(t, {
    nginx: "the location needs `default_type application/json` (the kit's nginx block has it)",
    worker: "the kit's Worker sets it: check that the Worker, not the origin, answers this path",
    other: "serve it with Content-Type: application/json",
  });
  return fail(id, name, ct === undefined ? "no Content-Type header" : `Content-Type: ${ct}`, `clients expect JSON: ${fixHow}`);
}

function corsFix(t: VerifyTarget, which: Which): string {
  const how = byServer(t, {
    nginx: "`add_header Access-Control-Allow-Origin * always;` in the location (the kit's nginx block has it)",
    worker: "the kit's Worker sends it: check that the Worker, not the origin, answers this path",
    other: "send Access-Control-Allow-Origin: *",
  });
  return `web clients (Element) fetch /.well-known/matrix/${which} cross-origin: ${how}`;
}

export function judgeCors(t: VerifyTarget, which: Which, a: Outcome, url: string): CheckResult {
  const id = `well-known.${which}.cors`;
  const name = `well-known ${which} CORS`;
  if (!a.ok) return fail(id, name, a.message, networkFix(a, url, wellKnownServer(t)));
  if (a.status !== 200) return fail(id, name, `no document (HTTP ${a.status})`, wellKnownOwner(t, which));
  const acao = header(a, "access-control-allow-origin");
  if (acao?.trim() === "*") return pass(id, name, "Access-Control-Allow-Origin: *");
  return fail(id, name, acao === undefined ? "no Access-Control-Allow-Origin header" : `Access-Control-Allow-Origin: ${acao}`, corsFix(t, which));
}

export function judgePreflight(t: VerifyTarget, which: Which, a: Outcome, url: string): CheckResult {
  const id = `well-known.${which}.preflight`;
  const name = `well-known ${which} preflight`;
  if (!a.ok) return fail(id, name, a.message, networkFix(a, url, wellKnownServer(t)));
  const acao = header(a, "access-control-allow-origin");
  const seen = `OPTIONS → HTTP ${a.status}, ${acao === undefined ? "no Access-Control-Allow-Origin" : `Access-Control-Allow-Origin: ${acao}`}`;
  if ((a.status === 200 || a.status === 204) && acao?.trim() === "*") return pass(id, name, seen);
  const fix =
    a.status === 200 || a.status === 204
      ? corsFix(t, which)
      : `answer the browser's OPTIONS preflight with 204 and CORS headers: ${t.wellKnownServedBy === "nginx" ? "`if ($request_method = OPTIONS) { return 204; }` in the location (the kit's nginx block has it)" : wellKnownOwner(t, which)}`;
  return fail(id, name, seen, fix);
}

export async function checkWellKnown(ctx: CheckContext, which: Which): Promise<WellKnownResult> {
  const t = ctx.target;
  const url = `${t.wellKnownOrigin}/.well-known/matrix/${which}`;
  const [get, options] = await Promise.all([
    request({ url, headers: { Accept: "application/json", Origin: WEB_ORIGIN } }, ctx.client),
    request(
      { url, method: "OPTIONS", headers: { Origin: WEB_ORIGIN, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "content-type" } },
      ctx.client,
    ),
  ]);
  const body = judgeWellKnownBody(t, which, get, url);
  const rows = [body.row, judgeContentType(t, which, get, url), judgeCors(t, which, get, url), judgePreflight(t, which, options, url)];
  let delegated: ServerAddress | undefined;
  if (which === "server" && body.doc && typeof body.doc["m.server"] === "string") delegated = parseServerName(body.doc["m.server"]);
  return { rows, delegated };
}

// ---------------------------------------------------------------- federation

/** 502/504 come from the proxy itself: Synapse is down or on another port. */
const SYNAPSE_DOWN = "the proxy cannot reach Synapse: check its container (`docker ps`, `docker logs <prefix>-synapse`) and matrix:synapse.hostPort";

function federationFix(t: VerifyTarget, addr: ServerAddress, status: number): string {
  if (status === 502 || status === 504) return SYNAPSE_DOWN;
  const plain = t.matrixOrigin.startsWith("http:") ? "; a plain-HTTP stack cannot federate: set matrix:nginx.tls or enable Cloudflare" : "";
  return `other servers reach ${t.domain} at ${addr.host}:${addr.port ?? 8448}: proxy /_matrix/federation and /_matrix/key there to Synapse over HTTPS (the kit's nginx location ^/_matrix does)${plain}`;
}

export function judgeFederationVersion(t: VerifyTarget, addr: ServerAddress, a: Outcome, url: string): CheckResult {
  const id = "federation.version";
  const name = "federation version";
  const at = `${addr.host}:${addr.port ?? 8448}`;
  if (!a.ok) return fail(id, name, a.message, networkFix(a, url, "nginx (or Cloudflare in front of it)"));
  const doc = parseJson(a.body);
  const server = isObject(doc) && isObject(doc.server) ? doc.server : undefined;
  if (a.status !== 200 || !server || typeof server.name !== "string") {
    return fail(id, name, `HTTP ${a.status} at ${at}: ${snippet(a.body)}`, federationFix(t, addr, a.status));
  }
  const version = typeof server.version === "string" ? ` ${server.version}` : "";
  return pass(id, name, `${server.name}${version} at ${at}`);
}

export function judgeServerKeys(t: VerifyTarget, addr: ServerAddress, a: Outcome, url: string, nowMs: number): CheckResult {
  const id = "federation.keys";
  const name = "federation signing key";
  const at = `${addr.host}:${addr.port ?? 8448}`;
  if (!a.ok) return fail(id, name, a.message, networkFix(a, url, "nginx (or Cloudflare in front of it)"));
  const doc = parseJson(a.body);
  if (a.status !== 200 || !isObject(doc)) return fail(id, name, `HTTP ${a.status} at ${at}: ${snippet(a.body)}`, federationFix(t, addr, a.status));

  const problems: { seen: string; fix: string }[] = [];
  const seen: string[] = [];
  const serverName = doc.server_name;
  if (serverName !== t.domain) {
    problems.push({
      seen: `server_name is ${JSON.stringify(serverName)}, expected "${t.domain}"`,
      fix: `Synapse behind ${at} must run with server_name "${t.domain}" (the kit renders it from matrix:domain), or m.server must point at the server that does`,
    });
  } else seen.push(`server_name ${t.domain}`);

  // Signatures are checked under the server name the key claims, as a remote server would.
  const verdicts = typeof serverName === "string" ? verifySelfSignatures(doc, serverName) : [];
  if (verdicts.length === 0) {
    problems.push({ seen: "no ed25519 key in verify_keys", fix: "Synapse publishes its signing key here: check that /_matrix/key reaches Synapse unmodified" });
  }
  for (const v of verdicts) {
    if (v.result === "valid") seen.push(`${v.keyId} self-signature valid`);
    else
      problems.push({
        seen: `${v.keyId}: ${v.result}`,
        fix: "the answer is not signed by its own key: something between Synapse and the internet rewrites /_matrix/key answers, or the signing key is damaged (check <server_name>.signing.key in Synapse's data)",
      });
  }

  const until = doc.valid_until_ts;
  if (typeof until !== "number") {
    problems.push({ seen: "no valid_until_ts", fix: "check that /_matrix/key reaches Synapse unmodified" });
  } else if (until <= nowMs) {
    problems.push({
      seen: `valid_until_ts ${new Date(until).toISOString()} is in the past`,
      fix: "Synapse refreshes this itself: a cache in front of it (CDN page rules) must not cache /_matrix/key",
    });
  } else seen.push(`valid until ${new Date(until).toISOString()}`);

  if (problems.length > 0) {
    return fail(id, name, problems.map((p) => p.seen).join("; "), [...new Set(problems.map((p) => p.fix))].join("; "));
  }
  return pass(id, name, seen.join(", "));
}

export async function checkFederation(ctx: CheckContext, delegated: ServerAddress | undefined): Promise<CheckResult[]> {
  const t = ctx.target;
  // With no usable answer from the well-known, look where it should have sent us, and say so.
  const expected = parseServerName(t.expectedServer["m.server"]);
  const addr = delegated ?? expected ?? { host: t.domain };
  const origin = federationOrigin(addr);
  const versionUrl = `${origin}/_matrix/federation/v1/version`;
  const keysUrl = `${origin}/_matrix/key/v2/server`;
  const [version, keys] = await Promise.all([request({ url: versionUrl }, ctx.client), request({ url: keysUrl }, ctx.client)]);
  const rows = [judgeFederationVersion(t, addr, version, versionUrl), judgeServerKeys(t, addr, keys, keysUrl, ctx.now())];
  if (!delegated) for (const r of rows) r.observed += ` (well-known unusable: tried the expected ${origin})`;
  return rows;
}

// ---------------------------------------------------------------- client API

export function judgeClientVersions(t: VerifyTarget, a: Outcome, url: string): CheckResult {
  const id = "client.versions";
  const name = "client API versions";
  if (!a.ok) return fail(id, name, a.message, networkFix(a, url, "nginx (or Cloudflare in front of it)"));
  const doc = parseJson(a.body);
  const versions = isObject(doc) && Array.isArray(doc.versions) ? doc.versions.filter((v): v is string => typeof v === "string") : [];
  if (a.status === 200 && versions.length > 0) {
    const shown = versions.length > 3 ? `${versions[0]} … ${versions[versions.length - 1]}` : versions.join(", ");
    return pass(id, name, `HTTP 200, ${versions.length} versions (${shown})`);
  }
  const fix =
    a.status === 502 || a.status === 504
      ? SYNAPSE_DOWN
      : `proxy /_matrix on ${t.matrixHost} to Synapse (the kit's nginx site does: \`pulumi up\`)`;
  return fail(id, name, `HTTP ${a.status}: ${snippet(a.body)}`, fix);
}

export async function checkClientVersions(ctx: CheckContext): Promise<CheckResult> {
  const url = `${ctx.target.matrixOrigin}/_matrix/client/versions`;
  return judgeClientVersions(ctx.target, await request({ url }, ctx.client), url);
}

// ---------------------------------------------------------------- uploads

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

export async function checkWechat(ctx: CheckContext): Promise<CheckResult[]> {
  const t = ctx.target;
  const okName = "wechat WebSocket";
  const badName = "wechat wrong secret";
  if (!ctx.wechatSecret) {
    if (t.wechat === "disabled") {
      return [skip("wechat.upgrade", okName, `skipped: the WeChat bridge is disabled in ${t.source}`), skip("wechat.wrong-secret", badName, "skipped: the WeChat bridge is disabled")];
    }
    return [skip("wechat.upgrade", okName, `skipped: ${WECHAT_SECRET_HINT}`), skip("wechat.wrong-secret", badName, `skipped: ${WECHAT_SECRET_HINT}`)];
  }
  const url = `${t.matrixOrigin}/_wechat`;
  // A wrong secret that cannot be the right one, and never shows the right one.
  const wrong = `wrong-${Date.now().toString(36)}`;
  const [good, bad] = await Promise.all([
    upgrade(url, { Authorization: `Basic ${ctx.wechatSecret}` }, ctx.client),
    upgrade(url, { Authorization: `Basic ${wrong}` }, ctx.client),
  ]);
  return [judgeWechatUpgrade(t, good, url), judgeWechatWrongSecret(bad, url)];
}

type Upgrade = Awaited<ReturnType<typeof upgrade>>;

export function judgeWechatUpgrade(t: VerifyTarget, u: Upgrade, url: string): CheckResult {
  const id = "wechat.upgrade";
  const name = "wechat WebSocket";
  const wss = url.replace(/^http/, "ws");
  if (!u.ok) return fail(id, name, u.message, networkFix(u, url, "nginx (or Cloudflare in front of it)"));
  if (u.status === 101) return pass(id, name, `${wss}: HTTP 101 Switching Protocols`);
  const seen = `${wss}: HTTP ${u.status}${u.body ? ` ${snippet(u.body, 60)}` : ""}, expected 101`;
  if (u.status === 401 || u.status === 403) {
    return fail(id, name, seen, "the listener refused the secret: use the raw value of `pulumi stack output --show-secrets wechatListenSecret` (not base64) with --wechat-secret and in the agent");
  }
  if (u.status === 404) return fail(id, name, seen, `/_wechat is not proxied on ${t.matrixHost}: set matrix:wechat.enabled true and \`pulumi up\``);
  if (u.status === 502 || u.status === 504) {
    return fail(id, name, seen, "nginx cannot reach the bridge's agent listener on 127.0.0.1:<matrix:wechat.hostPort>: check the wechat container (`docker logs <prefix>-wechat`)");
  }
  return fail(id, name, seen, "the upgrade did not reach the listener: the /_wechat location needs `proxy_http_version 1.1` and the Upgrade/Connection headers (the kit's nginx site has them)");
}

export function judgeWechatWrongSecret(u: Upgrade, url: string): CheckResult {
  const id = "wechat.wrong-secret";
  const name = "wechat wrong secret";
  if (!u.ok) return fail(id, name, u.message, networkFix(u, url, "nginx (or Cloudflare in front of it)"));
  if (u.status === 401 || u.status === 403) return pass(id, name, `HTTP ${u.status}: refused`);
  if (u.status === 101) {
    return fail(id, name, "HTTP 101: a wrong secret was accepted", "anyone can drive your WeChat: the bridge's listen_secret must be set (the kit renders it from matrix:secretSeed) and the listener must check it");
  }
  return fail(id, name, `HTTP ${u.status}, expected 401 or 403`, "see the wechat WebSocket check: the request did not reach the listener");
}

// ---------------------------------------------------------------- admin API

export function judgeAdminHidden(t: VerifyTarget, a: Outcome, url: string): CheckResult {
  const id = "admin.hidden";
  const name = "admin API not public";
  if (!a.ok) return fail(id, name, a.message, networkFix(a, url, "nginx (or Cloudflare in front of it)"));
  if (a.status === 200) {
    return fail(
      id,
      name,
      `HTTP 200 ${snippet(a.body, 60)}: /_synapse/admin answers the internet`,
      `don't proxy /_synapse/admin on ${t.matrixHost}: limit the nginx location to ^(/_matrix|/_synapse/client) as the kit does, and use the admin API from the host (127.0.0.1)`,
    );
  }
  return pass(id, name, `HTTP ${a.status}`);
}

export async function checkAdminHidden(ctx: CheckContext): Promise<CheckResult> {
  const url = `${ctx.target.matrixOrigin}/_synapse/admin/v1/server_version`;
  return judgeAdminHidden(ctx.target, await request({ url }, ctx.client), url);
}
