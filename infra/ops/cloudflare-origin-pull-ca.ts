/**
 * `npm run cloudflare-ips` also refreshes infra/data/cloudflare-origin-pull-ca.json: the CA whose
 * client certificate Cloudflare's edge presents to the origin, which host nginx requires when
 * matrix:cloudflare.authenticatedOriginPulls is on. The fetched text must be exactly one PEM
 * certificate that is a CA and valid today, so an error page can never become what nginx trusts;
 * on any problem the file is left as it was.
 */
import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { FetchText } from "./cloudflare-ips";

export const ORIGIN_PULL_CA_FILE = path.resolve(__dirname, "../data/cloudflare-origin-pull-ca.json");
export const ORIGIN_PULL_CA_SOURCE = "https://developers.cloudflare.com/ssl/static/authenticated_origin_pull_ca.pem";
const NOTE =
  "Cloudflare's origin-pull CA: host nginx requires a client certificate it signed when matrix:cloudflare.authenticatedOriginPulls is on, so that only Cloudflare reaches the origin. Written by `npm run cloudflare-ips`; do not edit by hand.";

export interface OriginPullCa {
  "//": string;
  source: string;
  /** The day (UTC, YYYY-MM-DD) it was fetched. */
  fetched: string;
  /** Where the first copy came from, when not from `source` itself. */
  note?: string;
  subject: string;
  notAfter: string;
  sha256: string;
  pem: string;
}

/** The PEM's certificate, refused unless it is one CA certificate valid on `today`. */
export function parseOriginPullCa(text: string, today: Date, url = ORIGIN_PULL_CA_SOURCE): X509Certificate {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length !== 1) throw new Error(`${url} holds ${blocks.length} PEM certificates, not one: ${JSON.stringify(text.trim().slice(0, 60))}`);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(blocks[0]);
  } catch (e) {
    throw new Error(`${url} is not a certificate: ${(e as Error).message}`);
  }
  if (!cert.ca) throw new Error(`${url} is not a CA certificate (${cert.subject.replace(/\n/g, ", ")})`);
  if (new Date(cert.validTo) <= today || new Date(cert.validFrom) > today) throw new Error(`${url} is not valid on ${today.toISOString().slice(0, 10)} (${cert.validFrom} to ${cert.validTo})`);
  return cert;
}

/** "C=US, O=CloudFlare, Inc., ...": node gives one attribute per line, commas escaped. */
export const subjectLine = (cert: X509Certificate) => cert.subject.split("\n").join(", ").replace(/\\,/g, ",");

/** The data file's text, exactly as the kit keeps it. */
export function originPullCaText(ca: OriginPullCa): string {
  return `${JSON.stringify(ca, null, 2)}\n`;
}

/** Fetches the CA with `get`, validates it, then writes `file` dated `today`; says whether it changed. */
export async function refreshOriginPullCa(get: FetchText, today: Date, file = ORIGIN_PULL_CA_FILE): Promise<{ ca: OriginPullCa; changed: boolean }> {
  const cert = parseOriginPullCa(await get(ORIGIN_PULL_CA_SOURCE), today);
  const pem = cert.toString().trim() + "\n";
  const before = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as OriginPullCa) : undefined;
  const ca: OriginPullCa = {
    "//": NOTE,
    source: ORIGIN_PULL_CA_SOURCE,
    fetched: today.toISOString().slice(0, 10),
    subject: subjectLine(cert),
    notAfter: new Date(cert.validTo).toISOString().replace(/\.000Z$/, "Z"),
    sha256: cert.fingerprint256,
    pem,
  };
  // Written whole to a temporary name, then renamed: a reader never sees half a certificate.
  fs.writeFileSync(`${file}.tmp`, originPullCaText(ca));
  fs.renameSync(`${file}.tmp`, file);
  return { ca, changed: before?.pem !== pem };
}
