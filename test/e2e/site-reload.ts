/**
 * A failed nginx reload during an update on the e2e deployment registered
 * inside the e2e suite's describe. The update sets matrix:testOnly.failNginxTest, so the site
 * the kit installs fails `nginx -t` on the VPS's own nginx; a client probes the site every
 * 100 ms from before the program runs until after the update has failed. The stack's settings
 * are then applied again, as the owner would after reading the error.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { test } from "node:test";
import { nginxSitePath, renderNginxSite } from "../../infra/render/nginx";
import type { Settings } from "../../infra/settings";
import { startProber } from "../harness/prober";

export interface SiteReloadContext {
  s: Settings;
  nginx: { host: string; port: number };
  summary: string[];
  /** A second `pulumi up` with these stack values added: what it replaced or updated; rejects with the update's error. */
  updateWith: (values: Record<string, unknown>) => Promise<string[]>;
}

export function siteReloadTest(ctx: SiteReloadContext): void {
  const { s } = ctx;
  test("an update whose nginx site fails `nginx -t` (matrix:testOnly.failNginxTest) fails with nginx's message naming the line; the previous site keeps serving every 100 ms probe; the stack's settings apply again", async (t) => {
    const site = nginxSitePath(s);
    const before = fs.readFileSync(site, "utf8");
    const badLine = renderNginxSite({ ...s, testOnly: { failNginxTest: true } }).split("\n").indexOf("    kit_test_only_unknown_directive on;") + 1;
    assert.ok(badLine > 0);
    const prober = startProber({ ...ctx.nginx, path: "/_matrix/client/versions", bodyIncludes: '"versions"' });
    let message = "";
    await prober.watch(() => assert.rejects(ctx.updateWith({ "matrix:testOnly": { failNginxTest: true } }), (e: Error) => ((message = e.message), true)));
    const probes = await prober.stop();
    t.diagnostic(`${probes.total} probes, ${probes.duringWork} during the ${probes.workMs} ms failed update, longest gap ${probes.longestGapMs} ms`);

    assert.match(message, new RegExp(`nginx rejected the new site ${site.replace(/\./g, "\\.")}; the previous configuration keeps running:`));
    assert.ok(message.includes(`unknown directive "kit_test_only_unknown_directive" in ${site}:${badLine}`), message);
    assert.equal(fs.readFileSync(site, "utf8"), before, "the previous site file is back");
    assert.equal(spawnSync("nginx", ["-t"]).status, 0, "the host's nginx passes -t");
    // Every 100 ms through the whole update: no stretch of it went unwatched (400 ms leaves room for a loaded machine).
    assert.ok(probes.duringWork >= 3 && probes.longestGapMs <= 400, `${probes.duringWork} probes during the ${probes.workMs} ms update, longest gap ${probes.longestGapMs} ms`);
    assert.deepEqual(probes.failures, [], `${probes.total} probes`);

    await ctx.updateWith({});
    assert.equal(fs.readFileSync(site, "utf8"), before, "the stack's own site");
    const nginxSays = message.split("\n").find((l) => l.includes("kit_test_only_unknown_directive"))!;
    ctx.summary.push(
      `failed nginx reload: the update stopped with "${nginxSays.replace(/^.*\[emerg\] \S+ /, "")}"; ${probes.total} probes every 100 ms (${probes.duringWork} during the update), none failed; the update took ${probes.workMs} ms`,
    );
  });
}
