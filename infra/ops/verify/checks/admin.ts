/** The admin API must not answer from outside. */
import { request, type Outcome } from "../client";
import type { CheckResult } from "../report";
import type { VerifyTarget } from "../target";
import { type CheckContext, pass, fail, snippet, networkFix } from "./common";

export function judgeAdminHidden(t: VerifyTarget, a: Outcome, url: string): CheckResult {
  const id = "admin.hidden";
  const name = "admin API not public";
  if (!a.ok) return fail(id, name, a.message, networkFix(a, url, "nginx (or Cloudflare in front of it)"));
  if (a.status === 200) {
    return fail(
      id,
      name,
      `HTTP 200 ${snippet(a.body, 60)}: /_synapse/admin answers the internet`,
      `don't proxy /_synapse/admin on ${t.matrixHost}: limit the nginx location to ^(/_matrix|/_synapse/client) as the kit does, and use the admin API from the host (127.0.0.1)`,
    );
  }
  return pass(id, name, `HTTP ${a.status}`);
}

export async function checkAdminHidden(ctx: CheckContext): Promise<CheckResult> {
  const url = `${ctx.target.matrixOrigin}/_synapse/admin/v1/server_version`;
  return judgeAdminHidden(ctx.target, await request({ url }, ctx.client), url);
}
