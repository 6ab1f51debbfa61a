/**
 * Image packs, which Cinny, FluffyChat, Nheko and other clients read instead of a sticker widget:
 * each kit pack is published as room state of a room of the owner's (state key: the pack id), and
 * that room is listed in the owner's account data, `{ rooms: { <room id>: { <state key>: {} } } }`.
 * Both under the Matrix spec's names (MSC2545 merged: `m.room.image_pack`, `m.image_pack.rooms`)
 * and under MSC2545's unstable ones (`im.ponies.room_emotes`, `im.ponies.emote_rooms`), which
 * those clients still read, with the same content. The images are the media `npm run stickers add`
 * already uploaded and protected. Packs the owner has from elsewhere stay in each account-data
 * event untouched.
 */
import type { Pack } from "./packs";
import { Client, getAccountData, MatrixError, putAccountData } from "./matrix";

/** Each name pair a pack is written under: the state event type, and the account data listing the rooms. */
export const IMAGE_PACK_FORMS = [
  { state: "m.room.image_pack", rooms: "m.image_pack.rooms" },
  { state: "im.ponies.room_emotes", rooms: "im.ponies.emote_rooms" },
] as const;

export interface PackImage {
  url: string;
  body: string;
  info: { w: number; h: number; size: number; mimetype: string };
  usage: ("sticker" | "emoticon")[];
}

export interface RoomEmotes {
  images: Record<string, PackImage>;
  pack: { display_name: string; avatar_url?: string; usage: ("sticker" | "emoticon")[]; attribution: string };
}

export interface EmoteRooms {
  rooms?: Record<string, Record<string, unknown>>;
  [other: string]: unknown;
}

/** A shortcode: the sticker's name without the characters MSC2545 shortcodes cannot hold (':' and spaces). */
export function shortcode(body: string): string {
  return body.replace(/[:\s]+/g, "_") || "sticker";
}

/** The pack's room state: each sticker under its shortcode (made unique within the pack), usage sticker. */
export function roomEmotes(pack: Pack): RoomEmotes {
  const images: Record<string, PackImage> = {};
  for (const st of pack.stickers) {
    let code = shortcode(st.body);
    for (let n = 2; code in images; n++) code = `${shortcode(st.body)}-${n}`;
    images[code] = { url: st.url, body: st.body, info: st.info, usage: ["sticker"] };
  }
  return {
    images,
    pack: { display_name: pack.title, ...(pack.stickers[0] ? { avatar_url: pack.stickers[0].url } : {}), usage: ["sticker"], attribution: "published by matrix-kit (npm run stickers)" },
  };
}

/** The owner's list of pack rooms (either form) with this pack's room in it; every other room and pack kept. */
export function withEmoteRoom(current: EmoteRooms | undefined, room: string, packId: string): EmoteRooms {
  const rooms = { ...(current?.rooms ?? {}) };
  rooms[room] = { ...(rooms[room] ?? {}), [packId]: {} };
  return { ...(current ?? {}), rooms };
}

/** The owner's list of pack rooms (either form) without this pack (its room dropped when no other pack of it is listed). */
export function withoutEmoteRoom(current: EmoteRooms | undefined, room: string, packId: string): EmoteRooms {
  const rooms = { ...(current?.rooms ?? {}) };
  const { [packId]: _gone, ...rest } = rooms[room] ?? {};
  if (Object.keys(rest).length) rooms[room] = rest;
  else delete rooms[room];
  return { ...(current ?? {}), rooms };
}

const q = encodeURIComponent;

async function createPackRoom(owner: Client, ownerId: string, pack: Pack, content: RoomEmotes): Promise<string> {
  const { room_id: room } = await owner.call<{ room_id: string }>("POST", "/_matrix/client/v3/createRoom", {
    name: `Stickers: ${pack.title}`,
    topic: "The sticker pack matrix-kit publishes for clients that read image packs (Cinny, FluffyChat, Nheko). Change it with npm run stickers.",
    preset: "private_chat",
    initial_state: IMAGE_PACK_FORMS.map((f) => ({ type: f.state, state_key: pack.id, content })),
  });
  // Out of the way in the owner's room list, as the watchdog's probe rooms are.
  await owner.call("PUT", `/_matrix/client/v3/user/${q(ownerId)}/rooms/${q(room)}/tags/m.lowpriority`, { order: 1 });
  return room;
}

/**
 * Publishes the pack: its room's state set anew (the room made when the pack has none, or when
 * the owner can no longer write to it), and listed in the owner's account data. Returns the room.
 */
export async function publishImagePack(owner: Client, ownerId: string, pack: Pack, knownRoom: string | undefined): Promise<string> {
  const content = roomEmotes(pack);
  let room = knownRoom;
  if (room) {
    try {
      for (const f of IMAGE_PACK_FORMS) await owner.call("PUT", `/_matrix/client/v3/rooms/${q(room)}/state/${q(f.state)}/${q(pack.id)}`, content);
    } catch (e) {
      if (!(e instanceof MatrixError) || ![403, 404].includes(e.status)) throw e;
      room = undefined;
    }
  }
  room ??= await createPackRoom(owner, ownerId, pack, content);
  for (const f of IMAGE_PACK_FORMS) {
    const rooms = await getAccountData<EmoteRooms>(owner, ownerId, f.rooms);
    await putAccountData(owner, ownerId, f.rooms, withEmoteRoom(rooms, room, pack.id));
  }
  return room;
}

/** Takes the pack out: off the owner's list, its state emptied, and the owner leaves and forgets its room. */
export async function unpublishImagePack(owner: Client, ownerId: string, packId: string, room: string): Promise<void> {
  for (const f of IMAGE_PACK_FORMS) {
    const rooms = await getAccountData<EmoteRooms>(owner, ownerId, f.rooms);
    await putAccountData(owner, ownerId, f.rooms, withoutEmoteRoom(rooms, room, packId));
  }
  try {
    for (const f of IMAGE_PACK_FORMS) await owner.call("PUT", `/_matrix/client/v3/rooms/${q(room)}/state/${q(f.state)}/${q(packId)}`, {});
    await owner.call("POST", `/_matrix/client/v3/rooms/${q(room)}/leave`, {});
    await owner.call("POST", `/_matrix/client/v3/rooms/${q(room)}/forget`, {});
  } catch (e) {
    // Already left (by hand, or a homeserver made anew): nothing more to take out.
    if (!(e instanceof MatrixError) || ![403, 404].includes(e.status)) throw e;
  }
}
