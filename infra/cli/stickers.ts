/**
 * npm run stickers -- --stack <name> [--stack-dir <dir>] add <folder> [--pack <name>] | list | remove <pack>
 *
 * add: uploads each png, gif, webp and jpg of <folder> as the owner (with its size, mimetype and
 * display dimensions), protects it from every expiry, merges it into the pack's file on the
 * host (a sticker already there with the same content is not uploaded again), publishes the pack
 * as an MSC2545 image pack (a room of the owner's, for Cinny, FluffyChat and Nheko) and registers
 * the kit's picker in the owner's account data. list: the packs. remove: a pack out of the picker
 * and the image packs (its media stay). Works over ssh with the stack's host key, or locally for a local target.
 * Exit 0: done; 1: the work failed; 2: bad usage or a bad stack file. The work is in
 * infra/ops/stickers/.
 */
import { runCommand, stackCommandArgs, usageError } from "./command";
import { settingsForCommand } from "./stack";

const USAGE = `usage: npm run stickers -- --stack <name> [--stack-dir <dir>] <command>
commands:
  add <folder> [--pack <name>]  upload the folder's png, gif, webp and jpg images into a pack
                                (default pack name: the folder's name), protect them, and
                                publish the pack to the picker and as an image pack (MSC2545)
  list                          the packs and their sizes
  remove <pack>                 take a pack out of the picker and the image packs
                                (its images stay on the server)
options:
  --stack <name>     the stack (stacks/Pulumi.<name>.yaml) whose homeserver to use
  --stack-dir <dir>  read Pulumi.<name>.yaml from <dir> instead of stacks/`;

async function main(argv: string[]): Promise<number> {
  const args = stackCommandArgs("stickers", USAGE, argv, { pack: { type: "string" } });
  if (typeof args === "number") return args;
  const { values, positionals } = args;
  const [command, arg, ...rest] = positionals;
  const shape: Record<string, number> = { add: 1, list: 0, remove: 1 };
  const problem = !values.stack
    ? "give --stack <name>"
    : !(command in shape)
      ? `unknown command ${JSON.stringify(command ?? "")}`
      : (arg === undefined ? 0 : 1 + rest.length) !== shape[command]
        ? `${command} takes ${shape[command] === 0 ? "no argument" : command === "add" ? "one folder" : "one pack name"}`
        : values.pack !== undefined && command !== "add"
          ? "--pack goes with add"
          : null;
  if (problem) {
    return usageError("stickers", USAGE, problem);
  }
  const settings = await settingsForCommand("stickers", values.stack!, values["stack-dir"]);
  if (!settings) return 2;
  const { addStickers, listStickers, removePack, StickerError } = await import("../ops/stickers/commands");
  const out = (line: string) => console.log(line);
  try {
    if (command === "add") await addStickers(settings, arg!, values.pack, out);
    else if (command === "list") await listStickers(settings, out);
    else await removePack(settings, arg!, out);
    return 0;
  } catch (e) {
    if (e instanceof StickerError) {
      console.error(`stickers: ${e.message}`);
      return 2;
    }
    console.error(`stickers: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

runCommand("stickers", main);
