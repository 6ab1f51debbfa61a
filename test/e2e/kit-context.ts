/**
 * What the e2e checks of stickers and upkeep (test/e2e/stickers.ts, test/e2e/upkeep.ts) share: their
 * context from the e2e suite, and calls to Synapse through nginx or, for the admin API, on its
 * loopback port.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseDocument } from "yaml";
import { stackFilePath } from "../../infra/config/load";
import type { Pack } from "../../infra/ops/stickers/packs";
import type { Secrets } from "../../infra/secrets";
import { hostPath, type Settings } from "../../infra/settings";
import { request, type Answer } from "../harness/http";

export interface KitContext {
  s: Settings;
  nginx: { host: string; port: number };
  e2eDir: string;
  /** The run's host key, for a stack file as the owner keeps it. */
  hostKey: string;
  secrets: () => Secrets;
  /** The owner's access token (an admin: registered with -a). */
  token: () => string;
  summary: string[];
  /** The owner pings a bridge's bot in their direct chat (made on first use): true when it answers. */
  botAnswers: (kind: "qq" | "wechat") => Promise<true | undefined>;
}

/**
 * A new folder holding the stack file as the owner keeps it: the repository's, with this run's host
 * key, and `values` (full keys, whole objects) set as a step of the run set them for its update.
 */
export function ownerStackDir(ctx: { e2eDir: string; hostKey: string }, stack: string, label: string, values: Record<string, unknown> = {}): string {
  const dir = fs.mkdtempSync(`${ctx.e2eDir}/${label}-stack-`);
  const doc = parseDocument(fs.readFileSync(stackFilePath(stack), "utf8").replace(/hostKey: .*/, `hostKey: ${ctx.hostKey}`));
  for (const [k, v] of Object.entries(values)) doc.setIn(["config", k], v);
  fs.writeFileSync(path.join(dir, `Pulumi.${stack}.yaml`), doc.toString());
  return dir;
}

/** An operator command (infra/cli/<command>.ts, what `npm run <command>` runs) against that folder's stack. */
export function operatorCommand(command: "status" | "backup" | "restore" | "stickers" | "verify", stack: string, stackDir: string, args: string[], timeoutMs: number) {
  return spawnSync("node", ["--import", "tsx", `infra/cli/${command}.ts`, "--stack", stack, "--stack-dir", stackDir, ...args], { encoding: "utf8", timeout: timeoutMs });
}

export const FIXTURES = "test/fixtures/stickers/e2e-pack";
export const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

/** Synapse through nginx (as a client) or on its loopback port (the admin API), and the packs on the host. */
export function kitHelpers(ctx: KitContext) {
  const { s } = ctx;
  const owner = `@${s.admin}:${s.domain}`;
  const packsDir = hostPath(s, "stickers", "packs");
  /** Synapse's own port on the host's loopback: the admin API is not proxied. */
  const synapse = { host: "127.0.0.1", port: s.synapse.hostPort };
  const call = (where: { host: string; port: number }, method: string, path: string, token?: string, body?: unknown, raw?: { bytes: Buffer; type: string }): Promise<Answer> => {
    const payload = raw?.bytes ?? (body === undefined ? undefined : Buffer.from(JSON.stringify(body)));
    return request({
      ...where,
      method,
      path,
      headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(payload ? { "Content-Type": raw?.type ?? "application/json" } : {}) },
      body: payload,
      timeoutMs: 60_000,
    });
  };
  const download = (mxc: string) => call(ctx.nginx, "GET", `/_matrix/client/v1/media/download/${mxc.slice("mxc://".length)}`, ctx.token());
  const readPack = (id: string) => JSON.parse(fs.readFileSync(`${packsDir}/${id}.json`, "utf8")) as Pack;
  return { owner, packsDir, synapse, call, download, readPack };
}
