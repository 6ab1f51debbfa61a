/**
 * npm run cloudflare-ips
 *
 * Refreshes what the kit keeps of Cloudflare's: infra/data/cloudflare-ips.json from its published
 * lists (ips-v4, ips-v6), the senders nginx believes CF-Connecting-IP from when Cloudflare
 * proxies, and infra/data/cloudflare-origin-pull-ca.json, the CA of the client certificate its
 * edge presents to the origin. Exit 0: both written (what changed is printed; `pulumi up` puts them
 * in nginx); 1: one could not be fetched or is not what it should be (that file is unchanged);
 * 2: bad usage. The work is in ops/cloudflare-ips.ts and ops/cloudflare-origin-pull-ca.ts.
 */
import * as path from "node:path";
import { parseArgs } from "node:util";
import { runCommand, usageError } from "./command";
import { CLOUDFLARE_IPS_FILE, fetchText, refreshCloudflareIps } from "../ops/cloudflare-ips";
import { ORIGIN_PULL_CA_FILE, refreshOriginPullCa } from "../ops/cloudflare-origin-pull-ca";

const USAGE =
  "usage: npm run cloudflare-ips  (refreshes infra/data/cloudflare-ips.json from Cloudflare's published ranges, and infra/data/cloudflare-origin-pull-ca.json from its origin-pull CA)";

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
  const caFile = path.relative(process.cwd(), ORIGIN_PULL_CA_FILE);
  let ca;
  try {
    ca = await refreshOriginPullCa(fetchText, new Date());
  } catch (e) {
    console.error(`cloudflare-ips: ${(e as Error).message}; ${caFile} is unchanged`);
    return 1;
  }
  console.log(`${caFile}: ${ca.ca.subject}, until ${ca.ca.notAfter}, fetched ${ca.ca.fetched}`);
  console.log(ca.changed ? "the CA changed: run `pulumi up` to put it in nginx" : "the CA did not change");
  return 0;
}

runCommand("cloudflare-ips", main);
