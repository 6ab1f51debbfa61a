/**
 * HTTPS settings across keys: where host nginx's certificate comes from when the stack does not
 * say, the rules that tie it to Cloudflare's zone settings, what Cloudflare's API would refuse
 * late (an upload above the plan's request limit, a name outside the zone), and the typed result.
 */
import cloudflareOriginPullCa from "../data/cloudflare-origin-pull-ca.json";
import type { AcmeSettings, CloudflareSettings, NginxSettings, TlsSource } from "../settings";
import type { Raw } from "./schema";
import { CLOUDFLARE_PLAN_UPLOAD_MB } from "./schema-tls";

const NS = "matrix";

/**
 * Unset, the source follows what the stack has: the owner's own files when the stack names them
 * (as stacks made before the kit obtained certificates did); Cloudflare's Origin CA behind its
 * proxy (Full (strict)); ACME on a VPS; none on this machine (`local`: no public name for a CA
 * to check).
 */
export function tlsSource(r: Raw): TlsSource {
  if (r.nginx.tls.source) return r.nginx.tls.source;
  if (r.nginx.tls.certificate || r.nginx.tls.certificateKey) return "files";
  if (r.cloudflare.enabled && r.cloudflare.proxied) return "cloudflare";
  return r.target.kind === "ssh" ? "acme" : "none";
}

/** Full (strict) needs HTTPS at the origin; unset, the zone is set so whenever the origin has it. */
function sslMode(r: Raw, source: TlsSource): "strict" | "keep" {
  return r.cloudflare.sslMode ?? (source === "none" ? "keep" : "strict");
}

function authenticatedOriginPulls(r: Raw, source: TlsSource): boolean {
  return r.cloudflare.authenticatedOriginPulls ?? (r.cloudflare.proxied && source !== "none");
}

const MB = 1024 * 1024;

/** Every problem of the HTTPS settings, each naming its key (validate.ts reports them with the rest). */
export function tlsProblems(r: Raw, matrixHost: string, maxUploadBytes: number): string[] {
  const problems: string[] = [];
  const source = tlsSource(r);
  const t = r.nginx.tls;
  const cf = r.cloudflare;
  if (source === "files" && !(t.certificate && t.certificateKey)) {
    problems.push(`${NS}:nginx.tls.certificate and ${NS}:nginx.tls.certificateKey are required when ${NS}:nginx.tls.source is "files" (the paths of your certificate and key on the VPS)`);
  }
  if (source !== "files" && (t.certificate || t.certificateKey)) {
    problems.push(`${NS}:nginx.tls.certificate and certificateKey are only used when ${NS}:nginx.tls.source is "files" (it is "${source}"): remove them, or set the source`);
  }
  if (source === "cloudflare" && !(cf.enabled && cf.proxied)) {
    problems.push(`${NS}:nginx.tls.source "cloudflare" needs ${NS}:cloudflare.enabled and ${NS}:cloudflare.proxied: Cloudflare's origin certificates are trusted by Cloudflare's proxy alone`);
  }
  if (cf.enabled) {
    if (sslMode(r, source) === "strict" && source === "none") {
      problems.push(`${NS}:cloudflare.sslMode "strict" (Full (strict)) needs HTTPS at the origin, and ${NS}:nginx.tls.source is "none"`);
    }
    if (authenticatedOriginPulls(r, source) && (!cf.proxied || source === "none")) {
      problems.push(`${NS}:cloudflare.authenticatedOriginPulls needs ${NS}:cloudflare.proxied and HTTPS at the origin (${NS}:nginx.tls.source is "${source}")`);
    }
    // The Matrix host's record is made in <domain>'s zone: a name outside it is refused by Cloudflare's API.
    if (matrixHost !== r.domain && !matrixHost.endsWith(`.${r.domain}`)) {
      problems.push(`${NS}:matrixHost (${matrixHost}) must be ${r.domain} or a name under it when ${NS}:cloudflare.enabled is true: its DNS record is made in ${r.domain}'s zone`);
    }
    const plan = CLOUDFLARE_PLAN_UPLOAD_MB[cf.plan];
    if (cf.proxied && maxUploadBytes > plan * MB) {
      problems.push(
        `${NS}:synapse.maxUploadSize is above the ${plan} MB Cloudflare's proxy lets through on the ${cf.plan} plan (${NS}:cloudflare.plan): larger uploads would get 413 at the edge. Lower it to ${plan}M, or set the plan you have`,
      );
    }
    const { validityDays, renewBeforeDays } = cf.originCertificate;
    if (renewBeforeDays * 2 > validityDays) {
      problems.push(`${NS}:cloudflare.originCertificate.renewBeforeDays (${renewBeforeDays}) must be at most half of validityDays (${validityDays}): a certificate would be replaced as soon as it is made`);
    }
  }
  return problems;
}

/** Where the kit keeps a certificate it obtains (Cloudflare's or ACME's), and what nginx reads. */
export function kitCertificatePaths(hostDir: string) {
  return { certificate: `${hostDir}/tls/certificate.pem`, certificateKey: `${hostDir}/tls/certificate.key`, originPullCa: `${hostDir}/tls/origin-pull-ca.pem` };
}

/** The typed HTTPS settings: nginx's TLS block, the source, Cloudflare's zone settings, ACME's. */
export function tlsSettings(r: Raw, stack: string, hostDir: string): { tls: NginxSettings["tls"]; source: TlsSource; acme: AcmeSettings; cloudflare: CloudflareSettings } {
  const source = tlsSource(r);
  const kit = kitCertificatePaths(hostDir);
  const cf = r.cloudflare;
  const pulls = cf.enabled && authenticatedOriginPulls(r, source);
  const tls: NginxSettings["tls"] =
    source === "none"
      ? undefined
      : source === "files"
        ? { port: r.nginx.tls.port, certificate: r.nginx.tls.certificate!, certificateKey: r.nginx.tls.certificateKey!, clientCertificateCa: pulls ? kit.originPullCa : null }
        : { port: r.nginx.tls.port, certificate: kit.certificate, certificateKey: kit.certificateKey, clientCertificateCa: pulls ? kit.originPullCa : null };
  const acme: AcmeSettings =
    source === "acme"
      ? { enabled: true, email: r.acme.email ?? null, directoryUrl: r.acme.directoryUrl, caBundle: r.acme.caBundle ?? null, schedule: r.acme.schedule.trim().split(/\s+/).join(" ") }
      : { enabled: false };
  const cloudflare: CloudflareSettings = cf.enabled
    ? {
        enabled: true,
        zoneId: cf.zoneId!,
        accountId: cf.accountId!,
        originAddress: cf.originAddress!,
        proxied: cf.proxied,
        workerName: cf.workerName ?? `matrix-well-known-${stack}`,
        sslMode: sslMode(r, source),
        authenticatedOriginPulls: pulls,
        // The stand-in's CA in the kit's own tests; Cloudflare's, as kept in infra/data, otherwise.
        originPullCa: r.testOnly.originPullCa ?? cloudflareOriginPullCa.pem,
        originCertificate: cf.originCertificate,
        apexRecord: cf.apexRecord,
        plan: cf.plan,
      }
    : { enabled: false };
  return { tls, source, acme, cloudflare };
}

/**
 * What is wrong with a Cloudflare API token's text, or undefined: Cloudflare's API tokens are 40 or
 * more characters of letters, digits, _ and - (a Global API Key is 37 hex digits, and needs an
 * e-mail address the kit does not take). The value is a secret, so this runs in the program, before
 * any resource is registered (preflight.ts), not in `npm run render`, which never decrypts secrets.
 */
export function apiTokenProblem(token: string): string | undefined {
  if (/^[A-Za-z0-9_-]{40,}$/.test(token)) return undefined;
  const what = /^[0-9a-f]{37}$/.test(token)
    ? "it looks like a Global API Key: create an API token instead (My Profile, API Tokens)"
    : /\s/.test(token)
      ? "it has spaces or line breaks in it (copy the token alone, without \"Bearer \")"
      : `it is ${token.length} characters of which some are not letters, digits, _ or -`;
  return `${NS}:cloudflareApiToken is not a Cloudflare API token (40 or more letters, digits, _ and -): ${what}`;
}
