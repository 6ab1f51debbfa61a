/**
 * The upgrade scripts (render/upgrade.ts) as real shell against a MOCK docker CLI: a script on
 * PATH that answers `inspect -f` and `logs` from files, as the real CLI prints them, and `exec`
 * (the health check the wait runs itself) with the exit status a file gives, noting its arguments
 * (the e2e runs the same scripts against the real engine with a broken image). Differences: only
 * the formats these scripts pass are understood; no engine, so states change only when a test
 * says, or when an exec finds a next state (<container>.then) waiting.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { validate } from "../../infra/config";
import { renderAwaitHealthyScript, renderBeforeUpgradeScript } from "../../infra/render/upgrade";
import type { Settings } from "../../infra/settings";

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "kit-upgrade-"));
const BIN = `${TMP}/bin`;
const STATE = `${TMP}/docker`;
fs.mkdirSync(BIN);
fs.mkdirSync(STATE);
// <container>.image, <container>.state ("health status restarts"), <container>.logs; a missing file: no such container.
// exec: exits with <container>.check's number (no file: 126, as for a command the image lacks), appends
// its arguments to <container>.execs, then makes <container>.then the state when there is one.
fs.writeFileSync(
  `${BIN}/docker`,
  `#!/bin/sh
case "$1" in
  inspect)
    case "$3" in *Config.Image*) f=image ;; *) f=state ;; esac
    [ -f "${STATE}/$4.$f" ] || { echo "Error: No such object: $4" >&2; exit 1; }
    case "$3" in
      *RestartCount*|*Config.Image*) cat "${STATE}/$4.$f" ;;
      *State.Status*) cut -d" " -f1,2 "${STATE}/$4.$f" ;; # the health status and the state
      *) cut -d" " -f1 "${STATE}/$4.$f" ;; # the health status alone
    esac ;;
  logs) tail -n "$3" "${STATE}/$4.logs" ;; # logs --tail N name
  exec)
    c=$2; shift 2
    echo "$*" >>"${STATE}/$c.execs"
    [ ! -f "${STATE}/$c.then" ] || mv "${STATE}/$c.then" "${STATE}/$c.state"
    exit "$(cat "${STATE}/$c.check" 2>/dev/null || echo 126)" ;;
  *) echo "mock docker: unexpected $*" >&2; exit 3 ;;
esac
`,
  { mode: 0o755 },
);

function settings(values: Record<string, unknown> = {}): Settings {
  const v = validate("up", {
    values: { "matrix:domain": "up.example.com", "matrix:target": { kind: "local" }, "matrix:secretSeed": { secure: "x" }, "matrix:hostDir": `${TMP}/kit`, ...values },
    secretKeys: new Set(["matrix:secretSeed"]),
  });
  assert.ok(v.ok, v.ok ? "" : v.errors.join("\n"));
  return v.settings;
}

function run(script: string) {
  return spawnSync("/bin/sh", ["-c", script], { encoding: "utf8", env: { ...process.env, PATH: `${BIN}:${process.env.PATH}` } });
}

const container = (name: string, image: string, state: string, logs = "") => {
  fs.writeFileSync(`${STATE}/${name}.image`, `${image}\n`);
  fs.writeFileSync(`${STATE}/${name}.state`, `${state}\n`);
  fs.writeFileSync(`${STATE}/${name}.logs`, logs);
};

test("before an upgrade (MOCK docker CLI): nothing deployed or nothing changed notes nothing; a changed image notes the previous and the new one", () => {
  const s = settings({ "matrix:qq": { enabled: false }, "matrix:wechat": { enabled: false } });
  const record = `${TMP}/kit/upgrade/last`;
  let r = run(renderBeforeUpgradeScript(s));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "matrix-kit: no running container's image changes\n");
  assert.equal(fs.existsSync(record), false);
  container("mx-up-postgres", s.postgres.image, "healthy running 0");
  container("mx-up-synapse", "matrixdotorg/synapse:v1.150.0", "healthy running 0");
  r = run(renderBeforeUpgradeScript(s));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `matrix-kit: upgrading mx-up-synapse matrixdotorg/synapse:v1.150.0 ${s.synapse.image}\n`);
  assert.match(fs.readFileSync(record, "utf8"), new RegExp(`^at \\S+Z\nchange mx-up-synapse matrixdotorg/synapse:v1\\.150\\.0 ${s.synapse.image.replace(/\./g, "\\.")}\n$`));
});

test("the health wait (MOCK docker CLI): healthy passes; a restart loop stops the update with the last log lines and the one-line rollback from the note", () => {
  const s = settings({ "matrix:qq": { enabled: false }, "matrix:wechat": { enabled: false } });
  container("mx-up-synapse", s.synapse.image, "healthy running 0");
  let r = run(renderAwaitHealthyScript(s, "synapse"));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^matrix-kit: mx-up-synapse is healthy after \d+ s \(Docker's health check\)\n$/);

  const logs = Array.from({ length: 30 }, (_, i) => `line ${i + 1}\n`).join("") + "ImportError: no module named synapse\n";
  container("mx-up-synapse", s.synapse.image, "starting restarting 3", logs);
  fs.mkdirSync(`${TMP}/kit/upgrade`, { recursive: true });
  fs.writeFileSync(`${TMP}/kit/upgrade/last`, `at 2026-11-30T10:00:00Z\nchange mx-up-synapse matrixdotorg/synapse:v1.150.0 ${s.synapse.image}\nsnapshot 0864b769\n`);
  r = run(renderAwaitHealthyScript(s, "synapse"));
  assert.equal(r.status, 1);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines[0], `matrix-kit: mx-up-synapse (image ${s.synapse.image}) did not become healthy: it exited and was restarted 3 times. Its last log lines:`);
  assert.deepEqual(lines.slice(1, 21), [...Array.from({ length: 19 }, (_, i) => `  | line ${i + 12}`), "  | ImportError: no module named synapse"]);
  assert.equal(lines[21], "  Roll back: pulumi config set --stack up --path matrix:synapse.image matrixdotorg/synapse:v1.150.0 && npm run up -- up --yes");
  assert.equal(lines[22], `  If ${s.synapse.image} had already migrated the database, then also: npm run restore -- --stack up --snapshot 0864b769 --force`);
  assert.equal(lines.length, 23);

  // Not this update's image change (the note is older, about another image): no image rollback offered.
  container("mx-up-synapse", "kit/synapse:patched", "unhealthy running 0", "boom\n");
  r = run(renderAwaitHealthyScript(s, "synapse"));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /did not become healthy: its health check failed\. Its last log lines:\n {2}\| boom\n {2}Undo the stack's last change and run npm run up -- up again/);
  fs.rmSync(`${STATE}/mx-up-synapse.image`);
  fs.rmSync(`${STATE}/mx-up-synapse.state`);
  r = run(renderAwaitHealthyScript(s, "synapse"));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /did not become healthy: the container does not exist/);
});

test("before an upgrade with backups (MOCK docker CLI): while Synapse is not healthy (rolling back a failed upgrade) no backup is tried, and the last pre-upgrade snapshot is kept in the note", () => {
  const s = settings({ "matrix:qq": { enabled: false }, "matrix:wechat": { enabled: false }, "matrix:backup": { repository: "sftp:r@b:/x" } });
  const record = `${TMP}/kit/upgrade/last`;
  fs.mkdirSync(path.dirname(record), { recursive: true });
  fs.writeFileSync(record, `at 2026-11-30T10:00:00Z\nchange mx-up-synapse ${s.synapse.image} kit/synapse:broken\nsnapshot 0864b769\n`);
  container("mx-up-postgres", s.postgres.image, "healthy running 0");
  container("mx-up-synapse", "kit/synapse:broken", "starting restarting 4");
  const r = run(renderBeforeUpgradeScript(s));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `matrix-kit: mx-up-synapse or mx-up-postgres is not healthy: no backup before this change (the last one before an upgrade: 0864b769)\nmatrix-kit: upgrading mx-up-synapse kit/synapse:broken ${s.synapse.image}\n`);
  assert.match(fs.readFileSync(record, "utf8"), new RegExp(`\nchange mx-up-synapse kit/synapse:broken ${s.synapse.image.replace(/\./g, "\\.")}\nsnapshot 0864b769\n$`));
});

test("the health wait (MOCK docker CLI): while Docker still says starting (a minute before an old engine's first check), the container's own check run by the kit makes it healthy; a failing one does not, and unhealthy from Docker still fails", () => {
  const s = settings({ "matrix:qq": { enabled: false }, "matrix:wechat": { enabled: false } });
  const execs = `${STATE}/mx-up-postgres.execs`;
  fs.rmSync(execs, { force: true });
  container("mx-up-postgres", s.postgres.image, "starting running 0");
  fs.writeFileSync(`${STATE}/mx-up-postgres.check`, "0\n");
  let r = run(renderAwaitHealthyScript(s, "postgres"));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^matrix-kit: mx-up-postgres is healthy after \d+ s \(its health check, run by the kit\)\n$/);
  // The container's own command (postgresSpec's, the one Docker runs), not a copy of it.
  assert.equal(fs.readFileSync(execs, "utf8"), "pg_isready -q -U synapse -d postgres\n");

  // The check fails once, then Docker's own check says unhealthy: a failure as before, with the logs.
  fs.rmSync(execs);
  container("mx-up-postgres", s.postgres.image, "starting running 0", "FATAL: could not open file\n");
  fs.writeFileSync(`${STATE}/mx-up-postgres.check`, "2\n");
  fs.writeFileSync(`${STATE}/mx-up-postgres.then`, "unhealthy running 0\n");
  r = run(renderAwaitHealthyScript(s, "postgres"));
  assert.equal(r.status, 1);
  assert.equal(fs.readFileSync(execs, "utf8"), "pg_isready -q -U synapse -d postgres\n");
  assert.match(r.stderr, /^matrix-kit: mx-up-postgres \(image \S+\) did not become healthy: its health check failed\. Its last log lines:\n {2}\| FATAL: could not open file\n/);

  // Restarting (not running): no exec into it, and the restart counting fails it as before.
  fs.rmSync(execs);
  fs.writeFileSync(`${STATE}/mx-up-postgres.check`, "0\n");
  container("mx-up-postgres", s.postgres.image, "starting restarting 2");
  r = run(renderAwaitHealthyScript(s, "postgres"));
  assert.equal(r.status, 1);
  assert.equal(fs.existsSync(execs), false);
  assert.match(r.stderr, /did not become healthy: it exited and was restarted 2 times/);
});

test("before an upgrade with backups (MOCK docker CLI): Docker still says starting but both containers' own checks pass, so the backup is tried (and, with no backup script here, its failure stops the update)", () => {
  const s = settings({ "matrix:qq": { enabled: false }, "matrix:wechat": { enabled: false }, "matrix:backup": { repository: "sftp:r@b:/x" } });
  for (const c of ["mx-up-postgres", "mx-up-synapse"]) fs.rmSync(`${STATE}/${c}.execs`, { force: true });
  container("mx-up-postgres", s.postgres.image, "starting running 0");
  container("mx-up-synapse", "matrixdotorg/synapse:v1.150.0", "starting running 0");
  fs.writeFileSync(`${STATE}/mx-up-postgres.check`, "0\n");
  fs.writeFileSync(`${STATE}/mx-up-synapse.check`, "0\n");
  const r = run(renderBeforeUpgradeScript(s));
  assert.equal(r.status, 1, r.stdout);
  assert.match(r.stderr, /^matrix-kit: the backup before the image upgrade failed: no container was replaced\.$/m);
  assert.equal(fs.readFileSync(`${STATE}/mx-up-synapse.execs`, "utf8"), "curl -fSs http://localhost:8008/health\n");
  assert.equal(fs.readFileSync(`${STATE}/mx-up-postgres.execs`, "utf8"), "pg_isready -q -U synapse -d postgres\n");
});
