/**
 * npm run cloudflare-ips
 *
 * Refreshes infra/data/cloudflare-ips.json from Cloudflare's published lists (ips-v4, ips-v6):
 * the senders nginx believes CF-Connecting-IP from when Cloudflare proxies. Exit 0: written
 * (what changed is printed; `pulumi up` puts it in nginx); 1: a list could not be fetched or
 * is not a list of ranges (the file is unchanged); 2: bad usage. The work is in ops/cloudflare-ips.ts.
 */
import * as path from "node:path";
import { parseArgs } from "node:util";
import { runCommand, usageError } from "./command";
import { CLOUDFLARE_IPS_FILE, fetchText, refreshCloudflareIps } from "../ops/cloudflare-ips";

const USAGE = "usage: npm run cloudflare-ips  (refreshes infra/data/cloudflare-ips.json from Cloudflare's published ranges)";

async function main(argv: string[]): Promise<number> {
  try {
    if (parseArgs({ args: argv, strict: true, options: { help: { type: "boolean", short: "h" } } }).values.help) {
      console.log(USAGE);
      return 0;
    }
  } catch (e) {
    return usageError("cloudflare-ips", USAGE, (e as Error).message);
  }
  const file = path.relative(process.cwd(), CLOUDFLARE_IPS_FILE);
  let r;
  try {
    r = await refreshCloudflareIps(fetchText, new Date());
  } catch (e) {
    console.error(`cloudflare-ips: ${(e as Error).message}; ${file} is unchanged`);
    return 1;
  }
  console.log(`${file}: ${r.ips.ipv4.length} IPv4 and ${r.ips.ipv6.length} IPv6 ranges, fetched ${r.ips.fetched}`);
  if (r.added.length + r.removed.length === 0) console.log("no range changed");
  for (const a of r.added) console.log(`  + ${a}`);
  for (const d of r.removed) console.log(`  - ${d}`);
  if (r.added.length + r.removed.length > 0) console.log("run `pulumi up` to put them in nginx (stacks that set matrix:nginx.trustedProxies keep theirs)");
  return 0;
}

runCommand("cloudflare-ips", main);
