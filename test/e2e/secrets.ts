/**
 * Secrets on the e2e's VPS (this machine): no secret's value in what `docker inspect`
 * shows of any kit container (environment, command, entrypoint, labels), in the VPS's process
 * list, in the environment of any process of a kit container (/proc/<pid>/environ), in the containers' and the kit's logs, or in the run's own output, and every file the kit places that holds a secret is its service's user's alone (0600 or
 * 0640). Point 2 there: the QQ bridge's role is refused on Synapse's and the WeChat bridge's
 * databases, while the bridges run (their bots answer) on their own roles.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { test } from "node:test";
import { renderFiles } from "../../infra/render/all";
import { backupLogPath } from "../../infra/render/backup";
import { upkeepLogPath } from "../../infra/render/upkeep";
import { secretValues } from "../../infra/secrets";
import { enabledBridges, type Settings } from "../../infra/settings";
import { docker } from "../harness/wait";
import type { KitContext } from "./kit-context";

/** Every process of a running container, by its pid on this machine (the VPS), as the engine lists them (cgroup v1 or v2). */
function containerPids(name: string): number[] {
  return docker("top", name, "-eo", "pid").trim().split("\n").slice(1).map((l) => Number(l.trim())).filter((n) => n > 0);
}

/** The user each service's files belong to: the one its container runs as. */
function serviceUids(s: Settings): Record<string, number> {
  const uids: Record<string, number> = { postgres: s.postgres.uid, synapse: s.synapse.uid, watchdog: 0, admin: 0, upkeep: 0, backup: 0 };
  for (const b of enabledBridges(s)) uids[b.kind] = b.uid;
  return uids;
}

export function secretsTests(ctx: KitContext & { stackSecrets: string[]; runOutput: () => string }): void {
  const { s } = ctx;
  const values = () => [...secretValues(ctx.secrets()), ...ctx.stackSecrets.flatMap((v) => v.split("\n").filter((l) => l.length >= 16 && !l.startsWith("-----")))];
  const leaks = (text: string) => values().filter((v) => text.includes(v)).length;

  test("no secret in docker inspect of any kit container (Env, Cmd, Entrypoint, Labels) nor in the VPS's process list", () => {
    const names = docker("ps", "-a", "--filter", `name=^${s.namePrefix}-`, "--format", "{{.Names}}").split("\n").filter(Boolean);
    assert.ok(names.includes(`${s.namePrefix}-postgres`) && names.includes(`${s.namePrefix}-synapse`), names.join(" "));
    for (const name of names) {
      const shown = docker("inspect", "-f", "{{json .Config.Env}} {{json .Config.Cmd}} {{json .Config.Entrypoint}} {{json .Config.Labels}} {{json .Path}} {{json .Args}}", name);
      assert.equal(leaks(shown), 0, `${name} shows a secret`);
    }
    const ps = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" });
    assert.equal(leaks(ps), 0, "a process's command line holds a secret");
    // Every process of every kit container: its environment as the kernel keeps it (PostgreSQL's
    // entrypoint exports the superuser's password it read from a file; the kit's postgres drops it).
    let environs = 0;
    for (const name of names.filter((n) => docker("inspect", "-f", "{{.State.Running}}", n).trim() === "true")) {
      const pids = containerPids(name);
      assert.ok(pids.length > 0, `${name}: its processes are found`);
      for (const pid of pids) {
        let env = "";
        try {
          env = fs.readFileSync(`/proc/${pid}/environ`, "utf8");
        } catch {
          continue; // gone since the list was read
        }
        environs++;
        assert.equal(leaks(env), 0, `${name}: process ${pid} (${fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim()}) holds a secret in its environment`);
      }
    }
    ctx.summary.push(`secrets: none in docker inspect of ${names.length} containers, in ${ps.split("\n").length} processes' command lines, nor in the environment of the containers' ${environs} processes`);
  });

  test("no secret in the logs: every kit container's docker logs, the upkeep and backup logs on the VPS, the run's own output and each command's output", () => {
    const names = docker("ps", "-a", "--filter", `name=^${s.namePrefix}-`, "--format", "{{.Names}}").split("\n").filter(Boolean);
    for (const name of names) {
      const out = execFileSync("docker", ["logs", name], { encoding: "utf8", maxBuffer: 256 * 1024 * 1024, stdio: ["ignore", "pipe", "pipe"] });
      assert.equal(leaks(out), 0, `docker logs ${name} shows a secret`);
    }
    for (const file of [upkeepLogPath(s), backupLogPath(s)].filter((f) => fs.existsSync(f))) {
      assert.equal(leaks(fs.readFileSync(file, "utf8")), 0, `${file} shows a secret`);
    }
    const own = ctx.runOutput();
    assert.ok(own.length > 1000, "the run's output is there to scan");
    assert.equal(leaks(own), 0, "the run's output or a command's output shows a secret");
    ctx.summary.push(`secrets: none in the docker logs of ${names.length} containers, the VPS's kit logs, ${own.length} characters of the run's and the commands' output`);
  });

  test("every secret-bearing file on the VPS is its service's user's alone (0600 or 0640)", () => {
    const uids = serviceUids(s);
    const files = renderFiles(s, ctx.secrets()).filter((f) => f.path.startsWith(`${s.hostDir}/`) && leaks(f.content) > 0);
    assert.ok(files.length >= 10, files.map((f) => f.path).join(" "));
    for (const f of files) {
      const service = f.path.slice(s.hostDir.length + 1).split("/")[0];
      const st = fs.statSync(f.path);
      assert.ok([0o600, 0o640].includes(st.mode & 0o777), `${f.path}: mode ${(st.mode & 0o777).toString(8)}`);
      assert.equal(st.uid, uids[service], `${f.path}: owner ${st.uid}, not ${service}'s`);
    }
    ctx.summary.push(`secrets: ${files.length} secret-bearing files, each 0600/0640 and its service's user's`);
  });

  test("PostgreSQL: the QQ bridge's role is refused on Synapse's and WeChat's databases; the bridges run on their own roles, none a superuser", async () => {
    const pg = `${s.namePrefix}-postgres`;
    for (const db of [s.postgres.synapseDatabase, s.wechat!.database]) {
      // Over TCP with the role's password, given on stdin (a command line would show it).
      const r = execFileSync("docker", ["exec", "-i", pg, "sh", "-c", `read -r PGPASSWORD; export PGPASSWORD; psql -h 127.0.0.1 -U ${s.qq!.databaseRole} -d ${db} -c 'SELECT 1' 2>&1 || true`], {
        input: `${ctx.secrets().databasePasswords.qq}\n`,
        encoding: "utf8",
      });
      assert.match(r, /permission denied for database/, db);
    }
    for (const b of enabledBridges(s)) assert.equal(await ctx.botAnswers(b.kind), true, `the ${b.kind} bridge answers`);
    const who = docker("exec", pg, "psql", "-U", s.postgres.superuser, "-d", "postgres", "-Atc", "SELECT DISTINCT usename || ' ' || rolsuper FROM pg_stat_activity JOIN pg_roles ON rolname = usename WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()").split("\n");
    const services = [s.postgres.synapseRole, s.postgres.upkeepRole, ...enabledBridges(s).map((b) => b.databaseRole)];
    assert.ok(who.includes(`${s.postgres.synapseRole} false`), who.join(", "));
    for (const row of who) assert.ok(services.map((r) => `${r} false`).includes(row), `connected: ${row}`);
    ctx.summary.push(`postgres: QQ's role refused on 2 databases; connected: ${who.join(", ")}`);
  });
}
