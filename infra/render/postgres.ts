/** SQL that creates the kit's databases, idempotently (run on every update, harmless when they exist). */
import { enabledBridges, type Settings } from "../settings";

function ident(v: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(v)) throw new Error(`unsafe SQL identifier: ${JSON.stringify(v)}`);
  return v;
}

export function databasesSql(s: Settings): string {
  const owner = ident(s.postgres.user);
  // Synapse refuses a database whose collation is not C (or needs allow_unsafe_locale):
  // UTF8, LC_COLLATE/LC_CTYPE C, from template0 so the template's locale cannot leak in.
  const dbs = [
    { name: s.postgres.synapseDatabase, options: "ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0" },
    ...enabledBridges(s).map((b) => ({ name: b.database, options: "ENCODING 'UTF8' TEMPLATE template0" })),
  ];
  // psql's \gexec runs the statement the SELECT produces; quotes inside that literal are doubled.
  const lines = dbs.map(
    (d) =>
      `SELECT '${`CREATE DATABASE ${ident(d.name)} OWNER ${owner} ${d.options}`.replace(/'/g, "''")}' ` +
      `WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '${ident(d.name)}')\\gexec`,
  );
  return `-- Managed by matrix-kit (stack ${s.stack}).\n${lines.join("\n")}\n`;
}
