/**
 * The stack file's shape for HTTPS and the edge: where host nginx's certificate comes from
 * (nginx.tls), Cloudflare (its zone's settings, the origin certificate, the apex) and ACME.
 * Part of schema.ts; the rules across settings are tls.ts's.
 */
import { z } from "zod";
import { absPath, cronSchedule, port } from "./value-types";

/** Where host nginx's certificate comes from (docs/settings.md, "HTTPS"). Unset: tls.ts's tlsSource. */
export const TLS_SOURCES = ["cloudflare", "acme", "files", "none"] as const;

export const tlsSchema = z
  .object({
    source: z.enum(TLS_SOURCES, `one of "cloudflare", "acme", "files" or "none"`).optional(),
    port: port.default(443),
    // source "files": a certificate and key the owner keeps on the VPS at these paths.
    certificate: absPath.optional(),
    certificateKey: absPath.optional(),
  })
  .strict()
  .prefault({});

/** Cloudflare's Origin CA issues for these validities only (days). */
export const ORIGIN_CERTIFICATE_VALIDITIES = [7, 30, 90, 365, 730, 1095, 5475] as const;

/** The largest request Cloudflare's proxy lets through, by plan (MB): a larger upload gets 413 at the edge. */
export const CLOUDFLARE_PLAN_UPLOAD_MB = { free: 100, pro: 100, business: 200, enterprise: 500 } as const;

export const cloudflareSchema = z
  .object({
    enabled: z.boolean().default(false),
    zoneId: z.string().regex(/^[a-f0-9]{32}$/, "a 32-character hex zone id").optional(),
    accountId: z.string().regex(/^[a-f0-9]{32}$/, "a 32-character hex account id").optional(),
    originAddress: z.union([z.ipv4(), z.ipv6()]).optional(),
    proxied: z.boolean().default(true),
    workerName: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "lower-case letters, digits and -").optional(),
    // The zone's SSL mode: "strict" sets Full (strict); "keep" leaves the owner's (warned about).
    // Unset: strict when the origin serves HTTPS, keep when it does not (tls.ts).
    sslMode: z.enum(["strict", "keep"], `"strict" or "keep"`).optional(),
    // Only Cloudflare reaches the origin: the zone's authenticated origin pulls, and nginx requiring
    // Cloudflare's client certificate. Unset: on when Cloudflare proxies and the origin serves HTTPS.
    authenticatedOriginPulls: z.boolean().optional(),
    originCertificate: z
      .object({
        validityDays: z
          .number()
          .refine((v) => (ORIGIN_CERTIFICATE_VALIDITIES as readonly number[]).includes(v), `one of ${ORIGIN_CERTIFICATE_VALIDITIES.join(", ")} (what Cloudflare's Origin CA issues)`)
          .default(365),
        renewBeforeDays: z.number().int("whole days").min(1, "at least 1").default(30),
      })
      .strict()
      .prefault({}),
    // The Worker's route fires only where <domain> itself is proxied: "placeholder" makes a proxied
    // AAAA 100:: record for it when the zone has none (Cloudflare's way for a Worker-only name).
    apexRecord: z.enum(["none", "placeholder"], `"none" or "placeholder"`).default("none"),
    // For the upload limit at Cloudflare's edge (100 MB on Free and Pro).
    plan: z.enum(Object.keys(CLOUDFLARE_PLAN_UPLOAD_MB) as [keyof typeof CLOUDFLARE_PLAN_UPLOAD_MB], `one of "free", "pro", "business" or "enterprise"`).default("free"),
  })
  .strict()
  .prefault({});

export const LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory";

export const acmeSchema = z
  .object({
    email: z.email("an e-mail address").optional(),
    // Quoted wherever it lands; no spaces, quotes or control characters even so (one word for certbot).
    directoryUrl: z
      .url({ protocol: /^https$/ })
      .regex(/^[^\s\x00-\x1f\x7f'"\\`$]+$/, "an https URL without spaces, quotes, $ or control characters")
      .default(LETS_ENCRYPT),
    // The CA bundle that verifies the ACME server's own HTTPS (a private ACME CA), a path on the VPS.
    caBundle: absPath.optional(),
    // Twice a day, as Let's Encrypt asks of clients; certbot renews 30 days before expiry.
    schedule: cronSchedule.default("23 3,15 * * *"),
  })
  .strict()
  .prefault({});
