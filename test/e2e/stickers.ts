/**
 * Stickers on the e2e deployment (issue 9), registered inside the e2e suite's describe:
 *   - `npm run stickers` over real ssh: a pack uploaded as the owner, protected, merged again
 *     without duplicates, listed, a second pack removed, a bad folder refused touching nothing;
 *   - the widget page in Debian's chromium (puppeteer-core), inside a test parent page that plays
 *     the client's side of the widget API: handshake, then a click sends m.sticker.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import { test } from "node:test";
import { STICKER_WIDGET_ID, stickerWidgetUrl } from "../../infra/render/stickers";
import { adminTokenPath } from "../../infra/render/upkeep";
import { freePort, json } from "../harness/http";
import { FIXTURES, kitHelpers, type KitContext } from "./kit-context";

export function stickerTests(ctx: KitContext): void {
  const { s } = ctx;
  const { owner, packsDir, synapse, call, download, readPack } = kitHelpers(ctx);
  let stackDir = "";
  const stickers = (...args: string[]) =>
    spawnSync("node", ["--import", "tsx", "infra/cli/stickers.ts", "--stack", s.stack, "--stack-dir", stackDir, ...args], { encoding: "utf8", timeout: 300_000 });


  test("npm run stickers over ssh: a folder becomes a protected pack of the owner's, a second add uploads nothing, list, remove; the owner's account data names the kit's picker; a bad folder touches nothing", async () => {
    stackDir = fs.mkdtempSync(`${ctx.e2eDir}/stickers-stack-`);
    fs.writeFileSync(`${stackDir}/Pulumi.${s.stack}.yaml`, fs.readFileSync(`stacks/Pulumi.${s.stack}.yaml`, "utf8").replace(/hostKey: .*/, `hostKey: ${ctx.hostKey}`));

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
    const widgets = json(await call(ctx.nginx, "GET", `/_matrix/client/v3/user/${encodeURIComponent(owner)}/account_data/m.widgets`, ctx.token()));
    assert.equal(widgets[STICKER_WIDGET_ID].content.type, "m.stickerpicker");
    assert.equal(widgets[STICKER_WIDGET_ID].content.url, stickerWidgetUrl(s));

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
    pack = repacked;

    const other = stickers("add", FIXTURES, "--pack", "second");
    assert.equal(other.status, 0, other.stderr);
    const list = stickers("list");
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /^e2e-pack\s+4\s+[\d.]+ MiB  e2e-pack$/m);
    assert.match(list.stdout, /^second\s+4 /m);
    const removed = stickers("remove", "second");
    assert.equal(removed.status, 0, removed.stderr);
    assert.match(removed.stdout, /pack "second" removed from the picker \(4 sticker\(s\)\)/);
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


  test("the sticker picker in Debian's chromium: a test parent page plays the client's widget API; the handshake completes; a click sends m.sticker with the sticker's mxc URL and info", async () => {
    const { default: puppeteer } = await import("puppeteer-core");
    const pack = readPack("e2e-pack");
    const happy = pack.stickers.find((x) => x.id === "happy.png")!;
    const port = await freePort();
    const parentUrl = `http://127.0.0.1:${port}/parent.html`;
    const widgetUrl = `http://${s.matrixHost}:${ctx.nginx.port}/stickers/?widgetId=${STICKER_WIDGET_ID}&parentUrl=${encodeURIComponent(parentUrl)}`;
    const server = http.createServer((_req, res) => {
      res.setHeader("Content-Type", "text/html");
      res.end(parentPage(widgetUrl, STICKER_WIDGET_ID, `http://${s.matrixHost}:${ctx.nginx.port}`));
    });
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
    // *.localhost resolves to loopback in chromium: the page is served by the e2e's host nginx.
    const browser = await puppeteer.launch({ executablePath: "/usr/bin/chromium", headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
    try {
      const page = await browser.newPage();
      await page.setViewport({ width: 420, height: 360 });
      await page.goto(parentUrl);
      const handshake = await page.waitForFunction("window.kit && window.kit.approved && window.kit.capabilities", { timeout: 30_000 }).then((h) => h.jsonValue());
      assert.deepEqual(handshake, ["m.sticker"], "the widget asked for exactly m.sticker");
      const frame = page.frames().find((f) => f.url().startsWith(`http://${s.matrixHost}`))!;
      assert.ok(frame, "the widget's frame");
      await frame.waitForSelector(`button[data-mxc="${happy.url}"] img`, { timeout: 30_000 });
      await frame.waitForFunction("[...document.images].every((i) => i.complete && i.naturalWidth > 0)", { timeout: 30_000 });
      assert.equal(await frame.$$eval("button.sticker", (b) => b.length), 4);
      await frame.click(`button[data-mxc="${happy.url}"]`);
      const sent = await page.waitForFunction("window.kit.stickers.length > 0 && window.kit.stickers[0]", { timeout: 30_000 }).then((h) => h.jsonValue());
      assert.deepEqual(sent, {
        api: "fromWidget",
        widgetId: STICKER_WIDGET_ID,
        requestId: (sent as { requestId: string }).requestId,
        action: "m.sticker",
        data: { name: "happy", description: "happy", content: { url: happy.url, info: { w: 256, h: 256, size: fs.statSync(`${FIXTURES}/happy.png`).size, mimetype: "image/png" } } },
      });
      await frame.waitForFunction("document.getElementById('status').textContent === 'Sent happy.'", { timeout: 10_000 });
      const shot = `${ctx.e2eDir}/artifacts/sticker-picker.png`;
      fs.mkdirSync(`${ctx.e2eDir}/artifacts`, { recursive: true });
      await page.screenshot({ path: shot });
      ctx.summary.push("", `sticker picker in chromium: handshake ${JSON.stringify(handshake)}; click sent m.sticker ${happy.url} ${JSON.stringify((sent as { data: { content: { info: unknown } } }).data.content.info)}; screenshot ${shot}`);
    } finally {
      await browser.close();
      server.close();
    }
  });

}

/** The client's side of the widget API, as Element plays it: capabilities, then notify_capabilities; m.sticker requests recorded and acknowledged. */
function parentPage(widgetUrl: string, widgetId: string, widgetOrigin: string): string {
  return `<!doctype html><html><head><title>widget host</title><style>body{margin:0}iframe{border:0;width:420px;height:360px}</style></head><body>
<iframe id="w" src="${widgetUrl}"></iframe>
<script>
window.kit = { stickers: [], capabilities: null, approved: false };
const frame = document.getElementById("w");
const send = (msg) => frame.contentWindow.postMessage(msg, ${JSON.stringify(widgetOrigin)});
window.addEventListener("message", (ev) => {
  if (ev.origin !== ${JSON.stringify(widgetOrigin)}) return;
  const msg = ev.data;
  if (msg.api === "toWidget" && msg.response) {
    if (msg.action === "capabilities") {
      window.kit.capabilities = msg.response.capabilities;
      send({ api: "toWidget", widgetId: ${JSON.stringify(widgetId)}, requestId: "notify-1", action: "notify_capabilities", data: { requested: msg.response.capabilities, approved: msg.response.capabilities } });
    } else if (msg.action === "notify_capabilities") {
      window.kit.approved = true;
    }
  } else if (msg.api === "fromWidget" && !msg.response) {
    if (msg.action === "m.sticker") window.kit.stickers.push(msg);
    frame.contentWindow.postMessage({ ...msg, response: {} }, ${JSON.stringify(widgetOrigin)});
  }
});
// waitForIframeLoad: the client starts the handshake once the frame has loaded.
frame.addEventListener("load", () => send({ api: "toWidget", widgetId: ${JSON.stringify(widgetId)}, requestId: "caps-1", action: "capabilities", data: {} }));
</script></body></html>`;
}
