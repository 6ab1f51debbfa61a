/**
 * `npm run stickers` add / list / remove: the work, given validated settings. Progress goes to
 * `out` line by line; problems are thrown as StickerError before anything is touched where
 * they can be known in advance (a bad folder, a bad pack name).
 */
import type { Settings } from "../../settings";
import { withStickerWidget, stickerWidgetUrl, type WidgetEvent } from "../../render/stickers";
import { openTunnel, runOnHost } from "../remote";
import { packsDir, readPacks, writePacks, type PackWrite } from "./host";
import { adminLogin, Client, getAccountData, logout, mediaIdsOf, ownerLogin, protect, putAccountData, upload, type AdminAccount } from "./matrix";
import { mediaId, mergePack, packIdError, packIdFromFolder, planUploads, readStickerFolder, stickerFrom, withoutPack, withPack, type Sticker } from "./packs";
import { hostPath } from "../../settings";
import { shellQuote } from "../../render/templates";
import { adminTokenPath } from "../../render/upkeep";

export class StickerError extends Error {}

type Out = (line: string) => void;

/** The kit's admin account (written by `pulumi up`) and the token kept beside it, if any. */
async function adminAccount(s: Settings): Promise<{ account: AdminAccount; token?: string }> {
  const file = hostPath(s, "admin", "account.json");
  const text = await runOnHost(s.target, `cat ${shellQuote(file)}; echo; echo '=== token'; cat ${shellQuote(adminTokenPath(s))} 2>/dev/null || true`, "reading the kit's admin account (is the stack deployed?)");
  const [json, token] = text.split("\n=== token\n");
  return { account: JSON.parse(json) as AdminAccount, token: token?.trim() || undefined };
}

/** Beside the account file (render/upkeep.ts adminTokenPath), where the upkeep job keeps it too. */
async function keepToken(s: Settings, token: string): Promise<void> {
  const f = shellQuote(adminTokenPath(s));
  await runOnHost(s.target, `umask 077; printf '%s' ${shellQuote(token)} > ${f}.tmp && mv -f ${f}.tmp ${f}`, "keeping the admin account's token");
}

const mib = (n: number) => `${(n / 1048576).toFixed(2)} MiB`;

export async function addStickers(s: Settings, folder: string, packOption: string | undefined, out: Out): Promise<{ pack: string; uploaded: Sticker[]; unchanged: number }> {
  if (!s.stickers.enabled) throw new StickerError("matrix:stickers.enabled is false for this stack: the kit hosts no sticker picker");
  const pack = packOption ?? packIdFromFolder(folder);
  const bad = packIdError(pack);
  if (bad) throw new StickerError(`--pack: ${bad}`);
  const { images, skipped, errors } = readStickerFolder(folder);
  if (errors.length) throw new StickerError(`nothing uploaded: ${errors.join("; ")}`);
  if (skipped.length) out(`skipping ${skipped.length} file(s) that are not png, gif, webp or jpg: ${skipped.join(", ")}`);

  const { index, packs } = await readPacks(s);
  const existing = packs.get(pack);

  const { account, token } = await adminAccount(s);
  const port = Number(new URL(account.homeserver).port);
  const tunnel = await openTunnel(s.target, port);
  const uploaded: Sticker[] = [];
  try {
    const { admin, fresh } = await adminLogin(new Client(tunnel.url), account, token);
    if (fresh) await keepToken(s, admin.token!);
    const owner = await ownerLogin(admin, account.owner);
    try {
      // A sticker counts as there only while its media is (a volume removed and made anew loses it).
      const todo = planUploads(images, existing, await mediaIdsOf(admin, account.owner));
      out(`pack "${pack}": ${images.length} image(s) in ${folder}, ${images.length - todo.length} already in the pack unchanged, ${todo.length} to upload`);
      for (const [i, img] of todo.entries()) {
        const mxc = await upload(owner, img.bytes, img.mimetype, img.id);
        await protect(admin, mediaId(mxc));
        const sticker = stickerFrom(pack, img, mxc);
        uploaded.push(sticker);
        out(`  [${i + 1}/${todo.length}] ${img.id}: ${img.width}x${img.height} ${img.mimetype} ${img.bytes.length} bytes -> ${mxc} (protected)`);
      }
      const merged = mergePack(existing, pack, existing?.title ?? pack, uploaded);
      const files: PackWrite[] = [
        ...uploaded.map((st) => ({ path: st.file, content: todo.find((img) => img.id === st.id)!.bytes })),
        { path: `${pack}.json`, content: Buffer.from(`${JSON.stringify(merged, null, 2)}\n`) },
        { path: "index.json", content: Buffer.from(`${JSON.stringify(withPack(index, pack), null, 2)}\n`) },
      ];
      await writePacks(s, files);
      // The owner's sticker picker: the kit's widget, so Element shows it with no manual step.
      const widgets = (await getAccountData<Record<string, WidgetEvent>>(owner, account.owner, "m.widgets")) ?? {};
      await putAccountData(owner, account.owner, "m.widgets", withStickerWidget(s, widgets));
      out(`pack "${pack}": ${merged.stickers.length} sticker(s), ${uploaded.length} new (${mib(uploaded.reduce((n, x) => n + x.info.size, 0))}); written to ${packsDir(s)}`);
      out(`sticker picker registered for ${account.owner}: ${stickerWidgetUrl(s)}`);
    } finally {
      await logout(owner).catch(() => undefined);
    }
  } finally {
    tunnel.close();
  }
  return { pack, uploaded, unchanged: images.length - uploaded.length };
}

export async function listStickers(s: Settings, out: Out): Promise<void> {
  const { index, packs } = await readPacks(s);
  if (index.packs.length === 0) {
    out(`no sticker packs yet (add one: npm run stickers -- --stack ${s.stack} add <folder>)`);
    return;
  }
  out("pack                 stickers       size  title");
  for (const id of index.packs) {
    const p = packs.get(id);
    const size = p ? p.stickers.reduce((n, x) => n + x.info.size, 0) : 0;
    out(`${id.padEnd(20)} ${String(p?.stickers.length ?? "missing").padStart(8)} ${mib(size).padStart(10)}  ${p?.title ?? "(its file is missing)"}`);
  }
  out(`picker: ${stickerWidgetUrl(s)}`);
}

export async function removePack(s: Settings, pack: string, out: Out): Promise<void> {
  const bad = packIdError(pack);
  if (bad) throw new StickerError(bad);
  const { index, packs } = await readPacks(s);
  if (!index.packs.includes(pack)) throw new StickerError(`there is no pack "${pack}" (packs: ${index.packs.join(", ") || "none"})`);
  const count = packs.get(pack)?.stickers.length ?? 0;
  await writePacks(s, [{ path: "index.json", content: Buffer.from(`${JSON.stringify(withoutPack(index, pack), null, 2)}\n`) }], [`${pack}.json`, pack]);
  // Messages that used these stickers still point at the media: they stay on the server, protected.
  out(`pack "${pack}" removed from the picker (${count} sticker(s)); their images stay on the homeserver, protected, for the messages that used them`);
}
