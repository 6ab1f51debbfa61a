/**
 * npm run restore -- --stack <name> [--stack-dir <dir>] [--snapshot <id>] [--force]
 *
 * Restores a backup (the latest, or --snapshot) onto the stack's deployment, typically a new
 * VPS after `pulumi up` (docs/operations.md, "Disaster recovery"): stops the watchdog, the bridges and
 * Synapse, loads every database, the media store, the bridges' state and the sticker packs,
 * starts them, and checks that Synapse is healthy with the same server key and that the bridges
 * answer. It refuses to overwrite a deployment that already holds data, naming it, unless
 * --force. Exit 0: done; 1: it failed; 2: bad usage, a bad stack file, no repository configured,
 * or refused.
 */
import { runCommand, stackCommandArgs, usageError } from "./command";
import { settingsForCommand } from "./stack";

const USAGE = `usage: npm run restore -- --stack <name> [--stack-dir <dir>] [--snapshot <id>] [--force]
  --snapshot <id>    the snapshot to restore (default: the latest; npm run backup -- --list shows them)
  --force            replace data the deployment already holds (otherwise refused, naming it)
  --stack <name>     the stack (stacks/Pulumi.<name>.yaml) whose deployment to restore onto
  --stack-dir <dir>  read Pulumi.<name>.yaml from <dir> instead of stacks/`;

async function main(argv: string[]): Promise<number> {
  const args = stackCommandArgs("restore", USAGE, argv, { snapshot: { type: "string" }, force: { type: "boolean" } });
  if (typeof args === "number") return args;
  const { values, positionals } = args;
  const problem = !values.stack
    ? "give --stack <name>"
    : positionals.length > 0
      ? `unexpected ${JSON.stringify(positionals[0])}`
      : values.snapshot !== undefined && !/^([0-9a-f]{8,64}|latest)$/.test(values.snapshot)
        ? `--snapshot must be a snapshot id (8 to 64 hex digits) or "latest" (got ${JSON.stringify(values.snapshot)})`
        : null;
  if (problem) {
    return usageError("restore", USAGE, problem);
  }
  const settings = await settingsForCommand("restore", values.stack!, values["stack-dir"]);
  if (!settings) return 2;
  const { runRestore, BackupError } = await import("../ops/backup/commands");
  try {
    await runRestore(settings, values.snapshot ?? "latest", values.force === true, (line) => console.log(line));
    return 0;
  } catch (e) {
    console.error(`restore: ${e instanceof Error ? e.message : String(e)}`);
    return e instanceof BackupError && /refusing|not set for stack/.test(e.message) ? 2 : 1;
  }
}

runCommand("restore", main);
