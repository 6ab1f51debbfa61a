/**
 * The end of the e2e deployment, registered last inside the e2e suite's describe: a second apply
 * of the same stack changes nothing, a refresh from the state file alone finds nothing changed,
 * a destroy that cannot reach the VPS removes nothing, and the destroy itself (what goes, what
 * stays, PostgreSQL clean on the kept volume, nginx still serving the VPS's other site). Refresh
 * and destroy start from the state file, as the real engine does: neither runs the program.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { test } from "node:test";
import { upkeepCronPath, upkeepLogPath } from "../../infra/render/upkeep";
import type { Settings } from "../../infra/settings";
import { diff, type Applied } from "../harness/apply";
import { request } from "../harness/http";
import { destroyFromState, refreshFromState } from "../harness/lifecycle";
import type { ProgramRun } from "../harness/program";
import { docker, poll } from "../harness/wait";

export interface TeardownContext {
  s: Settings;
  stack: string;
  e2eDir: string;
  /** The state the last apply left, as the engine keeps it. */
  stateFile: string;
  /** The kit's nginx site on the VPS. */
  kitSite: string;
  /** Where the kit once wrote the docker provider's known_hosts: no step may need or write it. */
  oldKnownHostsDir: string;
  summary: string[];
  /** The run's wall times (ms), printed at the top of the summary once the destroy is done. */
  times: Record<string, number>;
  log: (line: string) => void;
  /** The program as the last apply ran it, and a fresh run of it with the stack's settings. */
  program: () => ProgramRun;
  runE2e: () => Promise<ProgramRun>;
  applied: () => Applied;
}

export function teardownTests(ctx: TeardownContext): void {
  const { s, stack, summary, times, log, stateFile, kitSite, oldKnownHostsDir, e2eDir } = ctx;
  test("a second apply of the same stack changes nothing (compared with the provider's normalised state)", async () => {
    const again = await ctx.runE2e();
    assert.equal(JSON.stringify(again.resources), JSON.stringify(ctx.program().resources), "the program is deterministic");
    assert.deepEqual(diff(ctx.applied(), again), []);
    // The comparison can fail: a non-canonical duration (Synapse's start period of 120 s, which the state holds as "2m0s") is a diff against the state.
    const synapse = again.resources.find((r) => r.name === `${s.namePrefix}-synapse-container`)!;
    const spelled = { ...again, resources: again.resources.map((r) => (r === synapse ? { ...r, inputs: { ...r.inputs, healthcheck: { ...r.inputs.healthcheck, startPeriod: "120s" } } } : r)) };
    assert.deepEqual(diff(ctx.applied(), spelled), [`~ ${synapse.name} healthcheck.startPeriod: "2m0s" => "120s"`]);
  });

  test("refresh from the state alone (no program run, no known_hosts file of the kit's on this machine): the docker provider connects and finds nothing changed", async () => {
    assert.equal(fs.existsSync(oldKnownHostsDir), false, "neither the program nor its checks wrote a known_hosts file");
    const changes = await refreshFromState(stateFile);
    assert.deepEqual(changes, []);
    summary.push(`refresh from the state file, no known_hosts file: ${changes.length} changes`);
  });

  test("destroy when the VPS cannot be reached: it stops at the first step with the kit's message, and nothing is removed", async () => {
    const sshdPid = fs.readFileSync(`${e2eDir}/sshd.pid`, "utf8").trim();
    const copy = `${e2eDir}/state-unreachable.json`;
    fs.copyFileSync(stateFile, copy);
    const before = docker("ps", "-q", "--filter", `label=kit.matrix/stack=${stack}`).trim().split("\n").sort();
    process.kill(Number(sshdPid));
    try {
      await poll("sshd to stop listening", 30_000, async () => (spawnSync("ssh-keyscan", ["-T", "2", "-p", "2222", "127.0.0.1"]).stdout.length === 0 ? true : undefined));
      const { errors, deleted } = await destroyFromState(copy, { log });
      assert.deepEqual(deleted, [], "nothing was deleted");
      assert.equal(errors.length, 1, errors.join("\n"));
      // The provider's one line (its short command, not the script), then the kit's lines.
      assert.match(errors[0], new RegExp(`^${s.namePrefix}-host-destroy-guard: exit status 1: running "eval \\\\"\\$MATRIX_KIT_DESTROY_GUARD\\\\"":\\nmatrix-kit: cannot reach the Docker engine on root@127\\.0\\.0\\.1 port 2222: ssh: connect to host 127\\.0\\.0\\.1 port 2222: Connection refused\\n  Nothing was removed`));
      assert.ok(errors[0].length < 600, `what the owner reads is ${errors[0].length} characters`);
      summary.push("destroy with the VPS unreachable, what the user reads:", ...errors[0].split("\n").slice(1).filter(Boolean).map((l) => `  ${l}`));
    } finally {
      execFileSync("/usr/sbin/sshd", ["-f", `${e2eDir}/sshd_config`]);
      fs.rmSync(copy, { force: true });
    }
    assert.deepEqual(docker("ps", "-q", "--filter", `label=kit.matrix/stack=${stack}`).trim().split("\n").sort(), before, "every container still runs");
    assert.ok(fs.existsSync(kitSite), "the nginx site is still there");
    assert.ok(fs.existsSync(upkeepCronPath(s)), "the upkeep job's cron entry is still there");
    await poll("sshd to answer again", 30_000, async () => (spawnSync("ssh-keyscan", ["-T", "2", "-p", "2222", "127.0.0.1"]).stdout.length > 0 ? true : undefined));
  });

  test("destroy removes the kit's containers, network and nginx block; nginx still passes -t and serves other sites; volumes stay (from the state alone, no known_hosts file)", async () => {
    summary.push("container memory after the checks:");
    for (const line of docker("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}").trim().split("\n")) {
      if (line.startsWith(s.namePrefix)) summary.push(`  ${line}`);
    }
    const t = Date.now();
    const { errors, deleted } = await destroyFromState(stateFile, { log });
    times.destroy = Date.now() - t;
    assert.deepEqual(errors, []);
    assert.equal(deleted[0], `${s.namePrefix}-host-destroy-guard`, "the guard goes first: nothing is removed before the VPS answered");
    assert.equal(fs.existsSync(oldKnownHostsDir), false, "no known_hosts file was needed or written");
    assert.equal(docker("ps", "-aq", "--filter", `label=kit.matrix/stack=${stack}`).trim(), "");
    assert.equal(docker("network", "ls", "-q", "--filter", `name=${s.namePrefix}-net`).trim(), "");
    assert.equal(fs.existsSync(`${s.nginx.siteDir}/${s.nginx.fileName}`), false);
    // The kit's files and the directories it made are gone; the sticker packs stay, like the media they point at.
    const left = fs.existsSync(s.hostDir) ? execFileSync("find", [s.hostDir], { encoding: "utf8" }).trim().split("\n") : [];
    const packs = `${s.hostDir}/stickers/packs`;
    assert.deepEqual(left.filter((f) => f !== s.hostDir && f !== `${s.hostDir}/stickers` && !f.startsWith(packs)), [], "only the sticker packs are left");
    for (const f of ["index.html", "widget.js", "widget.css"]) assert.equal(fs.existsSync(`${s.hostDir}/stickers/${f}`), false, `the widget's ${f} is gone`);
    assert.equal(fs.existsSync(upkeepCronPath(s)), false, "the upkeep job's cron entry is gone");
    assert.equal(fs.existsSync(`${s.hostDir}/upkeep`), false, "the upkeep job's files and cache are gone");
    assert.ok(fs.existsSync(upkeepLogPath(s)), "the upkeep log stays in /var/log");
    const stickerPack = JSON.parse(fs.readFileSync(`${packs}/e2e-pack.json`, "utf8")) as { stickers: { url: string }[] };
    const mountpoint = docker("volume", "inspect", "-f", "{{.Mountpoint}}", `${s.namePrefix}-synapse-data`).trim();
    for (const st of stickerPack.stickers) {
      const id = st.url.split("/").pop()!;
      // Synapse's local layout: local_content/<2>/<2>/<rest>.
      assert.ok(fs.existsSync(`${mountpoint}/media_store/local_content/${id.slice(0, 2)}/${id.slice(2, 4)}/${id.slice(4)}`), `sticker ${id} is still in the kept volume`);
    }
    summary.push(`destroy: cron entry, upkeep files and the widget's files removed; ${stickerPack.stickers.length} stickers still in the kept volume, packs kept in ${packs}`);
    execFileSync("nginx", ["-t"], { stdio: "pipe" });
    const other = await request({ host: "other.localhost", port: Number(process.env.E2E_OTHER_PORT ?? 8481), path: "/" });
    assert.equal(other.body.toString().trim(), "other site");
    const kept = docker("volume", "ls", "-q", "--filter", `name=${s.namePrefix}-`).trim().split("\n").sort();
    assert.deepEqual(kept, [`${s.namePrefix}-postgres-data`, `${s.namePrefix}-synapse-data`]);
    // PostgreSQL was stopped, not killed: its next start on the kept volume needs no crash recovery.
    const check = `${s.namePrefix}-postgres-restart-check`;
    docker("run", "-d", "--name", check, "-v", `${s.namePrefix}-postgres-data:/var/lib/postgresql/data`, s.postgres.image, "postgres");
    try {
      const logs = await poll("PostgreSQL to start on the kept volume", 60_000, async () => {
        const l = execFileSync("docker", ["logs", check], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
        const all = l + execFileSync("sh", ["-c", `docker logs ${check} 2>&1 >/dev/null`], { encoding: "utf8" });
        return /ready to accept connections/.test(all) ? all : undefined;
      });
      const shutdown = logs.split("\n").find((l) => /database system was (shut down|interrupted)/.test(l)) ?? "";
      summary.push(`PostgreSQL on the kept volume after destroy: ${shutdown.replace(/^.*LOG:\s*/, "")}`);
      assert.match(shutdown, /database system was shut down at/, logs);
      assert.doesNotMatch(logs, /automatic recovery in progress|was interrupted/, "no crash recovery");
    } finally {
      docker("rm", "-f", check);
    }
    // Retained as documented; this test run removes them itself so the next run starts clean.
    for (const v of kept) docker("volume", "rm", v);
    fs.rmSync(s.hostDir, { recursive: true, force: true });
    summary.unshift(
      "wall times:",
      ...Object.entries(times).filter(([k]) => k !== "checksStart").map(([k, v]) => `  ${k}: ${(v / 1000).toFixed(1)} s`),
    );
  });
}
