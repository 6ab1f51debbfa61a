/**
 * `npm run status` over ssh on the e2e deployment, registered inside the e2e suite's describe:
 * the stack file as the owner keeps it, every container healthy under its budget's limit, then
 * a stopped bridge named with exit code 1.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { test } from "node:test";
import type { Settings } from "../../infra/settings";
import { docker, poll } from "../harness/wait";
import { operatorCommand, ownerStackDir } from "./kit-context";

export interface StatusContext {
  s: Settings;
  stack: string;
  e2eDir: string;
  /** The run's host key: the stack file gets it, as the owner's has theirs. */
  hostKey: string;
  summary: string[];
}

export function statusTest(ctx: StatusContext): void {
  const { s, stack } = ctx;
  test("npm run status over ssh: every container running and healthy, memory under its limit, disk figures; a stopped bridge exits 1 and is named", async () => {
    const dir = ownerStackDir(ctx, stack, "status");
    const status = (...extra: string[]) => operatorCommand("status", stack, dir, extra, 120_000);
    try {
      // Health checks run once a minute (render/healthcheck.ts), the first a minute after a start on
      // Docker 20.10 (no start_interval): a bridge the watchdog tests restarted may need two of them.
      const ok = await poll("status to report all healthy", 240_000, async () => {
        const r = status("--json");
        // "starting" exits 0 too (a warning): every container must have passed Docker's own check.
        return r.status === 0 && JSON.parse(r.stdout).containers.every((c: { health: string }) => c.health === "healthy") ? r : undefined;
      });
      const report = JSON.parse(ok.stdout);
      assert.deepEqual(report.containers.map((c: { name: string; state: string }) => `${c.name}:${c.state}`), ["postgres", "synapse", "bridge-queue", "qq", "wechat", "docker-filter", "watchdog"].map((x) => `${s.namePrefix}-${x}:running`));
      for (const c of report.containers) {
        assert.ok(c.memory.workingSetBytes > 0 && c.memory.workingSetBytes < c.memory.limitBytes, `${c.name}: ${JSON.stringify(c.memory)}`);
        assert.equal(c.memory.limitBytes, s.memoryBudget.rows.find((r) => `${s.namePrefix}-${r.service}` === c.name)!.limitBytes, "the limit is the budget's");
      }
      assert.ok(report.media.local >= 45 * 1024 * 1024, "the 45 MB upload is in the local media store");
      assert.deepEqual(report.databases.map((d: { name: string }) => d.name), ["postgres", "qqbridge", "synapse", "wechatbridge"]);
      const table = status();
      assert.equal(table.status, 0, table.stderr);
      // The watchdog synced WeChat's contacts once it was logged in (test/e2e/watchdog.ts).
      assert.match(table.stdout, new RegExp(`^profile sync of ${s.namePrefix}-wechat \\(contacts' names and avatars, groups\\): last \\S+: ok \\(Resynced contacts; Resynced groups\\)$`, "m"));
      ctx.summary.push("", `npm run status -- --stack ${stack}`, table.stdout.trimEnd());
      docker("stop", `${s.namePrefix}-qq`);
      const down = status();
      assert.equal(down.status, 1, down.stdout + down.stderr);
      assert.match(down.stdout, new RegExp(`PROBLEM: ${s.namePrefix}-qq is exited`));
    } finally {
      docker("start", `${s.namePrefix}-qq`);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}
