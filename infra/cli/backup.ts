/**
 * npm run backup -- --stack <name> [--stack-dir <dir>] [--list]
 *
 * A backup of the stack's homeserver now, with restic on the VPS into matrix:backup.repository
 * (the script `pulumi up` placed there; the nightly one is the same): every database, the
 * media store, the bridges' state and the sticker packs. Progress while it runs, then what was
 * saved and what it added. --list: the repository's snapshots. Exit 0: done; 1: it failed;
 * 2: bad usage, a bad stack file or no repository configured. The work is in infra/ops/backup/.
 */
import { runCommand, stackCommandArgs, usageError } from "./command";
import { settingsForCommand } from "./stack";

const USAGE = `usage: npm run backup -- --stack <name> [--stack-dir <dir>] [--list]
  (no command)       back up now: databases, media store, bridges' state, sticker packs
  --list             the snapshots in the repository
options:
  --stack <name>     the stack (stacks/Pulumi.<name>.yaml) whose homeserver to back up
  --stack-dir <dir>  read Pulumi.<name>.yaml from <dir> instead of stacks/`;

async function main(argv: string[]): Promise<number> {
  const args = stackCommandArgs("backup", USAGE, argv, { list: { type: "boolean" } });
  if (typeof args === "number") return args;
  const { values, positionals } = args;
  const problem = !values.stack ? "give --stack <name>" : positionals.length > 0 ? `unexpected ${JSON.stringify(positionals[0])}` : null;
  if (problem) {
    return usageError("backup", USAGE, problem);
  }
  const settings = await settingsForCommand("backup", values.stack!, values["stack-dir"]);
  if (!settings) return 2;
  const { runBackup, listSnapshots, BackupError } = await import("../ops/backup/commands");
  const out = (line: string) => console.log(line);
  try {
    if (values.list) await listSnapshots(settings, out);
    else await runBackup(settings, out);
    return 0;
  } catch (e) {
    console.error(`backup: ${e instanceof Error ? e.message : String(e)}`);
    return e instanceof BackupError && !settings.backup.enabled ? 2 : 1;
  }
}

runCommand("backup", main);
