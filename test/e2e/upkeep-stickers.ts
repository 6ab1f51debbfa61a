/**
 * Issue 9 on the e2e deployment: the upkeep job and the stickers, registered inside the e2e
 * suite's describe.
 *   - cron starts the job on its schedule (the e2e stack runs it every minute) and it logs;
 *   - `npm run stickers` over real ssh: a pack uploaded as the owner, protected, merged again
 *     without duplicates, listed, a second pack removed, a bad folder refused touching nothing;
 *   - the widget page in Debian's chromium (puppeteer-core), inside a test parent page that plays
 *     the client's side of the widget API: handshake, then a click sends m.sticker;
 *   - one run of the job by hand with a test-only one-second bridged-media lifetime: a ghost's
 *     media gone, a protected ghost upload, the owner's upload and every sticker intact.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import { test } from "node:test";
import type { Pack } from "../../infra/ops/stickers/packs";
import { STICKER_WIDGET_ID, stickerWidgetUrl } from "../../infra/render/stickers";
import { upkeepCronPath, upkeepLogPath } from "../../infra/render/upkeep";
import type { Secrets } from "../../infra/secrets";
import { enabledBridges, hostPath, type Settings } from "../../infra/settings";
import { freePort, json, request, type Answer } from "../harness/http";

export interface UpkeepContext {
  s: Settings;
  nginx: { host: string; port: number };
  e2eDir: string;
  /** The run's host key, for a stack file as the owner keeps it. */
  hostKey: string;
  secrets: () => Secrets;
  /** The owner's access token (an admin: registered with -a). */
  token: () => string;
  summary: string[];
  poll: <T>(what: string, timeoutMs: number, f: () => Promise<T | undefined>) => Promise<T>;
  /** The owner pings a bridge's bot in their direct chat (made on first use): true when it answers. */
  botAnswers: (kind: "qq" | "wechat") => Promise<true | undefined>;
}

const FIXTURES = "test/fixtures/stickers/e2e-pack";
const enabledBots = (s: Settings) => enabledBridges(s).map((b) => `@${b.botLocalpart}:${s.domain}`);
const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

export function upkeepAndStickerTests(ctx: UpkeepContext): void {
  const { s } = ctx;
  const owner = `@${s.admin}:${s.domain}`;
  const packsDir = hostPath(s, "stickers", "packs");
  /** Synapse's own port on the host's loopback: the admin API is not proxied. */
  const synapse = { host: "127.0.0.1", port: s.synapse.hostPort };
  const call = (where: { host: string; port: number }, method: string, path: string, token?: string, body?: unknown, raw?: { bytes: Buffer; type: string }): Promise<Answer> => {
    const payload = raw?.bytes ?? (body === undefined ? undefined : Buffer.from(JSON.stringify(body)));
    return request({
      ...where,
      method,
      path,
      headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(payload ? { "Content-Type": raw?.type ?? "application/json" } : {}) },
      body: payload,
      timeoutMs: 60_000,
    });
  };
  const download = (mxc: string) => call(ctx.nginx, "GET", `/_matrix/client/v1/media/download/${mxc.slice("mxc://".length)}`, ctx.token());
  const readPack = (id: string) => JSON.parse(fs.readFileSync(`${packsDir}/${id}.json`, "utf8")) as Pack;

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

    const pack = readPack("e2e-pack");
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

    const again = stickers("add", FIXTURES, "--pack", "e2e-pack");
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /4 already in the pack unchanged, 0 to upload/);
    assert.deepEqual(readPack("e2e-pack"), pack, "adding the same folder again changes nothing");

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

  test("upkeep: cron runs the job on its schedule and every run is logged", async () => {
    assert.match(fs.readFileSync(upkeepCronPath(s), "utf8"), /^\* \* \* \* \* root \S+\/upkeep\/run\.sh --scheduled$/m);
    const runLog = await ctx.poll("a scheduled upkeep run to finish", 150_000, async () => {
      const text = fs.existsSync(upkeepLogPath(s)) ? fs.readFileSync(upkeepLogPath(s), "utf8") : "";
      return /upkeep: run started by="cron"[\s\S]*upkeep summary \{.*"by": "cron"/.test(text) ? text : undefined;
    });
    const last = runLog.trimEnd().split("\n").filter((l) => l.startsWith("upkeep summary")).pop()!;
    assert.deepEqual(JSON.parse(last.slice("upkeep summary ".length)).failed, [], last);
  });

  test("upkeep: one run with a test-only 1 s bridged-media lifetime deletes a ghost's media; a protected ghost upload, the owner's upload and every sticker stay byte-identical; a run with a 1 s history lifetime purges bridged rooms' old messages", async () => {
    const sec = ctx.secrets();
    const ghost = `@qq_e2e_ghost_${Date.now()}:${s.domain}`;
    const reg = await call(ctx.nginx, "POST", "/_matrix/client/v3/register", sec.qq.asToken, { type: "m.login.application_service", username: ghost.slice(1).split(":")[0] });
    assert.equal(reg.status, 200, reg.body.toString());
    const up = async (token: string, as: string | undefined, bytes: Buffer) => {
      const r = await call(ctx.nginx, "POST", `/_matrix/media/v3/upload?filename=x.bin${as ? `&user_id=${encodeURIComponent(as)}` : ""}`, token, undefined, { bytes, type: "application/octet-stream" });
      assert.equal(r.status, 200, r.body.toString());
      return json(r).content_uri as string;
    };
    const bytes = { doomed1: randomBytes(600_000), doomed2: randomBytes(400_000), protectedGhost: randomBytes(300_000), owner: randomBytes(500_000) };
    const mxc = {
      doomed1: await up(sec.qq.asToken, ghost, bytes.doomed1),
      doomed2: await up(sec.qq.asToken, ghost, bytes.doomed2),
      protectedGhost: await up(sec.qq.asToken, ghost, bytes.protectedGhost),
      owner: await up(ctx.token(), undefined, bytes.owner),
    };
    const prot = await call(synapse, "POST", `/_synapse/admin/v1/media/protect/${mxc.protectedGhost.split("/").pop()}`, ctx.token(), {});
    assert.equal(prot.status, 200, prot.body.toString());
    await new Promise((r) => setTimeout(r, 2500));

    const out = execFileSync(hostPath(s, "upkeep", "run.sh"), ["--bridged-media-lifetime-seconds", "1"], { encoding: "utf8", timeout: 900_000 });
    const line = out.trimEnd().split("\n").filter((l) => l.startsWith("upkeep summary")).pop();
    assert.ok(line, out);
    const r = JSON.parse(line!.slice("upkeep summary ".length));
    assert.deepEqual(r.failed, [], out);
    assert.ok(r.media.bridged.deleted >= 2 && r.media.bridged.bytes >= bytes.doomed1.length + bytes.doomed2.length, JSON.stringify(r.media));
    assert.ok(r.media.bridged.protected >= 1, "the protected ghost upload was seen and kept");
    assert.deepEqual([r.media.localUsers.deleted, r.media.localUsers.bytes], [0, 0], "no lifetime for the owner's media: none deleted");
    assert.ok(r.stateCompression.rowsAfter <= r.stateCompression.rowsBefore, JSON.stringify(r.stateCompression));
    assert.ok(r.before.media.local - r.after.media.local >= bytes.doomed1.length + bytes.doomed2.length, "the media store shrank by the ghost's uploads");

    for (const k of ["doomed1", "doomed2"] as const) assert.equal((await download(mxc[k])).status, 404, `${k} (a ghost's) is gone`);
    for (const k of ["protectedGhost", "owner"] as const) {
      const got = await download(mxc[k]);
      assert.equal(got.status, 200, `${k} stays`);
      assert.ok(got.body.equals(bytes[k]), `${k} byte-identical`);
    }
    for (const st of readPack("e2e-pack").stickers) {
      const got = await download(st.url);
      assert.ok(got.status === 200 && got.body.equals(fs.readFileSync(`${FIXTURES}/${st.id}`)), `sticker ${st.id} stays byte-identical`);
    }
    // History retention (off by default): a second run with a test-only 1 s lifetime purges the
    // old messages of bridged rooms (the owner's direct chats with the bots, among others).
    // A direct chat with the QQ bot holding a ping and its answer (made here if no earlier test did).
    await ctx.poll("the QQ bot to answer", 60_000, () => ctx.botAnswers("qq"));
    const bots = enabledBots(s);
    const ownerRooms = new Set(json(await call(ctx.nginx, "GET", "/_matrix/client/v3/joined_rooms", ctx.token())).joined_rooms as string[]);
    const bridged: string[] = [];
    for (const bot of bots) {
      const rooms = json(await call(synapse, "GET", `/_synapse/admin/v1/users/${encodeURIComponent(bot)}/joined_rooms`, ctx.token())).joined_rooms as string[];
      bridged.push(...rooms.filter((r) => ownerRooms.has(r)));
    }
    assert.ok(bridged.length >= 1, "the owner has a direct chat with a bridge bot");
    const messages = async () => {
      let n = 0;
      for (const room of bridged) {
        const page = json(await call(ctx.nginx, "GET", `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/messages?dir=b&limit=500`, ctx.token()));
        n += (page.chunk as { type: string }[]).filter((e) => e.type === "m.room.message").length;
      }
      return n;
    };
    const beforeHistory = await messages();
    await new Promise((r) => setTimeout(r, 1500));
    const out2 = execFileSync(hostPath(s, "upkeep", "run.sh"), ["--history-lifetime-seconds", "1"], { encoding: "utf8", timeout: 900_000 });
    const r2 = JSON.parse(out2.trimEnd().split("\n").filter((l) => l.startsWith("upkeep summary")).pop()!.slice("upkeep summary ".length));
    assert.deepEqual(r2.failed, [], out2);
    assert.ok(r2.history.purged >= bridged.length, JSON.stringify(r2.history));
    const afterHistory = await messages();
    assert.ok(beforeHistory >= 2 && afterHistory < beforeHistory, `messages in the owner's bridged rooms: ${beforeHistory} -> ${afterHistory}`);
    ctx.summary.push(
      "",
      "upkeep run by hand (run.sh --bridged-media-lifetime-seconds 1):",
      `  media store: ${mib(r.before.media.total)} -> ${mib(r.after.media.total)} (local ${mib(r.before.media.local)} -> ${mib(r.after.media.local)}, remote ${mib(r.before.media.remote)} -> ${mib(r.after.media.remote)})`,
      `  database synapse: ${mib(r.before.database)} -> ${mib(r.after.database)}`,
      `  deleted ${r.media.bridged.deleted} bridged media, freed ${r.freedBytes} bytes (${mib(r.freedBytes)}); kept ${r.media.bridged.protected} protected bridged, ${r.media.localUsers.kept + r.media.localUsers.protected} of local users (${r.media.localUsers.protected} protected)`,
      `  state compression: state_groups_state rows ${r.stateCompression.rowsBefore} -> ${r.stateCompression.rowsAfter}; run took ${r.seconds} s`,
      `  the ghost's 2 uploads: 404 after the run; the protected ghost upload, the owner's upload and ${readPack("e2e-pack").stickers.length} stickers: byte-identical`,
    );
    ctx.summary.push(
      "",
      `upkeep run by hand (run.sh --history-lifetime-seconds 1): ${r2.history.purged} of ${r2.history.rooms} bridged rooms purged; messages in the owner's ${bridged.length} direct chats with the bots: ${beforeHistory} -> ${afterHistory}; database ${mib(r2.before.database)} -> ${mib(r2.after.database)}`,
    );
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
