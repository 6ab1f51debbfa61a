/**
 * What `npm run restore` refuses to overwrite: the rendered restore.sh as real bash, its database
 * count run by REAL PostgreSQL (a private cluster, test/harness/postgres-cluster.ts) on tables of
 * Synapse's shape, and the volume a real directory. Stood in for: `restic restore` (a MOCK that
 * writes a backup's stage: volumes.txt and the server key) and the docker CLI (a MOCK: `volume
 * inspect` answers the directory, `exec <postgres> psql` runs the real psql against the cluster,
 * `exec <synapse> python` prints the backed-up server key, `stop` notes that the check passed and
 * anything after it stops the run, so a test reads only the check's verdict).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import { validate } from "../../infra/config";
import { backupPaths, renderRestoreScript } from "../../infra/render/backup";
import { MONITOR_LOCALPART, WATCHDOG_ROOMS_KEY } from "../../infra/render/names";
import type { Settings } from "../../infra/settings";
import { PG_BIN, PG_SKIP, startCluster, type Cluster } from "../harness/postgres-cluster";

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "kit-restore-"));
const BIN = `${TMP}/bin`;
const VOLUME = `${TMP}/volume`;
const KEY = '{"verify_keys":{"ed25519:a_kit":{"key":"c2VydmVyLWtleQ"}}}';

function settings(): Settings {
  const v = validate("rt", {
    values: {
      "matrix:domain": "rt.example.com",
      "matrix:target": { kind: "local" },
      "matrix:secretSeed": { secure: "x" },
      "matrix:hostDir": `${TMP}/kit`,
      "matrix:backup": { repository: `${TMP}/repository` },
    },
    secretKeys: new Set(["matrix:secretSeed"]),
  });
  assert.ok(v.ok, v.ok ? "" : v.errors.join("\n"));
  return v.settings;
}

describe("restore refuses the owner's data and nothing a new deployment makes by itself (real bash, real PostgreSQL)", { skip: PG_SKIP }, () => {
  const s = settings();
  assert.ok(s.backup.enabled);
  let pg: Cluster;
  const monitor = `@${MONITOR_LOCALPART}:${s.domain}`;

  before(async () => {
    pg = await startCluster(s.postgres.superuser, "restore-test-password");
    fs.mkdirSync(BIN);
    const stage = backupPaths(s).stage;
    const asPostgres = process.getuid?.() === 0 ? "runuser -u postgres --" : "";
    fs.writeFileSync(
      `${BIN}/restic`,
      `#!/bin/sh
# MOCK restic: restore writes a backup's stage (restore <id> --host H --target DIR).
[ "$1" = restore ] || exit 0
mkdir -p "$6${stage}"
echo "${s.namePrefix}-synapse-data /var/lib/docker/volumes/old/_data" >"$6${stage}/volumes.txt"
echo '${KEY}' >"$6${stage}/server-key.json"
`,
      { mode: 0o755 },
    );
    fs.writeFileSync(
      `${BIN}/docker`,
      `#!/bin/sh
# MOCK docker CLI (the file's header says what it answers).
[ -e "${TMP}/stopped" ] && exit 42
case "$1 $2" in
  "volume inspect") echo "${VOLUME}" ;;
  "exec ${s.namePrefix}-synapse") echo '${KEY}' ;;
  "exec ${s.namePrefix}-postgres") shift 2; exec ${asPostgres} env PGHOST=${pg.dir} PGPORT=${pg.port} ${PG_BIN}/"$@" ;;
  "stop "*) touch "${TMP}/stopped" ;;
  *) echo "mock docker: unexpected $*" >&2; exit 3 ;;
esac
`,
      { mode: 0o755 },
    );
    pg.superSql("postgres", "CREATE DATABASE synapse");
    // The columns of Synapse's own tables that the count reads.
    pg.superSql("synapse", "CREATE TABLE events (stream_ordering bigint, event_id text, room_id text, sender text); CREATE TABLE account_data (user_id text NOT NULL, account_data_type text NOT NULL, stream_id bigint NOT NULL, content text NOT NULL, instance_name text)");
  });
  after(() => {
    pg?.stop();
    fs.rmSync(TMP, { recursive: true, force: true });
  });
  beforeEach(() => {
    fs.rmSync(VOLUME, { recursive: true, force: true });
    fs.mkdirSync(VOLUME);
    fs.rmSync(`${TMP}/stopped`, { force: true });
    pg.superSql("synapse", "TRUNCATE events, account_data");
  });

  /** What a new deployment makes by itself: the watchdog's rooms and their events, a bot avatar fetched into the remote media cache, a URL preview. */
  function newDeployment(): void {
    const rooms = { [`@admin:${s.domain}`]: "!alerts:rt.example.com", "probe:@qqbot:rt.example.com": "!probe:rt.example.com" };
    pg.superSql("synapse", `INSERT INTO account_data VALUES ('${monitor}', '${WATCHDOG_ROOMS_KEY}', 1, '${JSON.stringify(rooms)}', NULL)`);
    pg.superSql("synapse", "INSERT INTO events SELECT n, '$e' || n, CASE WHEN n % 2 = 0 THEN '!alerts:rt.example.com' ELSE '!probe:rt.example.com' END, '@admin:rt.example.com' FROM generate_series(1, 12) n");
    for (const f of ["media_store/remote_content/matrix.org/nK/rj/lWVnjIGQRJicsBqDFLnc", "media_store/remote_thumbnail/matrix.org/nK/rj/t", "media_store/url_cache/2026-12-06/p"]) {
      fs.mkdirSync(path.dirname(`${VOLUME}/${f}`), { recursive: true });
      fs.writeFileSync(`${VOLUME}/${f}`, "");
    }
  }

  const restore = (...args: string[]) => {
    const script = `${TMP}/restore.sh`;
    fs.writeFileSync(script, renderRestoreScript(s, s.backup as Extract<Settings["backup"], { enabled: true }>), { mode: 0o755 });
    return spawnSync("bash", [script, "latest", ...args], { encoding: "utf8", env: { ...process.env, PATH: `${BIN}:${process.env.PATH}` } });
  };
  const passedTheCheck = () => fs.existsSync(`${TMP}/stopped`);

  test("a new deployment (the watchdog's rooms, a bot's avatar in the remote media cache, a URL preview) counts as empty: the restore goes on", () => {
    newDeployment();
    // What the check before this one counted: any file of the volume, so it refused every new
    // deployment whose QQ bridge fetched upstream's bot avatar from matrix.org.
    assert.equal(spawnSync("find", [VOLUME, "-type", "f"], { encoding: "utf8" }).stdout.trim().split("\n").length, 3);
    const r = restore();
    assert.doesNotMatch(r.stderr, /refusing/);
    assert.ok(passedTheCheck(), r.stdout + r.stderr);
  });

  test("the owner's events and uploads are refused, each named with where it was found", () => {
    newDeployment();
    pg.superSql("synapse", "INSERT INTO events VALUES (100, '$a', '!chat:rt.example.com', '@admin:rt.example.com'), (101, '$b', '!chat:rt.example.com', '@qq_1:rt.example.com')");
    for (const f of ["media_store/local_content/ab/cd/one", "media_store/local_content/ab/ce/two", "media_store/local_thumbnails/ab/cd/one/32-32-image-png"]) {
      fs.mkdirSync(path.dirname(`${VOLUME}/${f}`), { recursive: true });
      fs.writeFileSync(`${VOLUME}/${f}`, "x");
    }
    const r = restore();
    assert.equal(r.status, 3, r.stderr);
    assert.equal(
      r.stderr,
      `restore: refusing to overwrite data: database synapse (2 events outside the kit's own rooms), volume ${s.namePrefix}-synapse-data (3 files: 2 in media_store/local_content, 1 in media_store/local_thumbnails). Restore onto an empty deployment, or pass --force to replace it.\n`,
    );
    assert.ok(!passedTheCheck());
    restore("--force");
    assert.ok(passedTheCheck(), "--force goes on");
  });

  test("events with no watchdog account data (a deployment whose watchdog never ran) are all the owner's", () => {
    pg.superSql("synapse", "INSERT INTO events VALUES (1, '$a', '!x:rt.example.com', '@admin:rt.example.com')");
    const r = restore();
    assert.equal(r.status, 3, r.stdout + r.stderr);
    assert.match(r.stderr, /^restore: refusing to overwrite data: database synapse \(1 events outside the kit's own rooms\)\. /);
  });

  test("a count that fails is refused, never taken for an empty database", () => {
    pg.superSql("synapse", "ALTER TABLE events RENAME TO events_away");
    try {
      const r = restore();
      assert.equal(r.status, 3);
      assert.match(r.stderr, /^restore: refusing to overwrite data: database synapse \(its events could not be counted: ERROR: {2}relation "events" does not exist\)\. Restore onto an empty deployment/);
    } finally {
      pg.superSql("synapse", "ALTER TABLE events_away RENAME TO events");
    }
  });
});
