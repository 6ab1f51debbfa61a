/** Image packs: the room state and account data `npm run stickers` writes, under which names, and the packs' revision. Pure parts. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { IMAGE_PACK_FORMS, roomEmotes, shortcode, withEmoteRoom, withoutEmoteRoom } from "../../infra/ops/stickers/image-packs";
import { mergePack, packsRevision, type Pack, type Sticker } from "../../infra/ops/stickers/packs";

const sticker = (id: string, body: string, url: string): Sticker => ({ id, body, url, info: { w: 256, h: 200, size: 1234, mimetype: "image/png" }, file: `cats/${id}`, sha256: id });
const cats: Pack = { id: "cats", title: "Cats", stickers: [sticker("a.png", "happy cat", "mxc://h/a"), sticker("b.png", "happy:cat", "mxc://h/b"), sticker("c.png", "grumpy", "mxc://h/c")] };

test("written under the spec's names (MSC2545 merged) and MSC2545's unstable ones, which Cinny, FluffyChat and Nheko still read", () => {
  assert.deepEqual(IMAGE_PACK_FORMS, [
    { state: "m.room.image_pack", rooms: "m.image_pack.rooms" },
    { state: "im.ponies.room_emotes", rooms: "im.ponies.emote_rooms" },
  ]);
});

test("a pack's room state: each sticker under a shortcode without ':' or spaces (unique in the pack), usage sticker, the pack's name and avatar", () => {
  assert.equal(shortcode("a b\tc:d"), "a_b_c_d");
  assert.deepEqual(roomEmotes(cats), {
    images: {
      happy_cat: { url: "mxc://h/a", body: "happy cat", info: { w: 256, h: 200, size: 1234, mimetype: "image/png" }, usage: ["sticker"] },
      "happy_cat-2": { url: "mxc://h/b", body: "happy:cat", info: { w: 256, h: 200, size: 1234, mimetype: "image/png" }, usage: ["sticker"] },
      grumpy: { url: "mxc://h/c", body: "grumpy", info: { w: 256, h: 200, size: 1234, mimetype: "image/png" }, usage: ["sticker"] },
    },
    pack: { display_name: "Cats", avatar_url: "mxc://h/a", usage: ["sticker"], attribution: "published by matrix-kit (npm run stickers)" },
  });
});

test("the owner's list of pack rooms: the pack's room added beside packs from elsewhere, and taken out again leaving them", () => {
  const theirs = { rooms: { "!other:h": { "": {}, emoji: {} } }, extra: true };
  const added = withEmoteRoom(theirs, "!cats:h", "cats");
  assert.deepEqual(added, { rooms: { "!other:h": { "": {}, emoji: {} }, "!cats:h": { cats: {} } }, extra: true });
  assert.deepEqual(withEmoteRoom(undefined, "!cats:h", "cats"), { rooms: { "!cats:h": { cats: {} } } });
  assert.deepEqual(withoutEmoteRoom(added, "!cats:h", "cats"), theirs);
  assert.deepEqual(withoutEmoteRoom(theirs, "!other:h", "emoji"), { rooms: { "!other:h": { "": {} } }, extra: true });
  assert.deepEqual(withoutEmoteRoom(undefined, "!x:h", "x"), { rooms: {} });
});

test("a pack merged again keeps its image-pack room", () => {
  const merged = mergePack({ ...cats, imagePackRoom: "!cats:h" }, "cats", "Cats", [sticker("d.png", "d", "mxc://h/d")]);
  assert.equal(merged.imagePackRoom, "!cats:h");
  assert.equal(mergePack(undefined, "new", "new", []).imagePackRoom, undefined);
});

test("the packs' revision changes with any pack shown and with the index, not with a pack the index leaves out", () => {
  const packs = new Map([["cats", cats]]);
  const r = packsRevision({ packs: ["cats"] }, packs);
  assert.match(r, /^[0-9a-f]{12}$/);
  assert.equal(packsRevision({ packs: ["cats"] }, new Map([["cats", cats], ["gone", { ...cats, id: "gone" }]])), r);
  assert.notEqual(packsRevision({ packs: ["cats"] }, new Map([["cats", { ...cats, title: "Kittens" }]])), r);
  assert.notEqual(packsRevision({ packs: [] }, packs), r);
});
