/**
 * Sticker packs as the kit's widget reads them (templates/stickers/widget.js): an index of pack
 * ids, one JSON file per pack, the images beside them. Pure, apart from reading a folder.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { imageSize } from "image-size";

export interface StickerInfo {
  /** Display size (fits in 256 px, as Element draws stickers), not the image's own. */
  w: number;
  h: number;
  size: number;
  mimetype: string;
}

export interface Sticker {
  /** File name in the folder it came from: adding the folder again replaces it, not duplicates it. */
  id: string;
  body: string;
  url: string;
  info: StickerInfo;
  /** Path of the image under packs/ (the widget shows it from there). */
  file: string;
  sha256: string;
}

export interface Pack {
  id: string;
  title: string;
  stickers: Sticker[];
  /** The owner's room that publishes this pack as an MSC2545 image pack (image-packs.ts). */
  imagePackRoom?: string;
}

export interface PackIndex {
  packs: string[];
}

export const MIME_TYPES: Record<string, string> = { ".png": "image/png", ".gif": "image/gif", ".webp": "image/webp", ".jpg": "image/jpeg", ".jpeg": "image/jpeg" };
const EXTENSIONS: Record<string, string> = { "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp", "image/jpeg": ".jpg" };
const IMAGE_TYPE_MIME: Record<string, string> = { png: "image/png", gif: "image/gif", webp: "image/webp", jpg: "image/jpeg" };

/** A pack id is a file name on the host and part of a URL: lower-case letters, digits, - and _. */
export function packIdError(id: string): string | null {
  return /^[a-z0-9][a-z0-9_-]{0,63}$/.test(id) ? null : `a pack name is 1-64 of a-z 0-9 - _ starting with a letter or digit (got ${JSON.stringify(id)})`;
}

/** The pack name a folder gives when --pack is not set: its name, lower-cased, other characters as -. */
export function packIdFromFolder(folder: string): string {
  return path.basename(path.resolve(folder)).toLowerCase().replace(/[^a-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 64) || "stickers";
}

export function displaySize(w: number, h: number, max = 256): { w: number; h: number } {
  const scale = Math.min(1, max / Math.max(w, h));
  return { w: Math.max(1, Math.round(w * scale)), h: Math.max(1, Math.round(h * scale)) };
}

export interface StickerImage {
  id: string;
  body: string;
  bytes: Buffer;
  mimetype: string;
  width: number;
  height: number;
  sha256: string;
}

/**
 * The images of a folder (png, gif, webp, jpg), sorted by name, each checked to be what its
 * name says. Other files are reported in `skipped`; a broken image is an error (nothing is uploaded).
 */
export function readStickerFolder(folder: string): { images: StickerImage[]; skipped: string[]; errors: string[] } {
  if (!fs.existsSync(folder) || !fs.statSync(folder).isDirectory()) return { images: [], skipped: [], errors: [`${folder} is not a folder`] };
  const images: StickerImage[] = [];
  const skipped: string[] = [];
  const errors: string[] = [];
  for (const name of fs.readdirSync(folder).sort()) {
    const full = path.join(folder, name);
    const ext = path.extname(name).toLowerCase();
    if (!fs.statSync(full).isFile()) continue;
    if (!(ext in MIME_TYPES)) {
      skipped.push(name);
      continue;
    }
    const bytes = fs.readFileSync(full);
    let dims;
    try {
      dims = imageSize(bytes);
    } catch (e) {
      errors.push(`${name}: not a readable image (${(e as Error).message})`);
      continue;
    }
    const mimetype = IMAGE_TYPE_MIME[dims.type ?? ""];
    if (mimetype !== MIME_TYPES[ext]) {
      errors.push(`${name}: its content is ${dims.type ?? "unknown"}, not what ${ext} says`);
      continue;
    }
    images.push({ id: name, body: path.basename(name, path.extname(name)), bytes, mimetype, width: dims.width, height: dims.height, sha256: createHash("sha256").update(bytes).digest("hex") });
  }
  if (images.length === 0 && errors.length === 0) errors.push(`${folder} has no png, gif, webp or jpg images`);
  return { images, skipped, errors };
}

export function stickerFrom(packId: string, img: StickerImage, mxc: string): Sticker {
  return {
    id: img.id,
    body: img.body,
    url: mxc,
    info: { ...displaySize(img.width, img.height), size: img.bytes.length, mimetype: img.mimetype },
    // Named by content: any file name is safe on the host and in the widget's URLs.
    file: `${packId}/${img.sha256.slice(0, 16)}${EXTENSIONS[img.mimetype]}`,
    sha256: img.sha256,
  };
}

/** The images to upload: new ones, changed ones, and those whose media the server no longer has. */
export function planUploads(images: StickerImage[], existing: Pack | undefined, liveMediaIds: Set<string>): StickerImage[] {
  const known = new Map((existing?.stickers ?? []).map((x) => [x.id, x]));
  return images.filter((img) => {
    const k = known.get(img.id);
    return !k || k.sha256 !== img.sha256 || !liveMediaIds.has(mediaId(k.url));
  });
}

/** The pack with `added` in it: a sticker with the same id is replaced in place, new ones follow. */
export function mergePack(existing: Pack | undefined, id: string, title: string, added: Sticker[]): Pack {
  const stickers = [...(existing?.stickers ?? [])];
  for (const s of added) {
    const at = stickers.findIndex((x) => x.id === s.id);
    if (at >= 0) stickers[at] = s;
    else stickers.push(s);
  }
  return { id, title, stickers, ...(existing?.imagePackRoom ? { imagePackRoom: existing.imagePackRoom } : {}) };
}

/**
 * A short digest of what the picker shows (the index and every pack in it): part of the widget's
 * URL, so that a client recreates an open picker when the packs change.
 */
export function packsRevision(index: PackIndex, packs: Map<string, Pack>): string {
  const shown = index.packs.map((id) => packs.get(id) ?? null);
  return createHash("sha256").update(JSON.stringify([index, shown])).digest("hex").slice(0, 12);
}

export function withPack(index: PackIndex, id: string): PackIndex {
  return index.packs.includes(id) ? index : { packs: [...index.packs, id] };
}

export function withoutPack(index: PackIndex, id: string): PackIndex {
  return { packs: index.packs.filter((p) => p !== id) };
}

/** media_id of an mxc://server/media_id URL. */
export function mediaId(mxc: string): string {
  const m = /^mxc:\/\/[^/]+\/([A-Za-z0-9_-]+)$/.exec(mxc);
  if (!m) throw new Error(`not an mxc URL: ${mxc}`);
  return m[1];
}
