/**
 * Least privilege, against REAL PostgreSQL binaries (Debian's postgresql-15, installed
 * by test/setup/validators.sh): a private cluster under /tmp on a free loopback port, laid out as
 * a deployment from before the kit gave each service its own role (the superuser `synapse` owns every database and table), is
 * upgraded by the kit's own init script and SQL. Only `docker exec <container>` is stood in for
 * (a shell function running the same command against the private cluster).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { settingsFromStackFile } from "../../infra/config";
import { initDatabasesScript } from "../../infra/render/host";
import { databasesSql } from "../../infra/render/postgres";
import { deriveSecrets } from "../../infra/secrets";
import { PG_SKIP, startCluster, type Cluster } from "../harness/postgres-cluster";

const s = settingsFromStackFile("dev");
const sec = deriveSecrets("postgres-roles-test-seed-0123456789");
const SUPER = s.postgres.superuser;

describe("PostgreSQL roles: an old deployment upgraded in place (real PostgreSQL)", { skip: PG_SKIP }, () => {
  let pg: Cluster;
  const run: Cluster["run"] = (...a) => pg.run(...a);
  const superSql: Cluster["superSql"] = (...a) => pg.superSql(...a);
  /** As a service does: over TCP with its role's password (scram-sha-256). */
  const asRole = (role: string, password: string, db: string, sql: string) =>
    run(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-qAt", "-h", "127.0.0.1", "-U", role, "-d", db], sql, { PGPASSWORD: password });
  /** The kit's init script as rendered, `docker exec <container>` standing for the private cluster. */
  const kitInit = () => {
    const script = `docker() { shift; [ "$1" = -i ] && shift; shift; "$@"; }\n${initDatabasesScript("mx-dev-postgres", SUPER)}`;
    const r = run(["/bin/bash", "-c", script], databasesSql(s, sec));
    assert.equal(r.status, 0, r.stderr);
    return r.stderr;
  };
  /** Everything the upgrade may change: roles, databases' owners and ACLs, every object's owner, the rows. */
  const state = () =>
    ["postgres", "synapse", "qqbridge", "wechatbridge"].map((db) =>
      superSql(
        db,
        `SELECT string_agg(x, E'\\n' ORDER BY x) FROM (
           SELECT format('role %s super=%s login=%s pw=%s', rolname, rolsuper, rolcanlogin, rolpassword) x FROM pg_authid WHERE rolname !~ '^pg_'
           UNION ALL SELECT format('db %s %s %s', datname, pg_get_userbyid(datdba), datacl) FROM pg_database
           UNION ALL SELECT format('rel %s %s', oid::regclass, pg_get_userbyid(relowner)) FROM pg_class WHERE relnamespace = 'public'::regnamespace
           UNION ALL SELECT format('fn %s %s', oid::regprocedure, pg_get_userbyid(proowner)) FROM pg_proc WHERE pronamespace = 'public'::regnamespace
           UNION ALL SELECT format('type %s %s', oid::regtype, pg_get_userbyid(typowner)) FROM pg_type WHERE typnamespace = 'public'::regnamespace) t`,
      ),
    );

  before(async () => {
    pg = await startCluster(SUPER, sec.postgresPassword);
    // The layout before each service had its own role: the databases and every table in them owned by the superuser.
    for (const db of ["synapse", "qqbridge", "wechatbridge"]) superSql("postgres", `CREATE DATABASE ${db} OWNER ${SUPER} ENCODING 'UTF8' TEMPLATE template0;`);
    superSql("synapse", "CREATE TABLE events (stream_ordering bigserial PRIMARY KEY, body text); INSERT INTO events (body) VALUES ('a'), ('b'); CREATE VIEW event_bodies AS SELECT body FROM events; CREATE FUNCTION check_body() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'; CREATE TRIGGER t BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION check_body();");
    for (const db of ["qqbridge", "wechatbridge"]) {
      superSql(db, "CREATE TYPE membership AS ENUM ('join', 'leave'); CREATE TABLE version (version int); INSERT INTO version VALUES (7); CREATE TABLE portal (id int GENERATED ALWAYS AS IDENTITY, name text, m membership); INSERT INTO portal (name, m) VALUES ('x', 'join'), ('y', 'leave');");
    }
  });
  after(() => pg?.stop());

  test("REASSIGN OWNED refuses the bootstrap superuser's objects: why the kit's SQL moves each object itself", () => {
    superSql("postgres", "CREATE ROLE probe;");
    assert.match(run(["psql", "-X", "-U", SUPER, "-d", "qqbridge", "-c", `REASSIGN OWNED BY ${SUPER} TO probe`]).stderr, /required by the database system/);
    superSql("postgres", "DROP ROLE probe;");
  });

  test("the kit's init script: each role in its own database only, the bridges migrate, rows intact, a second run changes nothing", () => {
    kitInit();
    const once = state();
    assert.match(once[1], /rel events homeserver/);
    assert.match(once[1], /rel events_stream_ordering_seq homeserver/);
    assert.match(once[1], /fn check_body\(\) homeserver/);
    assert.match(once[2], /type membership qqbridge/);
    assert.match(once[2], /rel portal_id_seq qqbridge/);
    assert.doesNotMatch(once.join("\n"), new RegExp(`^(rel|fn|type) .* ${SUPER}$`, "m"), "no object left to the superuser");
    assert.match(once[0], /db qqbridge qqbridge \{qqbridge=CTc\/qqbridge\}/, "PUBLIC may not connect");
    kitInit();
    assert.deepEqual(state(), once, "a second run changes nothing");

    const qq = sec.databasePasswords.qq;
    for (const db of ["synapse", "wechatbridge", "postgres"]) {
      assert.match(asRole("qqbridge", qq, db, "SELECT 1").stderr, /permission denied for database/, `QQ's role is refused on ${db}`);
    }
    assert.match(asRole("wechatbridge", sec.databasePasswords.wechat, "qqbridge", "SELECT 1").stderr, /permission denied for database/);
    assert.match(asRole("qqbridge", sec.databasePasswords.wechat, "qqbridge", "SELECT 1").stderr, /password authentication failed/, "each role has its own password");
    for (const [role, password] of [["qqbridge", qq], ["wechatbridge", sec.databasePasswords.wechat]] as const) {
      // A migration: a new table, a changed one, rows written through the identity column.
      const r = asRole(role, password, role, "CREATE TABLE kit_new (x int); ALTER TABLE portal ADD COLUMN topic text; ALTER TYPE membership ADD VALUE 'ban'; INSERT INTO portal (name, m) VALUES ('z', 'join'); SELECT string_agg(name, ',' ORDER BY id) || ' v' || (SELECT version FROM version) FROM portal;");
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), "x,y,z v7");
    }
    const syn = asRole("homeserver", sec.databasePasswords.synapse, "synapse", "ALTER TABLE events ADD COLUMN kit int; INSERT INTO events (body) VALUES ('c'); SELECT string_agg(body, ',' ORDER BY body) FROM event_bodies;");
    assert.equal(syn.status, 0, syn.stderr);
    assert.equal(syn.stdout.trim(), "a,b,c");
    superSql("synapse", "INSERT INTO events (body) VALUES ('c');");
    // The upkeep job vacuums Synapse's tables (owner's right, through its membership), and its state
    // compressor rewrites them and keeps its progress in tables of its own; nothing else.
    const upkeep = asRole("upkeep", sec.databasePasswords.upkeep, "synapse", "VACUUM (ANALYZE) events; CREATE TABLE IF NOT EXISTS state_compressor_state (x int); DELETE FROM events WHERE body = 'c'; SELECT pg_database_size(current_database()) > 0;");
    assert.equal(upkeep.status, 0, upkeep.stderr);
    assert.doesNotMatch(upkeep.stderr, /skipping/, "no 'only table or database owner can vacuum it'");
    assert.match(asRole("upkeep", sec.databasePasswords.upkeep, "qqbridge", "SELECT 1").stderr, /permission denied for database/);
    assert.equal(superSql("postgres", "SELECT string_agg(rolname, ',') FROM pg_roles WHERE rolsuper"), SUPER, "the superuser is the only one");

  });
});
