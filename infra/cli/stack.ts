/** What the operator commands that work on a deployed stack (status, stickers) share: reading it. */
import type { Settings } from "../settings";

/**
 * The stack's validated settings, or undefined after printing why not (`<command>: ...`); warns
 * when the stack does not check the VPS's host key. config/ loads Pulumi's SDK: imported here,
 * only once a command's arguments are known to be good.
 */
export async function settingsForCommand(command: string, stack: string, stackDir: string | undefined): Promise<Settings | undefined> {
  const { settingsFromStackFile, StackFileError } = await import("../config");
  let settings: Settings;
  try {
    settings = settingsFromStackFile(stack, stackDir);
  } catch (e) {
    if (!(e instanceof StackFileError)) throw e;
    console.error(`${command}: ${e.message}`);
    return undefined;
  }
  if (settings.target.kind === "ssh" && settings.target.hostKey === null) {
    console.error(`${command}: warning: matrix:target.hostKey is insecure-accept-any: the VPS's host key is not checked`);
  }
  return settings;
}
