/**
 * Stickers on the e2e deployment, registered inside the e2e suite's describe:
 *   - `npm run stickers` over real ssh: a pack uploaded as the owner, protected, merged again
 *     without duplicates, published as an image pack under the spec's names and MSC2545's, listed, a second pack removed (from
 *     the picker and the image packs), a bad folder refused touching nothing;
 *   - the widget page in Debian's chromium (puppeteer-core), driven by Element's own widget code:
 *     the real ClientWidgetApi from matrix-widget-api, bundled from npm (widget-host/element-host.ts).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import { test } from "node:test";
import { IMAGE_PACK_FORMS, roomEmotes, type EmoteRooms, type RoomEmotes } from "../../infra/ops/stickers/image-packs";
import { packsRevision } from "../../infra/ops/stickers/packs";
import { STICKER_WIDGET_ID, stickerWidgetTemplateUrl, stickerWidgetUrl } from "../../infra/render/stickers";
import { adminTokenPath } from "../../infra/render/upkeep";
import { freePort, json } from "../harness/http";
import { FIXTURES, kitHelpers, operatorCommand, ownerStackDir, type KitContext } from "./kit-context";

export function stickerTests(ctx: KitContext): void {
  const { s } = ctx;
  const { owner, packsDir, synapse, call, download, readPack } = kitHelpers(ctx);
  let stackDir = "";
  /**
   * The owner's image packs as a client reads them, under each form's names (the spec's and
   * MSC2545's): the account data listing the pack rooms, and the pack state of each room the owner is in.
   */
  const readImagePacks = async () => {
    const joined = json(await call(ctx.nginx, "GET", "/_matrix/client/v3/joined_rooms", ctx.token())).joined_rooms as string[];
    const roomStates = new Map<string, { type: string; content: RoomEmotes }[]>();
    for (const room of joined) roomStates.set(room, json(await call(ctx.nginx, "GET", `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/state`, ctx.token())));
    const forms = [];
    for (const f of IMAGE_PACK_FORMS) {
      const got = await call(ctx.nginx, "GET", `/_matrix/client/v3/user/${encodeURIComponent(owner)}/account_data/${f.rooms}`, ctx.token());
      const rooms = got.status === 404 ? {} : (json(got) as EmoteRooms);
      const state = new Map<string, RoomEmotes>();
      for (const [room, events] of roomStates) {
        const packEvent = events.find((e) => e.type === f.state && Object.keys(e.content).length > 0);
        if (packEvent) state.set(room, packEvent.content);
      }
      forms.push({ names: f, list: rooms, state });
    }
    return forms;
  };
  /** Both forms list exactly `rooms` and hold `content` as the pack state of `room`. */
  const assertImagePacks = async (rooms: EmoteRooms["rooms"], room: string, content: RoomEmotes, why: string) => {
    for (const form of await readImagePacks()) {
      assert.deepEqual(form.list, { rooms }, `${form.names.rooms}: ${why}`);
      assert.deepEqual(form.state.get(room), content, `${form.names.state}: ${why}`);
    }
  };
  /** A pack the owner has from elsewhere, in both account-data events before the kit writes either: it must stay. */
  const ELSEWHERE = { "!elsewhere:other.example": { "": {} } };
  const stickers = (...args: string[]) =>
    operatorCommand("stickers", s.stack, stackDir, args, 300_000);


  test("npm run stickers over ssh: a folder becomes a protected pack of the owner's, a second add uploads nothing, list, remove; the owner's account data names the kit's picker; a bad folder touches nothing", async () => {
    stackDir = ownerStackDir(ctx, s.stack, "stickers");
    for (const f of IMAGE_PACK_FORMS) {
      const put = await call(ctx.nginx, "PUT", `/_matrix/client/v3/user/${encodeURIComponent(owner)}/account_data/${f.rooms}`, ctx.token(), { rooms: ELSEWHERE });
      assert.equal(put.status, 200, put.body.toString());
    }

    const add = stickers("add", FIXTURES, "--pack", "e2e-pack");
    assert.equal(add.status, 0, add.stdout + add.stderr);
    assert.match(add.stdout, /skipping 1 file\(s\) that are not png, gif, webp or jpg: README\.txt/);
    assert.match(add.stdout, /pack "e2e-pack": 4 image\(s\) in .*, 0 already in the pack unchanged, 4 to upload/);
    assert.match(add.stdout, /\[4\/4\] happy\.png: 320x320 image\/png \d+ bytes -> mxc:\/\/e2e\.localhost\/\S+ \(protected\)/);
    ctx.summary.push("", "npm run stickers -- --stack e2e add test/fixtures/stickers/e2e-pack --pack e2e-pack", ...add.stdout.trimEnd().split("\n").map((l) => `  ${l}`));

    let pack = readPack("e2e-pack");
    assert.deepEqual(pack.stickers.map((x) => [x.id, x.info.w, x.info.h, x.info.mimetype]), [
      ["blush.jpg", 128, 128, "image/jpeg"],
      ["cool.webp", 200, 160, "image/webp"],
      ["frog.gif", 96, 96, "image/gif"],
      ["happy.png", 256, 256, "image/png"],
    ]);
    // Uploaded as the owner, each protected, each downloadable byte-identical through nginx.
    const media = json(await call(synapse, "GET", `/_synapse/admin/v1/users/${encodeURIComponent(owner)}/media?limit=100`, ctx.token())).media as { media_id: string; safe_from_quarantine: boolean }[];
    for (const st of pack.stickers) {
      const id = st.url.split("/").pop();
      assert.equal(media.find((m) => m.media_id === id)?.safe_from_quarantine, true, `${st.id} is the owner's and protected`);
      const got = await download(st.url);
      assert.equal(got.status, 200);
      assert.ok(got.body.equals(fs.readFileSync(`${FIXTURES}/${st.id}`)), `${st.id} downloads byte-identical`);
      assert.ok(fs.readFileSync(`${packsDir}/${st.file}`).equals(fs.readFileSync(`${FIXTURES}/${st.id}`)), `${st.id} is beside the pack for the widget`);
    }
    // The picker as Element's own writer registers it: creator and id in the content, the theme
    // variable and the packs' revision in the URL.
    const widgets = json(await call(ctx.nginx, "GET", `/_matrix/client/v3/user/${encodeURIComponent(owner)}/account_data/m.widgets`, ctx.token()));
    assert.deepEqual(widgets[STICKER_WIDGET_ID].content, {
      type: "m.stickerpicker",
      url: stickerWidgetTemplateUrl(s, packsRevision({ packs: ["e2e-pack"] }, new Map([["e2e-pack", pack]]))),
      name: "Stickers",
      data: {},
      waitForIframeLoad: true,
      creatorUserId: owner,
      id: STICKER_WIDGET_ID,
    });
    // The same pack as an image pack, under the spec's names and MSC2545's: a room of the owner's,
    // listed in both account-data events beside the pack from elsewhere.
    await assertImagePacks({ ...ELSEWHERE, [pack.imagePackRoom!]: { "e2e-pack": {} } }, pack.imagePackRoom!, roomEmotes(pack), "after add");
    assert.deepEqual(Object.keys(roomEmotes(pack).images), ["blush", "cool", "frog", "happy"]);
    assert.match(add.stdout, /image pack \(for Cinny, FluffyChat, Nheko\): room !\S+, listed in @owner:e2e\.localhost's m\.image_pack\.rooms and im\.ponies\.emote_rooms/);
    ctx.summary.push(
      "image packs as read back from Synapse (the pack from elsewhere kept):",
      ...(await readImagePacks()).map((f) => `  ${f.names.rooms}: ${JSON.stringify(f.list)}; ${f.names.state}/e2e-pack images: ${JSON.stringify(Object.keys(f.state.get(pack.imagePackRoom!)?.images ?? {}))}`),
    );

    // The admin account's token is kept on the host (root only) and reused: Synapse refuses a
    // fourth password login of an account within minutes, and the upkeep job runs every minute here.
    assert.equal(fs.statSync(adminTokenPath(s)).mode & 0o777, 0o600);
    const again = stickers("add", FIXTURES, "--pack", "e2e-pack");
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /4 already in the pack unchanged, 0 to upload/);
    assert.deepEqual(readPack("e2e-pack"), pack, "adding the same folder again changes nothing");

    // A sticker whose media the server lost (deleted here by hand) is uploaded again by the next add.
    const lost = pack.stickers.find((x) => x.id === "frog.gif")!;
    const del = await call(synapse, "DELETE", `/_synapse/admin/v1/media/${s.domain}/${lost.url.split("/").pop()}`, ctx.token());
    assert.equal(del.status, 200, del.body.toString());
    const healed = stickers("add", FIXTURES, "--pack", "e2e-pack");
    assert.equal(healed.status, 0, healed.stderr);
    assert.match(healed.stdout, /3 already in the pack unchanged, 1 to upload\n\s+\[1\/1\] frog\.gif:/);
    const repacked = readPack("e2e-pack");
    assert.notEqual(repacked.stickers.find((x) => x.id === "frog.gif")!.url, lost.url);
    assert.deepEqual(repacked.stickers.map((x) => x.id), pack.stickers.map((x) => x.id), "replaced in place");
    assert.equal(repacked.imagePackRoom, pack.imagePackRoom, "the image pack stays in its room");
    await assertImagePacks({ ...ELSEWHERE, [pack.imagePackRoom!]: { "e2e-pack": {} } }, pack.imagePackRoom!, roomEmotes(repacked), "the image pack follows the new media");
    pack = repacked;

    const other = stickers("add", FIXTURES, "--pack", "second");
    assert.equal(other.status, 0, other.stderr);
    const secondRoom = readPack("second").imagePackRoom!;
    for (const form of await readImagePacks()) assert.deepEqual(Object.keys(form.list.rooms!), [...Object.keys(ELSEWHERE), pack.imagePackRoom, secondRoom], form.names.rooms);
    const list = stickers("list");
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /^e2e-pack\s+4\s+[\d.]+ MiB  e2e-pack$/m);
    assert.match(list.stdout, /^second\s+4 /m);
    const removed = stickers("remove", "second");
    assert.equal(removed.status, 0, removed.stderr);
    assert.match(removed.stdout, /pack "second" removed from the picker and the image packs \(4 sticker\(s\)\)/);
    await assertImagePacks({ ...ELSEWHERE, [pack.imagePackRoom!]: { "e2e-pack": {} } }, pack.imagePackRoom!, roomEmotes(pack), "the removed pack's room is off the owner's lists, the others kept");
    for (const form of await readImagePacks()) assert.equal(form.state.has(secondRoom), false, `${form.names.state}: the owner left the removed pack's room`);
    assert.deepEqual(JSON.parse(fs.readFileSync(`${packsDir}/index.json`, "utf8")), { packs: ["e2e-pack"] });
    assert.equal(fs.existsSync(`${packsDir}/second.json`), false);

    // A folder with a broken image: refused before anything is uploaded or written.
    const bad = fs.mkdtempSync(`${ctx.e2eDir}/bad-stickers-`);
    fs.copyFileSync(`${FIXTURES}/happy.png`, `${bad}/ok.png`);
    fs.writeFileSync(`${bad}/broken.webp`, "not an image");
    const before = fs.readFileSync(`${packsDir}/index.json`, "utf8");
    const refused = stickers("add", bad);
    assert.equal(refused.status, 2, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /nothing uploaded: broken\.webp: not a readable image/);
    assert.equal(fs.readFileSync(`${packsDir}/index.json`, "utf8"), before);
    fs.rmSync(bad, { recursive: true, force: true });
  });


  test("the sticker picker driven by Element's own widget code (matrix-widget-api's ClientWidgetApi, bundled from npm) in Debian's chromium: no prompt, versions and theme answered, a pack added while the picker is open shows when it is shown again, a click sends m.sticker with a body, and an Element Desktop parentUrl (vector://) works", async () => {
    const { default: puppeteer } = await import("puppeteer-core");
    const { build } = await import("esbuild");
    const bundle = await build({ entryPoints: [`${__dirname}/widget-host/element-host.ts`], bundle: true, format: "iife", platform: "browser", write: false, logLevel: "silent" });
    const pack = readPack("e2e-pack");
    const happy = pack.stickers.find((x) => x.id === "happy.png")!;
    // The widget as the owner's client reads it back from Synapse.
    const entry = json(await call(ctx.nginx, "GET", `/_matrix/client/v3/user/${encodeURIComponent(owner)}/account_data/m.widgets`, ctx.token()))[STICKER_WIDGET_ID];
    // As Element reads an m.widgets entry; the page the widget is served from, through the e2e's host nginx on its port.
    assert.ok(entry.content.url.startsWith(stickerWidgetUrl(s)), entry.content.url);
    const definition = { ...entry.content, id: entry.id, url: entry.content.url.replace(stickerWidgetUrl(s), `http://${s.matrixHost}:${ctx.nginx.port}/stickers/`) };
    const port = await freePort();
    const server = http.createServer((req, res) => {
      const script = req.url === "/element-host.js";
      res.setHeader("Content-Type", script ? "text/javascript" : "text/html");
      res.end(script ? bundle.outputFiles[0].contents : `<!doctype html><html><head><title>Element (imitated around the real ClientWidgetApi)</title><style>body{margin:0}iframe{border:0;width:420px;height:460px}</style></head><body><script src="/element-host.js"></script></body></html>`);
    });
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
    // *.localhost resolves to loopback in chromium.
    const browser = await puppeteer.launch({ executablePath: "/usr/bin/chromium", headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
    const open = async (theme: string, parentUrl?: string) => {
      const page = await browser.newPage();
      await page.setViewport({ width: 420, height: 460 });
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.evaluate((d, o) => void window.kitHost.start(d, o), definition, { userId: owner, theme, parentUrl });
      await page.waitForFunction("window.kitHost.state.notified", { timeout: 30_000 });
      const frame = page.frames().find((f) => f.url().startsWith(`http://${s.matrixHost}`))!;
      assert.ok(frame, "the widget's frame");
      return { page, frame, state: () => page.evaluate("window.kitHost.state") as Promise<{ requested: string[]; wouldPrompt: string[]; stickers: { content: unknown }[]; warnings: string[]; frameUrl: string }> };
    };
    const clickSticker = async (p: Awaited<ReturnType<typeof open>>, mxc: string) => {
      await p.frame.waitForSelector(`button[data-mxc="${mxc}"] img`, { timeout: 30_000 });
      const before = (await p.state()).stickers.length;
      await p.frame.click(`button[data-mxc="${mxc}"]`);
      await p.page.waitForFunction(`window.kitHost.state.stickers.length > ${before}`, { timeout: 30_000 });
      return (await p.state()).stickers[before];
    };
    try {
      const element = await open("light");
      const first = await element.state();
      assert.deepEqual(first.requested, ["m.sticker"], "the widget asks for exactly m.sticker");
      assert.deepEqual(first.wouldPrompt, [], "nothing Element would prompt the owner for");
      assert.match(first.frameUrl, /\/stickers\/\?theme=light&packs=[0-9a-f]{12}&widgetId=matrix-kit-stickers&parentUrl=/, "Element's template filled the theme in");
      assert.deepEqual(await element.page.evaluate("window.kitHost.api.getWidgetVersions()"), ["0.0.1", "0.0.2"]);
      assert.deepEqual((await element.state()).warnings, [], "the client logged no widget API warning");
      assert.equal(await element.frame.evaluate("document.documentElement.dataset.theme"), "light");

      // Element's Stickerpicker opens the picker (visibility), the owner clicks a sticker.
      await element.page.evaluate("window.kitHost.api.updateVisibility(true)");
      await element.frame.waitForFunction("[...document.images].length === 4 && [...document.images].every((i) => i.complete && i.naturalWidth > 0)", { timeout: 30_000 });
      const sent = await clickSticker(element, happy.url);
      assert.deepEqual(sent, { name: "happy", description: "happy", content: { body: "happy", url: happy.url, info: { w: 256, h: 256, size: fs.statSync(`${FIXTURES}/happy.png`).size, mimetype: "image/png" } } });
      await element.frame.waitForFunction("document.getElementById('status').textContent === 'Sent happy.'", { timeout: 10_000 });

      // The owner switches Element to its dark theme.
      await element.page.evaluate("window.kitHost.api.updateTheme({ name: 'dark' })");
      assert.equal(await element.frame.evaluate("document.documentElement.dataset.theme"), "dark");
      assert.equal(await element.frame.evaluate("getComputedStyle(document.body).colorScheme"), "dark");

      // A pack added while Element is open: the picker is closed (its frame kept, as Element keeps
      // it), the pack added, the picker opened again: the new pack is there without a reload.
      await element.page.evaluate("window.kitHost.api.updateVisibility(false)");
      const later = stickers("add", FIXTURES, "--pack", "later");
      assert.equal(later.status, 0, later.stderr);
      await element.page.evaluate("window.kitHost.api.updateVisibility(true)");
      await element.frame.waitForSelector('section[data-pack="later"] button.sticker', { timeout: 30_000 });
      assert.equal(await element.frame.$$eval('section[data-pack="later"] button.sticker', (b) => b.length), 4);
      await element.frame.waitForFunction("[...document.images].every((i) => i.complete && i.naturalWidth > 0)", { timeout: 30_000 });
      const shot = `${ctx.e2eDir}/artifacts/sticker-picker.png`;
      fs.mkdirSync(`${ctx.e2eDir}/artifacts`, { recursive: true });
      await element.page.screenshot({ path: shot });
      const laterHappy = readPack("later").stickers.find((x) => x.id === "happy.png")!;
      assert.equal(((await clickSticker(element, laterHappy.url)) as { content: { url: string } }).content.url, laterHappy.url);
      assert.equal(stickers("remove", "later").status, 0);

      // Element Desktop: parentUrl on vector://, whose origin the browser gives as "null".
      const desktop = await open("dark", "vector://vector/webapp/");
      await desktop.page.evaluate("window.kitHost.api.updateVisibility(true)");
      assert.equal(((await clickSticker(desktop, happy.url)) as { content: { url: string } }).content.url, happy.url);

      ctx.summary.push("", `sticker picker driven by matrix-widget-api's ClientWidgetApi in chromium: requested ${JSON.stringify(first.requested)}, no prompt; versions answered; theme light -> dark followed; a pack added while open shown on the next open; click sent ${JSON.stringify(sent)}; vector:// parentUrl works; screenshot ${shot}`);
    } finally {
      await browser.close();
      server.close();
    }
  });
}
