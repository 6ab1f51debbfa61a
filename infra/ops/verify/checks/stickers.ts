/** The sticker picker the kit hosts at /stickers/: served, the kit's page, and embeddable (Element shows it in an iframe). */
import { request, type Outcome } from "../client";
import type { CheckResult } from "../report";
import type { VerifyTarget } from "../target";
import { type CheckContext, pass, fail, skip, header, snippet, networkFix } from "./common";

const ID = "stickers.page";
const NAME = "sticker picker page";

export async function checkStickers(ctx: CheckContext): Promise<CheckResult> {
  const t = ctx.target;
  if (t.stickers === "disabled") return skip(ID, NAME, `skipped: matrix:stickers.enabled is false in ${t.source}`);
  if (t.stickers === "unknown") return skip(ID, NAME, "skipped: whether the kit hosts the picker is in the stack: pass --stack");
  const url = `${t.matrixOrigin}/stickers/`;
  return judgeStickerPage(t, await request({ url }, ctx.client), url);
}

export function judgeStickerPage(t: VerifyTarget, a: Outcome, url: string): CheckResult {
  if (!a.ok) return fail(ID, NAME, a.message, networkFix(a, url, "nginx (or Cloudflare in front of it)"));
  if (a.status !== 200) {
    return fail(ID, NAME, `${url}: HTTP ${a.status} ${snippet(a.body, 60)}`, `nginx on ${t.matrixHost} does not serve the kit's picker: \`pulumi up\` writes it and the /stickers/ location`);
  }
  if (!/widget\.js/.test(a.body)) return fail(ID, NAME, `${url}: HTTP 200 but not the kit's page: ${snippet(a.body, 60)}`, "something in front of nginx answers /stickers/ itself");
  // Element embeds the picker in an iframe: a frame ban (often a security header added at the
  // edge or in a shared nginx snippet) leaves the sticker button showing an empty box.
  const xfo = header(a, "x-frame-options");
  const csp = header(a, "content-security-policy");
  if (xfo || /frame-ancestors/i.test(csp ?? "")) {
    return fail(ID, NAME, `${xfo ? `X-Frame-Options: ${xfo}` : `Content-Security-Policy: ${csp}`}: clients cannot embed it`, "remove that header for /stickers/ (nginx's site or a Cloudflare rule): Element shows the picker in an iframe");
  }
  return pass(ID, NAME, `${url}: HTTP 200, the kit's page, embeddable`);
}
