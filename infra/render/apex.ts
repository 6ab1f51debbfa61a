/**
 * Whether the Worker's route on <domain>/.well-known/matrix/* can fire: only where Cloudflare
 * proxies <domain> itself (its route runs on proxied traffic alone). Pure: the zone's records for
 * <domain>, as its API lists them, in; what the preview says, and whether the kit keeps a
 * placeholder, out. The kit's own records carry a comment "matrix-kit <stack>: ..." (components/edge.ts).
 */
import type { CloudflareSettings, Settings } from "../settings";

export interface ApexRecord {
  type: string;
  content: string;
  proxied: boolean;
  comment: string;
}

export interface ApexVerdict {
  level: "info" | "warn";
  text: string;
  /** Keep (or make) the kit's proxied placeholder for <domain>. */
  placeholder: boolean;
}

export function apexVerdict(s: Settings, cf: Extract<CloudflareSettings, { enabled: true }>, records: ApexRecord[]): ApexVerdict {
  const route = `the Worker's route on ${s.domain}/.well-known/matrix/*`;
  const owners = records.filter((r) => !r.comment.startsWith(`matrix-kit ${s.stack}:`));
  const proxied = owners.find((r) => r.proxied);
  if (proxied) return { level: "info", text: `${s.domain} is proxied by Cloudflare (${proxied.type} ${proxied.content}): ${route} fires`, placeholder: false };
  if (owners.length > 0) {
    const r = owners[0]!;
    return {
      level: "warn",
      text:
        `${s.domain} has a record Cloudflare does not proxy (${r.type} ${r.content}), so ${route} will not fire: other servers and clients will not find ${s.matrixHost}. ` +
        `Turn on the proxy (the orange cloud) for ${s.domain} in Cloudflare's DNS; the kit does not change your records.`,
      placeholder: false,
    };
  }
  if (cf.apexRecord === "placeholder") {
    return { level: "info", text: `the zone has no record of yours for ${s.domain}: the kit keeps a proxied placeholder (AAAA 100::) so that ${route} fires (matrix:cloudflare.apexRecord)`, placeholder: true };
  }
  return {
    level: "warn",
    text:
      `the zone has no record for ${s.domain}, so ${route} will not fire: other servers and clients will not find ${s.matrixHost}. ` +
      `Set matrix:cloudflare.apexRecord to "placeholder" for a proxied placeholder (AAAA 100::, Cloudflare's way for a name served by Workers alone), or add a proxied record of your own.`,
    placeholder: false,
  };
}
