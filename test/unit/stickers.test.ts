/** Sticker packs (pure parts of npm run stickers) and the widget's account-data entry. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { settingsFromStackFile } from "../../infra/config";
import { parsePacks } from "../../infra/ops/stickers/host";
import { displaySize, mediaId, mergePack, packIdError, packIdFromFolder, planUploads, readStickerFolder, stickerFrom, withoutPack, withPack } from "../../infra/ops/stickers/packs";
import { STICKER_WIDGET_ID, withStickerWidget, type WidgetEvent } from "../../infra/render/stickers";

const FOLDER = path.resolve(__dirname, "../fixtures/stickers/e2e-pack");

test("a folder's png, gif, webp and jpg with their real dimensions and types; other files skipped", () => {
  const { images, skipped, errors } = readStickerFolder(FOLDER);
  assert.deepEqual(errors, []);
  assert.deepEqual(skipped, ["README.txt"]);
  assert.deepEqual(
    images.map((i) => [i.id, i.body, i.mimetype, i.width, i.height, i.bytes.length]),
    [
      ["blush.jpg", "blush", "image/jpeg", 128, 128, fs.statSync(`${FOLDER}/blush.jpg`).size],
      ["cool.webp", "cool", "image/webp", 200, 160, fs.statSync(`${FOLDER}/cool.webp`).size],
      ["frog.gif", "frog", "image/gif", 96, 96, fs.statSync(`${FOLDER}/frog.gif`).size],
      ["happy.png", "happy", "image/png", 320, 320, fs.statSync(`${FOLDER}/happy.png`).size],
    ],
  );
});

test("a file whose content is not what its name says, or no images at all: errors, nothing to upload", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stickers-"));
  try {
    fs.copyFileSync(`${FOLDER}/happy.png`, `${dir}/liar.jpg`);
    fs.writeFileSync(`${dir}/broken.png`, "not a png");
    const r = readStickerFolder(dir);
    assert.equal(r.images.length, 0);
    assert.equal(r.errors.length, 2, r.errors.join("\n"));
    assert.match(r.errors.join("\n"), /liar\.jpg: its content is png, not what \.jpg says/);
    assert.match(r.errors.join("\n"), /broken\.png: not a readable image/);
    assert.deepEqual(readStickerFolder(fs.mkdtempSync(path.join(os.tmpdir(), "stickers-"))).errors.map((e) => e.replace(/\/tmp\/[^ ]+/, "<dir>")), ["<dir> has no png, gif, webp or jpg images"]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("display size fits in 256 px keeping the ratio; small stickers keep theirs", () => {
  assert.deepEqual(displaySize(320, 320), { w: 256, h: 256 });
  assert.deepEqual(displaySize(1000, 500), { w: 256, h: 128 });
  assert.deepEqual(displaySize(96, 64), { w: 96, h: 64 });
});

test("adding a folder again replaces its stickers in place and appends new ones; the index lists each pack once", () => {
  const { images } = readStickerFolder(FOLDER);
  const first = images.slice(0, 2).map((img, i) => stickerFrom("cats", img, `mxc://example.com/first${i}`));
  const pack1 = mergePack(undefined, "cats", "cats", first);
  assert.deepEqual(pack1.stickers.map((s) => s.url), ["mxc://example.com/first0", "mxc://example.com/first1"]);
  const again = [stickerFrom("cats", images[1], "mxc://example.com/again1"), stickerFrom("cats", images[2], "mxc://example.com/new2")];
  const pack2 = mergePack(pack1, "cats", "cats", again);
  assert.deepEqual(pack2.stickers.map((s) => `${s.id}=${s.url}`), ["blush.jpg=mxc://example.com/first0", "cool.webp=mxc://example.com/again1", "frog.gif=mxc://example.com/new2"]);
  assert.deepEqual(pack2.stickers[0].info, { w: 128, h: 128, size: images[0].bytes.length, mimetype: "image/jpeg" });
  assert.match(pack2.stickers[0].file, /^cats\/[0-9a-f]{16}\.jpg$/);
  assert.deepEqual(withPack(withPack({ packs: ["a"] }, "cats"), "cats"), { packs: ["a", "cats"] });
  assert.deepEqual(withoutPack({ packs: ["a", "cats"] }, "cats"), { packs: ["a"] });
});

test("pack names: from the folder's name, and checked", () => {
  assert.equal(packIdFromFolder("/x/My Cats!"), "my-cats");
  assert.equal(packIdError("cats_2"), null);
  assert.match(packIdError("../etc") ?? "", /a pack name is/);
  assert.equal(mediaId("mxc://example.com/AbC_d-1"), "AbC_d-1");
  assert.throws(() => mediaId("https://example.com/x"), /not an mxc URL/);
});

test("the packs read back from the host's listing", () => {
  const text = `=== index.json\n{"packs":["cats","gone"]}\n\n=== cats.json\n{"id":"cats","title":"Cats","stickers":[]}\n\n`;
  const { index, packs } = parsePacks(text);
  assert.deepEqual(index, { packs: ["cats", "gone"] });
  assert.deepEqual([...packs.keys()], ["cats"]);
  assert.deepEqual(parsePacks(""), { index: { packs: [] }, packs: new Map() });
});

test("the owner's m.widgets: the kit's picker added as Element writes it (creatorUserId, id, theme variable, packs revision), another sticker picker replaced, other widgets kept", () => {
  const s = settingsFromStackFile("prod");
  const other: WidgetEvent = { content: { type: "m.custom", url: "https://x/", name: "x", data: {} }, sender: "@a:b", state_key: "x", type: "m.widget", id: "x" };
  const oldPicker: WidgetEvent = { ...other, id: "old", state_key: "old", content: { ...other.content, type: "m.stickerpicker" } };
  const merged = withStickerWidget(s, { x: other, old: oldPicker }, "0123abcd4567");
  assert.deepEqual(Object.keys(merged), ["x", STICKER_WIDGET_ID]);
  assert.deepEqual(merged[STICKER_WIDGET_ID], {
    content: {
      type: "m.stickerpicker",
      url: "https://matrix.example.com/stickers/?theme=$org.matrix.msc2873.client_theme&packs=0123abcd4567",
      name: "Stickers",
      data: {},
      waitForIframeLoad: true,
      creatorUserId: "@owner:example.com",
      id: STICKER_WIDGET_ID,
    },
    sender: "@owner:example.com",
    state_key: STICKER_WIDGET_ID,
    type: "m.widget",
    id: STICKER_WIDGET_ID,
  });
});

test("npm run stickers (real CLI process): bad usage and bad input exit 2 naming the problem, before anything is read from a host", () => {
  const cli = (...args: string[]) => spawnSync("node", ["--import", "tsx", "infra/cli/stickers.ts", ...args], { encoding: "utf8", timeout: 60_000 });
  const cases: [string[], RegExp][] = [
    [["list"], /^stickers: give --stack <name>\nusage:/],
    [["--stack", "prod", "frob"], /^stickers: unknown command "frob"/],
    [["--stack", "prod", "add"], /^stickers: add takes one folder/],
    [["--stack", "prod", "list", "--pack", "x"], /^stickers: --pack goes with add/],
    [["--stack", "nope", "list"], /^stickers: no stack "nope": .*Pulumi\.nope\.yaml does not exist/],
    [["--stack", "prod", "add", FOLDER, "--pack", "Bad Name"], /^stickers: --pack: a pack name is 1-64 of a-z 0-9/],
    [["--stack", "prod", "add", "/nonexistent-folder"], /^stickers: nothing uploaded: \/nonexistent-folder is not a folder/],
  ];
  for (const [args, says] of cases) {
    const r = cli(...args);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, says, args.join(" "));
  }
});

test("what to upload: new and changed images, and those whose media the server no longer has", () => {
  const { images } = readStickerFolder(FOLDER);
  const pack = mergePack(undefined, "p", "p", images.slice(0, 3).map((img, i) => stickerFrom("p", img, `mxc://example.com/m${i}`)));
  const changed = { ...images[1], sha256: "0".repeat(64) };
  const planned = planUploads([images[0], changed, images[2], images[3]], pack, new Set(["m0", "m1"]));
  // blush: unchanged and present; cool: changed; frog: its media gone; happy: new.
  assert.deepEqual(planned.map((i) => i.id), ["cool.webp", "frog.gif", "happy.png"]);
});
