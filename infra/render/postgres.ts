/**
 * SQL that gives each service its own PostgreSQL role owning only its own database,
 * run as the superuser over the container's socket on every update, idempotently. It also
 * upgrades in place a volume made before each service had its own role, where the superuser
 * owned every database and every table in them: ownership moves to each database's role,
 * nothing else changes.
 */
import { createHash, createHmac, pbkdf2Sync } from "node:crypto";
import type { Secrets } from "../secrets";
import { enabledBridges, type Settings } from "../settings";

function ident(v: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(v)) throw new Error(`unsafe SQL identifier: ${JSON.stringify(v)}`);
  return v;
}

/** A SQL string literal; quotes doubled. */
function literal(v: string): string {
  return `'${v.replace(/'/g, "''")}'`;
}

/**
 * PostgreSQL's stored form of a SCRAM-SHA-256 password (RFC 5802, as libpq's
 * pg_fe_scram_build_secret builds it), so the SQL (a command's input, a restore script) never
 * holds the password itself. The salt comes from the password, so a re-run sets the same value.
 */
export function scramVerifier(password: string, iterations = 4096): string {
  const salt = createHash("sha256").update(`matrix-kit/scram-salt/${password}`).digest().subarray(0, 16);
  const salted = pbkdf2Sync(password, salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

interface OwnedDatabase {
  name: string;
  role: string;
  options: string;
}

function ownedDatabases(s: Settings): OwnedDatabase[] {
  return [
    // Synapse refuses a database whose collation is not C (or needs allow_unsafe_locale):
    // UTF8, LC_COLLATE/LC_CTYPE C, from template0 so the template's locale cannot leak in.
    { name: s.postgres.synapseDatabase, role: s.postgres.synapseRole, options: "ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0" },
    ...enabledBridges(s).map((b) => ({ name: b.database, role: b.databaseRole, options: "ENCODING 'UTF8' TEMPLATE template0" })),
  ];
}

/** psql's \gexec runs each statement the SELECT produces. */
function gexec(select: string): string {
  return `${select}\\gexec`;
}

/** Each service's login role: created when missing, then (re)set to no privilege beyond logging in. */
export function rolesSql(s: Settings, sec: Secrets): string {
  const roles = [
    { name: s.postgres.synapseRole, password: sec.databasePasswords.synapse },
    ...enabledBridges(s).map((b) => ({ name: b.databaseRole, password: sec.databasePasswords[b.kind] })),
    ...(s.upkeep.enabled ? [{ name: s.postgres.upkeepRole, password: sec.databasePasswords.upkeep }] : []),
  ];
  const lines = roles.flatMap((r) => [
    gexec(`SELECT 'CREATE ROLE ${ident(r.name)}' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${r.name}')`),
    // Also demotes a role someone widened by hand.
    `ALTER ROLE ${r.name} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD ${literal(scramVerifier(r.password))};`,
  ]);
  // VACUUM and synapse_auto_compressor's rewrite of the state tables need the tables' owner.
  if (s.upkeep.enabled) lines.push(`GRANT ${ident(s.postgres.synapseRole)} TO ${ident(s.postgres.upkeepRole)};`);
  return `${lines.join("\n")}\n`;
}

/**
 * Every object in the database's public schema moved to its role. Not REASSIGN OWNED: on a volume
 * made before then the old owner is the bootstrap superuser, whose objects PostgreSQL refuses
 * to reassign ("required by the database system"). Sequences tied to a column move with their
 * table; ALTER on such a sequence alone is refused.
 */
function objectsTo(role: string): string[] {
  const r = literal(role);
  const mine = (col: string) => `${col} <> ${r}::regrole`;
  return [
    // PostgreSQL 15+ gives public to pg_database_owner (the database's owner): left so.
    gexec(`SELECT format('ALTER SCHEMA public OWNER TO %I', ${r}) FROM pg_namespace WHERE nspname = 'public' AND pg_get_userbyid(nspowner) NOT IN (${r}, 'pg_database_owner')`),
    gexec(
      `SELECT format('ALTER %s %s OWNER TO %I', CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, c.oid::regclass, ${r}) ` +
        `FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND ${mine("c.relowner")} ` +
        `AND NOT EXISTS (SELECT FROM pg_depend d WHERE c.relkind = 'S' AND d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))`,
    ),
    gexec(
      `SELECT format('ALTER %s %s OWNER TO %I', CASE p.prokind WHEN 'a' THEN 'AGGREGATE' WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, p.oid::regprocedure, ${r}) ` +
        `FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND ${mine("p.proowner")}`,
    ),
    // Standalone types only: a table's row type and an array type follow their table or element.
    gexec(
      `SELECT format('ALTER %s %s OWNER TO %I', CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.oid::regtype, ${r}) ` +
        `FROM pg_type t WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('c', 'd', 'e', 'r') AND ${mine("t.typowner")} ` +
        `AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')`,
    ),
  ];
}

/**
 * The databases, each created when missing and owned by its role with everything in it; no
 * database lets PUBLIC connect, so a role reaches its own database only (the superuser bypasses
 * this). Needs the roles (rolesSql); run by `pulumi up` and after a restore (an older backup's
 * objects belong to the superuser).
 */
export function ownershipSql(s: Settings): string {
  const dbs = ownedDatabases(s);
  const lines = [
    ...dbs.flatMap((d) => [
      gexec(`SELECT ${literal(`CREATE DATABASE ${ident(d.name)} OWNER ${ident(d.role)} ${d.options}`)} WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '${d.name}')`),
      `ALTER DATABASE ${d.name} OWNER TO ${d.role};`,
    ]),
    ...[...dbs.map((d) => d.name), "postgres", "template1"].map((db) => `REVOKE ALL ON DATABASE ${db} FROM PUBLIC;`),
    ...dbs.flatMap((d) => [`\\connect ${d.name}`, ...objectsTo(d.role)]),
  ];
  return `${lines.join("\n")}\n`;
}

export function databasesSql(s: Settings, sec: Secrets): string {
  return `-- Managed by matrix-kit (stack ${s.stack}).\n${rolesSql(s, sec)}${ownershipSql(s)}`;
}
