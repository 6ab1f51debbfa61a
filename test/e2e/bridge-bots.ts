/**
 * The bridges' bots on the e2e deployment (STAND-INS, test/e2e/bridge-standin), registered inside
 * the e2e suite's describe: each bot answers the owner in their management room, the kit's
 * double-puppet app service acts as the owner (and as no one else), and the WeChat agent's
 * WebSocket upgrades through nginx with the listen secret only.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { deriveSecrets } from "../../infra/secrets";
import type { Settings } from "../../infra/settings";
import { json, upgrade } from "../harness/http";
import { docker, poll } from "../harness/wait";
import type { ownerAndBots } from "./bots";
import type { MatrixCall } from "./client";

export interface BridgeBotsContext {
  s: Settings;
  nginx: { host: string; port: number };
  summary: string[];
  matrix: MatrixCall;
  token: () => string;
  ownerSays: ReturnType<typeof ownerAndBots>["ownerSays"];
  botNotices: ReturnType<typeof ownerAndBots>["botNotices"];
  /** The run's matrix:secretSeed: the double-puppet token derives from it. */
  secretSeed: string;
  /** The WeChat listen secret, as the program rendered it into the bridge's config. */
  listenSecret: () => string;
}

export function bridgeBotTests(ctx: BridgeBotsContext): void {
  const { s, matrix, ownerSays, botNotices, summary } = ctx;
  for (const kind of ["qq", "wechat"] as const) {
    test(`the ${kind} bridge bot exists and answers help in a direct message (stand-in bridge)`, async () => {
      const bot = `@${kind}bot:${s.domain}`;
      const profile = await poll(`${bot}'s profile`, 60_000, async () => {
        const p = await matrix("GET", `/_matrix/client/v3/profile/${encodeURIComponent(bot)}`, ctx.token());
        return p.status === 200 ? json(p) : undefined;
      });
      assert.ok(profile.displayname, "the bot registered and set its display name");
      // The owner's first direct chat with the bot: their management room, where bare commands work.
      const sent = await ownerSays(kind, "help");
      const help = `This is your management room: prefixing commands with \`!${kind}\` is not required.`;
      const notices = await botNotices(kind, sent, 60, (b) => b.some((x) => x.startsWith(help)));
      assert.ok(notices.some((x) => x.startsWith(help)), `the management room's help (the real bot's first line): ${JSON.stringify(notices)}`);
    });
  }

  test("double puppeting: Synapse accepts the kit's app service acting as the owner, and the QQ bridge confirms it with the owner's ping-matrix", async () => {
    const sec = deriveSecrets(ctx.secretSeed);
    const owner = `@${s.admin}:${s.domain}`;
    const who = await matrix("GET", `/_matrix/client/v3/account/whoami?user_id=${encodeURIComponent(owner)}`, sec.doublePuppet.asToken);
    assert.equal(who.status, 200, who.body.toString());
    assert.equal(json(who).user_id, owner);
    // Another user is outside its namespace: refused.
    const other = await matrix("GET", `/_matrix/client/v3/account/whoami?user_id=${encodeURIComponent(`@kit-watchdog:${s.domain}`)}`, sec.doublePuppet.asToken);
    assert.equal(other.status, 403, other.body.toString());
    const sent = await ownerSays("qq", "ping-matrix");
    const confirmed = `Confirmed valid access token for ${owner} (appservice double puppeting)`;
    const notices = await botNotices("qq", sent, 30, (b) => b.includes(confirmed));
    assert.ok(notices.includes(confirmed), JSON.stringify(notices));
    summary.push(`double puppeting: QQ bot, asked ping-matrix by the owner: ${confirmed}`);
  });

  test("/_wechat upgrades to a WebSocket through nginx with the listen secret; a wrong secret is refused", async () => {
    const secret = ctx.listenSecret();
    const ok = await upgrade({ ...ctx.nginx, path: "/_wechat/", authorization: `Basic ${secret}` });
    assert.equal(ok.status, 101);
    const wrong = await upgrade({ ...ctx.nginx, path: "/_wechat/", authorization: "Basic not-the-secret" });
    assert.equal(wrong.status, 403);
    assert.match(wrong.body, /M_UNKNOWN_TOKEN/);
    const logs = docker("logs", `${s.namePrefix}-wechat`);
    assert.match(logs, /Agent connected from /);
  });
}
