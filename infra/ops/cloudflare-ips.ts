/**
 * `npm run cloudflare-ips`: Cloudflare's published edge ranges into infra/data/cloudflare-ips.json,
 * the default of matrix:nginx.trustedProxies when Cloudflare proxies. Every line must
 * be a CIDR range of its list's family and neither list may be empty, so an error page or a
 * changed format can never become the list of senders nginx believes; on any problem the file
 * is left as it was.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { cidrFamily } from "../config/value-types";

export const CLOUDFLARE_IPS_FILE = path.resolve(__dirname, "../data/cloudflare-ips.json");
export const CLOUDFLARE_IPS_SOURCES = { ipv4: "https://www.cloudflare.com/ips-v4", ipv6: "https://www.cloudflare.com/ips-v6" } as const;
const NOTE =
  "Cloudflare's published edge ranges: the only senders whose CF-Connecting-IP host nginx believes when Cloudflare proxies. Written by `npm run cloudflare-ips`; do not edit by hand.";

export interface CloudflareIps {
  /** The day (UTC, YYYY-MM-DD) the lists were fetched. */
  fetched: string;
  ipv4: string[];
  ipv6: string[];
}

/** A URL's body as text; throws naming the URL unless it answers 200. */
export type FetchText = (url: string) => Promise<string>;

export const fetchText: FetchText = async (url) => {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  } catch (e) {
    // fetch's own message is "fetch failed"; the reason (DNS, refused, timeout) is its cause.
    const cause = (e as { cause?: { message?: string } }).cause?.message;
    throw new Error(`${url} could not be fetched: ${cause ?? (e as Error).message}`);
  }
  if (!res.ok) throw new Error(`${url} answered HTTP ${res.status}`);
  return res.text();
};

/** One published list: a CIDR range of `family` per line (blank lines skipped), at least one. */
export function parseRanges(text: string, family: 4 | 6, url: string): string[] {
  const ranges: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === "") return;
    if (cidrFamily(line) !== family) throw new Error(`${url} line ${i + 1} is not an IPv${family} range: ${JSON.stringify(line.slice(0, 80))}`);
    ranges.push(line);
  });
  if (ranges.length === 0) throw new Error(`${url} lists no ranges`);
  return ranges;
}

/** The data file's text, exactly as the kit keeps it. */
export function cloudflareIpsText(ips: CloudflareIps): string {
  const { ipv4, ipv6 } = CLOUDFLARE_IPS_SOURCES;
  return `${JSON.stringify({ "//": NOTE, sources: [ipv4, ipv6], fetched: ips.fetched, ipv4: ips.ipv4, ipv6: ips.ipv6 }, null, 2)}\n`;
}

export interface Refreshed {
  ips: CloudflareIps;
  added: string[];
  removed: string[];
}

/** Fetches both lists with `get`, validates them, then writes `file` dated `today`. */
export async function refreshCloudflareIps(get: FetchText, today: Date, file = CLOUDFLARE_IPS_FILE): Promise<Refreshed> {
  const { ipv4, ipv6 } = CLOUDFLARE_IPS_SOURCES;
  const ips: CloudflareIps = {
    fetched: today.toISOString().slice(0, 10),
    ipv4: parseRanges(await get(ipv4), 4, ipv4),
    ipv6: parseRanges(await get(ipv6), 6, ipv6),
  };
  const before = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as CloudflareIps) : { ipv4: [], ipv6: [] };
  const was = new Set([...before.ipv4, ...before.ipv6]);
  const now = new Set([...ips.ipv4, ...ips.ipv6]);
  // Written whole to a temporary name, then renamed: a reader never sees half a list.
  fs.writeFileSync(`${file}.tmp`, cloudflareIpsText(ips));
  fs.renameSync(`${file}.tmp`, file);
  return { ips, added: [...now].filter((r) => !was.has(r)), removed: [...was].filter((r) => !now.has(r)) };
}
