/** <domain>/.well-known/matrix/{server,client}: the document, its content type, CORS and the preflight. */
import { isObject } from "../canonical";
import { request, type Outcome } from "../client";
import type { CheckResult } from "../report";
import { parseServerName, type ServerAddress, type VerifyTarget } from "../target";
import { type CheckContext, WEB_ORIGIN, pass, fail, parseJson, snippet, header, networkFix } from "./common";

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
  if (a.status !== 200) {
    // Federation off: no document is what the kit serves.
    if (which === "server" && t.expectedServer === null) return { row: pass(id, name, `HTTP ${a.status}: no m.server (federation is off)`) };
    return { row: fail(id, name, `HTTP ${a.status} ${snippet(a.body)}`, wellKnownOwner(t, which)) };
  }
  const doc = parseJson(a.body);
  if (!isObject(doc)) return { row: fail(id, name, `HTTP 200 but not a JSON object: ${snippet(a.body)}`, wellKnownOwner(t, which)) };
  const shown = JSON.stringify(doc);
  if (which === "server") {
    if (t.expectedServer === null) return { row: judgeNoDelegation(t, shown, doc), doc };
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

/** Federation off: a document without m.server tells no server where to go; one with it invites them. */
function judgeNoDelegation(t: VerifyTarget, shown: string, doc: Record<string, unknown>): CheckResult {
  if (doc["m.server"] === undefined) return pass("well-known.server", "well-known server", `HTTP 200 ${shown}: no m.server (federation is off)`);
  return fail(
    "well-known.server",
    "well-known server",
    `m.server ${JSON.stringify(doc["m.server"])} is published, but matrix:federation.mode is "off"`,
    `other servers are told where to federate: ${wellKnownOwner(t, "server")}`,
  );
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
  // Federation off: there is no document whose type and CORS could matter.
  if (which === "server" && t.expectedServer === null) return { rows: [body.row] };
  const rows = [body.row, judgeContentType(t, which, get, url), judgeCors(t, which, get, url), judgePreflight(t, which, options, url)];
  let delegated: ServerAddress | undefined;
  if (which === "server" && body.doc && typeof body.doc["m.server"] === "string") delegated = parseServerName(body.doc["m.server"]);
  return { rows, delegated };
}

// ---------------------------------------------------------------- federation
