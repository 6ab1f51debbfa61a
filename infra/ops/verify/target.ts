/**
 * What a deployment should look like from outside: names, URLs, expected
 * discovery bodies and the upload limit. Built from a validated stack (the same
 * functions that rendered the Worker and nginx produce the expectation, so the
 * check cannot drift from the deployment) or from command-line names alone.
 */
import { clientWellKnown, isHttps, publicBaseUrl, serverWellKnown } from "../../render/discovery";
import type { Settings } from "../../settings";

export interface VerifyTarget {
  /** Where the expectation came from, for the report ("stack prod" or "command line"). */
  source: string;
  /** server_name: users are @you:<domain>, and <domain> serves /.well-known/matrix/*. */
  domain: string;
  matrixHost: string;
  /** Origin serving /.well-known/matrix/* (https://<domain>, or http for a plain local stack). */
  wellKnownOrigin: string;
  /** Origin of the client-server API, as clients learn it from m.homeserver.base_url. */
  matrixOrigin: string;
  /** Who answers /.well-known/matrix/*, so a fix names the right thing to change. */
  wellKnownServedBy: "cloudflare-worker" | "nginx" | "unknown";
  /** null: federation is off (matrix:federation.mode), so no m.server, and no federation endpoint may answer. */
  expectedServer: { "m.server": string } | null;
  expectedClient: { "m.homeserver": { base_url: string } };
  /** Synapse's max_upload_size as the stack sets it (or --upload-limit). */
  uploadLimitBytes?: number;
  uploadLimitSource?: string;
  /** Whether the WeChat bridge (and so /_wechat) is deployed; unknown without a stack. */
  wechat: "enabled" | "disabled" | "unknown";
  /** Whether the kit hosts the sticker picker at /stickers/; unknown without a stack. */
  stickers: "enabled" | "disabled" | "unknown";
  /** The VPS's own address and HTTPS port behind Cloudflare's proxy, and whether only Cloudflare should get in. */
  origin?: { address: string; port: number; pulls: boolean | "unknown" };
}

/** The expectation of a deployed stack. */
export function targetFromSettings(s: Settings): VerifyTarget {
  const https = isHttps(s);
  const wkPort = https ? 443 : s.nginx.httpPort;
  const scheme = https ? "https" : "http";
  return {
    source: `stack ${s.stack}`,
    domain: s.domain,
    matrixHost: s.matrixHost,
    wellKnownOrigin: wkPort === (https ? 443 : 80) ? `${scheme}://${s.domain}` : `${scheme}://${s.domain}:${wkPort}`,
    matrixOrigin: publicBaseUrl(s),
    wellKnownServedBy: s.cloudflare.enabled ? "cloudflare-worker" : "nginx",
    expectedServer: serverWellKnown(s),
    expectedClient: clientWellKnown(s),
    uploadLimitBytes: s.synapse.maxUploadBytes,
    uploadLimitSource: `matrix:synapse.maxUploadSize ${s.synapse.maxUploadSize} in stack ${s.stack}`,
    wechat: s.wechat ? "enabled" : "disabled",
    stickers: s.stickers.enabled ? "enabled" : "disabled",
    ...(s.cloudflare.enabled && s.cloudflare.proxied && s.nginx.tls
      ? { origin: { address: s.cloudflare.originAddress, port: s.nginx.tls.port, pulls: s.cloudflare.authenticatedOriginPulls } }
      : {}),
  };
}

/**
 * The expectation from names alone: what the kit deploys behind TLS (federation
 * delegated to the Matrix host on 443, clients sent to https://<matrix host>).
 */
export function targetFromNames(domain: string, matrixHost: string, uploadLimitBytes?: number): VerifyTarget {
  return {
    source: "command line",
    domain,
    matrixHost,
    wellKnownOrigin: `https://${domain}`,
    matrixOrigin: `https://${matrixHost}`,
    wellKnownServedBy: "unknown",
    expectedServer: { "m.server": `${matrixHost}:443` },
    expectedClient: { "m.homeserver": { base_url: `https://${matrixHost}` } },
    uploadLimitBytes,
    uploadLimitSource: uploadLimitBytes === undefined ? undefined : "--upload-limit",
    wechat: "unknown",
    // The kit hosts it unless a stack turns it off: from names alone, expect it.
    stickers: "enabled",
  };
}

const UNITS: Record<string, number> = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/**
 * Parse a size as nginx and Synapse read it ("50M" = 50 MiB) or plain bytes.
 * Binary units on purpose: both count 1M as 1048576, and the probe is off by one byte.
 */
export function parseSize(text: string): number | undefined {
  const m = /^([1-9][0-9]*)([KMG]?)$/i.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]) * UNITS[m[2].toUpperCase()];
  return Number.isSafeInteger(n) ? n : undefined;
}

/** "52428800 bytes (50 MiB)": exact for the probe, readable for people. */
export function formatBytes(n: number): string {
  for (const [unit, size] of [["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]] as const) {
    if (n >= size && n % size === 0) return `${n} bytes (${n / size} ${unit})`;
  }
  return `${n} bytes`;
}

/** A server name as in m.server: host, IPv4, or [IPv6], with an optional port. */
export interface ServerAddress {
  host: string;
  port?: number;
}

export function parseServerName(text: string): ServerAddress | undefined {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(text);
  if (!m) return undefined;
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  return { host: m[1].toLowerCase(), port };
}

/**
 * Where federation traffic goes after delegation. The spec would try SRV records
 * when m.server has no port; the kit always writes one, so 8448 is the fallback.
 */
export function federationOrigin(addr: ServerAddress): string {
  return `https://${addr.host}:${addr.port ?? 8448}`;
}
