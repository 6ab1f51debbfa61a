/** What every check shares: its context, the row constructors and the helpers that read an answer. */
import type { Answer, ClientOptions, Failure } from "../client";
import type { CheckResult } from "../report";
import type { VerifyTarget } from "../target";

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
  /** A CA that signed the origin's certificate, trusted for the origin check (PEM). */
  originCa?: string;
  /** A client certificate to present to the origin (PEM), as Cloudflare's edge does. */
  clientCert?: { cert: string; key: string };
}

/** The WeChat agent's hint, given wherever the secret is missing. */
export const WECHAT_SECRET_HINT = "pass --wechat-secret (pulumi stack output --show-secrets wechatListenSecret)";

/** Element's origin: what a browser client sends, and what CORS must allow. */
export const WEB_ORIGIN = "https://app.element.io";

export const pass = (id: string, name: string, observed: string): CheckResult => ({ id, name, status: "pass", observed });
export const fail = (id: string, name: string, observed: string, fix: string): CheckResult => ({ id, name, status: "fail", observed, fix });
export const skip = (id: string, name: string, observed: string, fix?: string): CheckResult => ({ id, name, status: "skip", observed, fix });

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The start of a body, for an observation (error pages can be long HTML). */
export function snippet(body: string, max = 80): string {
  // Proxies answer errors with HTML pages; their title says it all.
  const title = /<title>([^<]*)<\/title>/i.exec(body);
  if (title) return `(HTML page "${title[1].trim()}")`;
  const flat = body.replace(/\s+/g, " ").trim();
  if (flat === "") return "(empty body)";
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

export function header(a: Answer, name: string): string | undefined {
  const v = a.headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(", ") : v;
}

export function hostOf(url: string): { host: string; port: number } {
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
