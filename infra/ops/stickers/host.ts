/** The sticker packs on the host (<hostDir>/stickers/packs/, served by nginx): read and written over ssh. */
import { renderTemplate } from "../../render/templates";
import { hostPath, type Settings } from "../../settings";
import { runOnHost } from "../remote";
import { packIdError, type Pack, type PackIndex } from "./packs";

export function packsDir(s: Settings): string {
  return hostPath(s, "stickers", "packs");
}

export interface HostPacks {
  index: PackIndex;
  packs: Map<string, Pack>;
}

/** Splits the read script's output ("=== <file>" then its content) into the index and the packs. */
export function parsePacks(text: string): HostPacks {
  const files = new Map<string, string>();
  let current: string | null = null;
  for (const line of text.split("\n")) {
    const m = /^=== (.+)$/.exec(line);
    if (m) {
      current = m[1];
      files.set(current, "");
    } else if (current !== null) files.set(current, files.get(current)! + line + "\n");
  }
  const index = files.has("index.json") ? (JSON.parse(files.get("index.json")!) as PackIndex) : { packs: [] };
  const packs = new Map<string, Pack>();
  for (const id of index.packs) {
    const f = files.get(`${id}.json`);
    if (f !== undefined) packs.set(id, JSON.parse(f) as Pack);
  }
  return { index, packs };
}

export async function readPacks(s: Settings): Promise<HostPacks> {
  return parsePacks(await runOnHost(s.target, renderTemplate("host/stickers-read.sh.hbs", { dir: packsDir(s) }), "reading the sticker packs"));
}

export interface PackWrite {
  /** Path under packs/: "index.json", "<pack>.json" or "<pack>/<file>". */
  path: string;
  content: Buffer;
}

export async function writePacks(s: Settings, files: PackWrite[], remove: string[] = []): Promise<void> {
  for (const p of [...files.map((f) => f.path), ...remove]) {
    const top = p.split("/")[0].replace(/\.json$/, "");
    if (p.includes("..") || (top !== "index" && packIdError(top) !== null)) throw new Error(`refusing to write ${p} outside a pack`);
  }
  const script = renderTemplate("host/stickers-write.sh.hbs", {
    dir: packsDir(s),
    files: files.map((f) => ({
      path: f.path,
      dir: f.path.includes("/") ? f.path.slice(0, f.path.lastIndexOf("/")) : ".",
      base64: f.content.toString("base64").replace(/.{1,76}/g, "$&\n").trimEnd(),
    })),
    remove,
  });
  await runOnHost(s.target, script, "writing the sticker packs", 300_000);
}
