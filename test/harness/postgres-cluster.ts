/**
 * A REAL PostgreSQL cluster of the test's own (Debian's postgresql-15 binaries, installed by
 * test/setup/validators.sh) under /tmp on a free loopback port, laid out as the official image's
 * entrypoint makes it: superuser POSTGRES_USER, the socket trusted, TCP by password. Nothing of the
 * system's PostgreSQL is touched.
 */
import assert from "node:assert/strict";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { freePort } from "./http";

export const PG_BIN = ["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin"].find((d) => fs.existsSync(`${d}/initdb`));
/** For `describe(..., { skip })` when the binaries are missing. */
export const PG_SKIP = PG_BIN ? false : "no PostgreSQL binaries (/usr/lib/postgresql/{15,16}/bin): run test/setup/validators.sh";
// initdb refuses root: as root the cluster runs as Debian's postgres user.
const AS = process.getuid?.() === 0 ? ["runuser", "-u", "postgres", "--"] : [];

export interface Cluster {
  dir: string;
  port: number;
  /** A command with the cluster's PGHOST and PGPORT (as postgres when we are root), its binaries first on PATH. */
  run: (cmd: string[], input?: string, env?: Record<string, string>) => SpawnSyncReturns<string>;
  /** The same, which must exit 0; its output trimmed. */
  ok: (cmd: string[], input?: string) => string;
  /** SQL as the superuser over the socket, as the kit's own commands do. */
  superSql: (db: string, sql: string) => string;
  stop: () => void;
}

export async function startCluster(superuser: string, password: string): Promise<Cluster> {
  assert.ok(PG_BIN, PG_SKIP || "");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kit-pg-"));
  const port = await freePort();
  const env = { ...process.env, PATH: `${PG_BIN}:${process.env.PATH}`, PGHOST: dir, PGPORT: String(port) };
  const run = (cmd: string[], input = "", extra: Record<string, string> = {}) =>
    spawnSync(AS[0] ?? cmd[0]!, [...AS.slice(1), ...(AS.length ? cmd : cmd.slice(1))], { input, encoding: "utf8", env: { ...env, ...extra } });
  const ok = (cmd: string[], input = "") => {
    const r = run(cmd, input);
    assert.equal(r.status, 0, `${cmd.join(" ")}: ${r.stderr}`);
    return r.stdout.trim();
  };
  if (AS.length) fs.chownSync(dir, Number(spawnSync("id", ["-u", "postgres"], { encoding: "utf8" }).stdout), 0);
  fs.writeFileSync(path.join(dir, "pw"), `${password}\n`, { mode: 0o644 });
  ok(["initdb", "-D", `${dir}/data`, "-U", superuser, `--pwfile=${dir}/pw`, "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C"]);
  ok(["pg_ctl", "-D", `${dir}/data`, "-l", `${dir}/log`, "-w", "-o", `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir}`, "start"]);
  return {
    dir,
    port,
    run,
    ok,
    superSql: (db, sql) => ok(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-qAt", "-U", superuser, "-d", db], sql),
    stop: () => {
      run(["pg_ctl", "-D", `${dir}/data`, "-m", "fast", "-w", "stop"]);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
