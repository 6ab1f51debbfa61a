/** The WeChat agent's WebSocket at /_wechat: upgraded with the listen secret, refused without it. */
import { upgrade } from "../client";
import type { CheckResult } from "../report";
import type { VerifyTarget } from "../target";
import { type CheckContext, pass, fail, skip, snippet, networkFix, WECHAT_SECRET_HINT } from "./common";

export async function checkWechat(ctx: CheckContext): Promise<CheckResult[]> {
  const t = ctx.target;
  const okName = "wechat WebSocket";
  const badName = "wechat wrong secret";
  if (!ctx.wechatSecret) {
    if (t.wechat === "disabled") {
      return [skip("wechat.upgrade", okName, `skipped: the WeChat bridge is disabled in ${t.source}`), skip("wechat.wrong-secret", badName, "skipped: the WeChat bridge is disabled")];
    }
    return [skip("wechat.upgrade", okName, `skipped: ${WECHAT_SECRET_HINT}`), skip("wechat.wrong-secret", badName, `skipped: ${WECHAT_SECRET_HINT}`)];
  }
  const url = `${t.matrixOrigin}/_wechat`;
  // A wrong secret that cannot be the right one, and never shows the right one.
  const wrong = `wrong-${Date.now().toString(36)}`;
  const [good, bad] = await Promise.all([
    upgrade(url, { Authorization: `Basic ${ctx.wechatSecret}` }, ctx.client),
    upgrade(url, { Authorization: `Basic ${wrong}` }, ctx.client),
  ]);
  return [judgeWechatUpgrade(t, good, url), judgeWechatWrongSecret(bad, url)];
}

type Upgrade = Awaited<ReturnType<typeof upgrade>>;

export function judgeWechatUpgrade(t: VerifyTarget, u: Upgrade, url: string): CheckResult {
  const id = "wechat.upgrade";
  const name = "wechat WebSocket";
  const wss = url.replace(/^http/, "ws");
  if (!u.ok) return fail(id, name, u.message, networkFix(u, url, "nginx (or Cloudflare in front of it)"));
  if (u.status === 101) return pass(id, name, `${wss}: HTTP 101 Switching Protocols`);
  const seen = `${wss}: HTTP ${u.status}${u.body ? ` ${snippet(u.body, 60)}` : ""}, expected 101`;
  if (u.status === 401 || u.status === 403) {
    return fail(id, name, seen, "the listener refused the secret: use the raw value of `pulumi stack output --show-secrets wechatListenSecret` (not base64) with --wechat-secret and in the agent");
  }
  if (u.status === 404) return fail(id, name, seen, `/_wechat is not proxied on ${t.matrixHost}: set matrix:wechat.enabled true and \`pulumi up\``);
  if (u.status === 502 || u.status === 504) {
    return fail(id, name, seen, "nginx cannot reach the bridge's agent listener on 127.0.0.1:<matrix:wechat.hostPort>: check the wechat container (`docker logs <prefix>-wechat`)");
  }
  return fail(id, name, seen, "the upgrade did not reach the listener: the /_wechat location needs `proxy_http_version 1.1` and the Upgrade/Connection headers (the kit's nginx site has them)");
}

export function judgeWechatWrongSecret(u: Upgrade, url: string): CheckResult {
  const id = "wechat.wrong-secret";
  const name = "wechat wrong secret";
  if (!u.ok) return fail(id, name, u.message, networkFix(u, url, "nginx (or Cloudflare in front of it)"));
  if (u.status === 401 || u.status === 403) return pass(id, name, `HTTP ${u.status}: refused`);
  if (u.status === 101) {
    return fail(id, name, "HTTP 101: a wrong secret was accepted", "anyone can drive your WeChat: the bridge's listen_secret must be set (the kit renders it from matrix:secretSeed) and the listener must check it");
  }
  return fail(id, name, `HTTP ${u.status}, expected 401 or 403`, "see the wechat WebSocket check: the request did not reach the listener");
}

// ---------------------------------------------------------------- admin API
