/**
 * `npm run stickers` add / list / remove: the work, given validated settings. Progress goes to
 * `out` line by line; problems are thrown as StickerError before anything is touched where
 * they can be known in advance (a bad folder, a bad pack name).
 */
import type { Settings } from "../../settings";
import { STICKER_WIDGET_ID, withStickerWidget, stickerWidgetUrl, type WidgetEvent } from "../../render/stickers";
import { openTunnel, runOnHost } from "../remote";
import { packsDir, readPacks, writePacks } from "./host";
import { adminLogin, Client, getAccountData, logout, mediaIdsOf, ownerLogin, protect, putAccountData, upload, type AdminAccount } from "./matrix";
import { IMAGE_PACK_FORMS, publishImagePack, unpublishImagePack } from "./image-packs";
import { mediaId, mergePack, packIdError, packIdFromFolder, packsRevision, planUploads, readStickerFolder, stickerFrom, withoutPack, withPack, type Pack, type PackIndex, type Sticker } from "./packs";
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
const jsonFile = (v: unknown) => Buffer.from(`${JSON.stringify(v, null, 2)}\n`);

interface OwnerSession {
  admin: Client;
  owner: Client;
  ownerId: string;
}

/**
 * Runs `work` with the kit's admin account and a token of the owner's, through a port forwarded
 * to Synapse's loopback port; the owner's token is logged out and the tunnel closed after.
 */
async function asOwner<T>(s: Settings, work: (session: OwnerSession) => Promise<T>): Promise<T> {
  const { account, token } = await adminAccount(s);
  const tunnel = await openTunnel(s.target, Number(new URL(account.homeserver).port));
  try {
    const { admin, fresh } = await adminLogin(new Client(tunnel.url), account, token);
    if (fresh) await keepToken(s, admin.token!);
    const owner = await ownerLogin(admin, account.owner);
    try {
      return await work({ admin, owner, ownerId: account.owner });
    } finally {
      await logout(owner).catch(() => undefined);
    }
  } finally {
    tunnel.close();
  }
}

/** The owner's m.widgets names the kit's picker at the packs' revision (a client recreates an open picker on a new one). */
async function registerPicker(s: Settings, { owner, ownerId }: OwnerSession, index: PackIndex, packs: Map<string, Pack>): Promise<string> {
  const widgets = (await getAccountData<Record<string, WidgetEvent>>(owner, ownerId, "m.widgets")) ?? {};
  const merged = withStickerWidget(s, widgets, packsRevision(index, packs));
  await putAccountData(owner, ownerId, "m.widgets", merged);
  return merged[STICKER_WIDGET_ID].content.url;
}

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
  const uploaded: Sticker[] = [];
  await asOwner(s, async (session) => {
    const { admin, owner, ownerId } = session;
    // A sticker counts as there only while its media is (a volume removed and made anew loses it).
    const todo = planUploads(images, existing, await mediaIdsOf(admin, ownerId));
    out(`pack "${pack}": ${images.length} image(s) in ${folder}, ${images.length - todo.length} already in the pack unchanged, ${todo.length} to upload`);
    for (const [i, img] of todo.entries()) {
      const mxc = await upload(owner, img.bytes, img.mimetype, img.id);
      await protect(admin, mediaId(mxc));
      const sticker = stickerFrom(pack, img, mxc);
      uploaded.push(sticker);
      out(`  [${i + 1}/${todo.length}] ${img.id}: ${img.width}x${img.height} ${img.mimetype} ${img.bytes.length} bytes -> ${mxc} (protected)`);
    }
    const merged = mergePack(existing, pack, existing?.title ?? pack, uploaded);
    // The same pack for clients that read image packs rather than a sticker widget.
    merged.imagePackRoom = await publishImagePack(owner, ownerId, merged, existing?.imagePackRoom);
    const newIndex = withPack(index, pack);
    await writePacks(s, [
      ...uploaded.map((st) => ({ path: st.file, content: todo.find((img) => img.id === st.id)!.bytes })),
      { path: `${pack}.json`, content: jsonFile(merged) },
      { path: "index.json", content: jsonFile(newIndex) },
    ]);
    // The owner's sticker picker: the kit's widget, so Element shows it with no manual step.
    const url = await registerPicker(s, session, newIndex, new Map([...packs, [pack, merged]]));
    out(`pack "${pack}": ${merged.stickers.length} sticker(s), ${uploaded.length} new (${mib(uploaded.reduce((n, x) => n + x.info.size, 0))}); written to ${packsDir(s)}`);
    out(`image pack (for Cinny, FluffyChat, Nheko): room ${merged.imagePackRoom}, listed in ${ownerId}'s ${IMAGE_PACK_FORMS.map((f) => f.rooms).join(" and ")}`);
    out(`sticker picker registered for ${ownerId}: ${url}`);
  });
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
  const gone = packs.get(pack);
  const newIndex = withoutPack(index, pack);
  await asOwner(s, async (session) => {
    if (gone?.imagePackRoom) await unpublishImagePack(session.owner, session.ownerId, pack, gone.imagePackRoom);
    await writePacks(s, [{ path: "index.json", content: jsonFile(newIndex) }], [`${pack}.json`, pack]);
    await registerPicker(s, session, newIndex, packs);
  });
  // Messages that used these stickers still point at the media: they stay on the server, protected.
  out(`pack "${pack}" removed from the picker${gone?.imagePackRoom ? " and the image packs" : ""} (${gone?.stickers.length ?? 0} sticker(s)); their images stay on the homeserver, protected, for the messages that used them`);
}
