/** What the bridges' queue's render tests share: the stack's settings, a GET, a stand-in Synapse that counts. */
import assert from "node:assert/strict";
import * as http from "node:http";
import { validate } from "../../infra/config";
import type { BridgeQueueSettings, Settings } from "../../infra/settings";

/** The queue as it was before it learnt to look: inFlight holds whatever the CPU and the owner do (no admission.lua). */
export const ALWAYS_HELD = { cpuBusyThreshold: null, ownerActiveSeconds: null } as const;

export function settings(values: Record<string, unknown> = {}): Settings {
  const v = validate("e2e", {
    values: { "matrix:domain": "e2e.localhost", "matrix:target": { kind: "local" }, "matrix:secretSeed": { secure: "x" }, ...values },
    secretKeys: new Set(["matrix:secretSeed"]),
  });
  assert.ok(v.ok, v.ok ? "" : v.errors.join("\n"));
  return v.settings;
}

export function enabled(s: Settings): Extract<BridgeQueueSettings, { enabled: true }> {
  assert.ok(s.bridgeQueue.enabled);
  return s.bridgeQueue;
}

/** One GET on a connection of its own (agent: false), or on `agent`'s kept-alive ones. */
export function get(port: number, agent?: http.Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path: "/_matrix/client/versions", agent: agent ?? false }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      })
      .on("error", reject);
  });
}

/** A stand-in Synapse that holds each request `holdMs` and counts how many it holds at once. */
export async function standInSynapse(holdMs: number) {
  const counts = { inside: 0, most: 0 };
  const server = http.createServer((_req, res) => {
    counts.inside++;
    counts.most = Math.max(counts.most, counts.inside);
    setTimeout(() => {
      counts.inside--;
      res.writeHead(200, { "Content-Type": "application/json" }).end("{}");
    }, holdMs);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, counts, port: (server.address() as { port: number }).port };
}
