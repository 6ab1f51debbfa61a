/** Federation (version, signed keys) and the client API's versions. */
import { isObject, verifySelfSignatures } from "../canonical";
import { request, type Outcome } from "../client";
import type { CheckResult } from "../report";
import { federationOrigin, parseServerName, type ServerAddress, type VerifyTarget } from "../target";
import { type CheckContext, pass, fail, parseJson, snippet, networkFix } from "./common";

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

/**
 * Federation off: its endpoints must not answer through the site (the kit's nginx gives them no
 * route, and Synapse has no federation listener). Any answer but a 200 counts as closed.
 */
export function judgeFederationClosed(t: VerifyTarget, answers: { url: string; outcome: Outcome }[]): CheckResult {
  const id = "federation.closed";
  const name = "federation closed";
  const seen = answers.map(({ url, outcome }) => `${new URL(url).pathname} ${outcome.ok ? `HTTP ${outcome.status}` : outcome.message}`);
  const open = answers.filter(({ outcome }) => outcome.ok && outcome.status === 200);
  if (open.length === 0) return pass(id, name, `${seen.join(", ")} at ${t.matrixHost} (matrix:federation.mode is "off")`);
  return fail(
    id,
    name,
    `${open.map(({ url, outcome }) => `${new URL(url).pathname} answers HTTP 200: ${snippet(outcome.ok ? outcome.body : "")}`).join("; ")}, but matrix:federation.mode is "off"`,
    `\`pulumi up\` re-writes nginx (no route for /_matrix/federation and /_matrix/key) and homeserver.yaml (no federation listener); check that nothing else proxies ${t.matrixHost} to Synapse`,
  );
}

export async function checkFederation(ctx: CheckContext, delegated: ServerAddress | undefined): Promise<CheckResult[]> {
  const t = ctx.target;
  if (t.expectedServer === null) {
    const urls = [`${t.matrixOrigin}/_matrix/federation/v1/version`, `${t.matrixOrigin}/_matrix/key/v2/server`];
    const outcomes = await Promise.all(urls.map((url) => request({ url }, ctx.client)));
    return [judgeFederationClosed(t, urls.map((url, i) => ({ url, outcome: outcomes[i] })))];
  }
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
