/**
 * npm run status -- --stack <name> [--stack-dir <dir>] [--json]
 *
 * Each container's state, health, restarts, OOM kills and memory (now, peak,
 * limit, from its cgroup); the media store's local and remote parts, each
 * database's size and the free space on the host. Runs over ssh with the stack's
 * host key, or locally for a local target. Exit 0: healthy (warnings allowed);
 * 1: a problem (named at the end); 2: bad usage, a bad stack file or no answer.
 * The work is in infra/ops/status/.
 */
import { parseArgs } from "node:util";
import { runCommand, usageError } from "./command";
import { settingsForCommand } from "./stack";
import { collect, CollectError, parseStatus, statusExitCode, formatStatus, statusJson, statusScript, subjectFromSettings } from "../ops/status";

const USAGE = `usage: npm run status -- --stack <name> [--stack-dir <dir>] [--json]
  --stack <name>     the stack (stacks/Pulumi.<name>.yaml) whose deployment to look at
  --stack-dir <dir>  read Pulumi.<name>.yaml from <dir> instead of stacks/
  --json             print the report as JSON (same exit codes)`;

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: { stack: { type: "string" }, "stack-dir": { type: "string" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    }));
  } catch (e) {
    return usageError("status", USAGE, (e as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.stack) {
    return usageError("status", USAGE, "give --stack <name>");
  }
  const settings = await settingsForCommand("status", values.stack, values["stack-dir"]);
  if (!settings) return 2;
  let text: string;
  try {
    text = await collect(settings.target, statusScript(subjectFromSettings(settings)));
  } catch (e) {
    if (!(e instanceof CollectError)) throw e;
    console.error(`status: ${e.message}`);
    return 2;
  }
  const report = parseStatus(text);
  console.log(values.json ? statusJson(settings.stack, report) : formatStatus(settings.stack, report));
  return statusExitCode(report);
}

runCommand("status", main);
