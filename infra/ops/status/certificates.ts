/**
 * The certificate host nginx serves, in `npm run status`: when it ends and who issued it, the
 * ACME renewal's last result, and the warnings: 14 days before the end (what to do depends on
 * where it comes from), an expired one, a failed renewal. Pure: records in, findings out.
 */

/** Warned about this long before it ends: ACME renews 30 days before, Cloudflare's is replaced earlier still. */
export const CERTIFICATE_WARN_DAYS = 14;

export interface CertificateStatus {
  /** matrix:nginx.tls.source: cloudflare, acme or files. */
  source: string;
  path: string;
  /** When it ends (ms since the epoch); null: unreadable on the VPS. */
  notAfter: number | null;
  issuer: string;
}

/** The certificate script's result (templates/acme/certificate.sh.hbs). */
export interface AcmeResult {
  ok: boolean;
  at: string;
  action: string;
  renewed: boolean;
  notAfter: string;
  error: string;
}

/** A `certificate` or `certificate-unreadable` record of the status script. */
export function parseCertificate(f: string[]): CertificateStatus {
  if (f[0] === "certificate-unreadable") return { source: f[1] ?? "", path: f[2] ?? "", notAfter: null, issuer: "" };
  return { source: f[1] ?? "", path: f[2] ?? "", notAfter: Number(f[3]) * 1000, issuer: f.slice(4).join(" ") };
}

export function parseAcme(text: string): AcmeResult | null {
  if (text === "none") return null;
  try {
    return JSON.parse(text) as AcmeResult;
  } catch {
    return null;
  }
}

/** What to do when the certificate nears its end, by where it comes from. */
const REMEDY: Record<string, string> = {
  cloudflare: "run pulumi up: it replaces Cloudflare's origin certificate",
  acme: "its renewal (twice a day) has not worked: run the kit's certificate.sh renew on the VPS to see why",
  files: "replace the files matrix:nginx.tls names, then reload nginx",
};

const DAY = 86_400_000;

export function certificateFindings(c: CertificateStatus | undefined, acme: AcmeResult | null | undefined, now: Date): { level: "problem" | "warning"; what: string }[] {
  const out: { level: "problem" | "warning"; what: string }[] = [];
  if (c) {
    const days = c.notAfter === null ? null : Math.floor((c.notAfter - now.getTime()) / DAY);
    const remedy = REMEDY[c.source] ?? "replace it";
    if (days === null) out.push({ level: "problem", what: `nginx's certificate ${c.path} cannot be read on the VPS (is openssl installed?)` });
    else if (days < 0) out.push({ level: "problem", what: `nginx's certificate ${c.path} (${c.issuer}) ended on ${new Date(c.notAfter!).toISOString().slice(0, 10)}: clients refuse it. ${remedy}` });
    else if (days < CERTIFICATE_WARN_DAYS) out.push({ level: "warning", what: `nginx's certificate ${c.path} (${c.issuer}) ends in ${days} days, on ${new Date(c.notAfter!).toISOString().slice(0, 10)}: ${remedy}` });
  }
  if (acme && !acme.ok) out.push({ level: "warning", what: `the certificate's last ${acme.action} (${acme.at}) FAILED: ${acme.error}` });
  return out;
}

/** The status line: the certificate's end, issuer and source; ACME's last run. */
export function certificateLine(c: CertificateStatus | undefined, acme: AcmeResult | null | undefined, now: Date): string | undefined {
  if (!c) return undefined;
  const end = c.notAfter === null ? "unreadable" : `ends ${new Date(c.notAfter).toISOString().slice(0, 10)} (in ${Math.floor((c.notAfter - now.getTime()) / DAY)} days)`;
  const last = acme === undefined ? "" : acme === null ? "; no renewal run yet" : `; last ${acme.action} ${acme.at}: ${acme.ok ? (acme.renewed ? "renewed" : "nothing due") : "FAILED"}`;
  return `certificate (${c.source}): ${end}, issued by ${c.issuer || "?"}${last}`;
}
