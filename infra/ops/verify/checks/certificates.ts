/**
 * Certificates: the chain the world sees at the Matrix host (issuer, names, days left), and,
 * straight to the origin past Cloudflare, whether Full (strict) accepts the origin's certificate
 * and whether a client without Cloudflare's client certificate is let in (authenticated origin
 * pulls), and with `--client-cert` whether that one is.
 */
import type { CheckResult } from "../report";
import { covers, requestWithPeer, type PeerAnswer, type PeerCertificate } from "../tls-peer";
import { type CheckContext, fail, pass, skip, snippet } from "./common";

/** Fewer days left than this fails the check (`npm run status` warns at the same point). */
export const CERTIFICATE_FAIL_DAYS = 14;

const DAY = 86_400_000;
const daysLeft = (p: PeerCertificate, now: number) => Math.floor((p.validTo.getTime() - now) / DAY);
const describe = (p: PeerCertificate, now: number) =>
  `issued by ${p.issuer || "?"} for ${p.names.join(", ") || "(no DNS names)"}, ends ${p.validTo.toISOString().slice(0, 10)} (${daysLeft(p, now)} days)`;

/** Cloudflare's Origin CA signs origin certificates that only Cloudflare trusts (issuer OU "CloudFlare Origin SSL ... Certificate Authority"). */
export const isCloudflareOriginCa = (p: PeerCertificate) => /O=CloudFlare, Inc\./.test(p.issuer) && /OU=CloudFlare Origin SSL( ECC)? Certificate Authority/.test(p.issuer);

export function judgeWorld(name: string, a: PeerAnswer, now: number): CheckResult {
  const id = "tls.world";
  const title = "certificate clients see";
  if (!a.ok) return fail(id, title, a.message, "serve a certificate for the Matrix host that clients trust");
  const p = a.peer;
  if (!p.authorized) return fail(id, title, `${describe(p, now)}: not trusted (${p.authorizationError})`, "serve a certificate from a CA clients trust (behind Cloudflare: its edge certificate)");
  if (!covers(p.names, name)) return fail(id, title, `${describe(p, now)}: not for ${name}`, `serve a certificate for ${name}`);
  if (daysLeft(p, now) < CERTIFICATE_FAIL_DAYS) return fail(id, title, describe(p, now), "renew it: npm run status says where it comes from and what to do");
  return pass(id, title, describe(p, now));
}

export async function checkWorldCertificate(ctx: CheckContext): Promise<CheckResult> {
  if (!ctx.target.matrixOrigin.startsWith("https:")) return skip("tls.world", "certificate clients see", `${ctx.target.matrixOrigin} is plain HTTP`);
  return judgeWorld(ctx.target.matrixHost, await requestWithPeer(`${ctx.target.matrixOrigin}/_matrix/client/versions`, ctx.client), ctx.now());
}

/** What Full (strict) asks of the origin's certificate: valid now, for the name, from a CA Cloudflare trusts. */
export function judgeOriginCertificate(name: string, a: PeerAnswer, now: number): CheckResult {
  const id = "origin.certificate";
  const title = "origin certificate for Full (strict)";
  if (!a.ok) return fail(id, title, a.message, "nginx must serve HTTPS on the origin's port (matrix:nginx.tls)");
  const p = a.peer;
  const trusted = p.authorized ? "a trusted CA" : isCloudflareOriginCa(p) ? "Cloudflare's Origin CA" : undefined;
  if (!trusted) return fail(id, title, `${describe(p, now)}: Full (strict) refuses it (${p.authorizationError})`, 'use Cloudflare\'s origin certificates (matrix:nginx.tls.source "cloudflare") or a public CA\'s');
  if (!covers(p.names, name) || daysLeft(p, now) < 0) return fail(id, title, `${describe(p, now)}: Full (strict) refuses it`, `a certificate for ${name}, valid now: run pulumi up`);
  return pass(id, title, `${describe(p, now)}: from ${trusted}, Full (strict) accepts it`);
}

const NO_CLIENT_CERTIFICATE = "No required SSL certificate was sent";

/** A direct client without Cloudflare's client certificate: refused (only Cloudflare gets through), or answered. */
export function judgeOriginPulls(expected: boolean | "unknown", a: PeerAnswer): CheckResult {
  const id = "origin.pulls";
  const title = "origin refuses clients other than Cloudflare";
  if (!a.ok) return fail(id, title, a.message, "nginx must serve HTTPS on the origin's port");
  if (a.status === 400 && a.body.includes(NO_CLIENT_CERTIFICATE)) {
    return pass(id, title, `a direct client without Cloudflare's client certificate was refused (HTTP 400 "${NO_CLIENT_CERTIFICATE}"): only Cloudflare gets through`);
  }
  const met = `a direct client without a client certificate got HTTP ${a.status} ${snippet(a.body, 50)}`;
  if (expected === true) return fail(id, title, `${met}: anyone who finds the VPS's address reaches nginx past Cloudflare`, "matrix:cloudflare.authenticatedOriginPulls true, then pulumi up");
  return pass(id, title, `${met} (authenticated origin pulls are ${expected === false ? "off" : "not known here"})`);
}

export async function checkOrigin(ctx: CheckContext): Promise<CheckResult[]> {
  const origin = ctx.target.origin;
  // No origin behind Cloudflare (not proxied, or names alone without --origin): the world's certificate check covers it.
  if (!origin) return [];
  const name = ctx.target.matrixHost;
  // Straight to the VPS, with the Matrix host's name in SNI and Host, as Cloudflare's edge connects.
  const client = { ...ctx.client, resolve: [{ host: name, port: origin.port, address: origin.address, addressPort: origin.port }, ...ctx.client.resolve] };
  const url = `https://${name}:${origin.port}/_matrix/client/versions`;
  const ca = ctx.originCa ? [ctx.originCa] : [];
  const bare = await requestWithPeer(url, client, { ca });
  const rows = [judgeOriginCertificate(name, bare, ctx.now()), judgeOriginPulls(origin.pulls, bare)];
  if (ctx.clientCert) {
    const withCert = await requestWithPeer(url, client, { ca, clientCert: ctx.clientCert });
    const id = "origin.client-certificate";
    const title = "origin lets the client certificate given in";
    rows.push(
      withCert.ok && withCert.status === 200
        ? pass(id, title, "a client presenting the certificate given (--client-cert) got HTTP 200")
        : fail(id, title, withCert.ok ? `HTTP ${withCert.status} ${snippet(withCert.body, 60)}` : withCert.message, "the origin must trust the CA of Cloudflare's origin-pull certificate (matrix:cloudflare.authenticatedOriginPulls)"),
    );
  }
  return rows;
}
