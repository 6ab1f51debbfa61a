/**
 * The owner as a Matrix client through nginx on the e2e deployment, registered inside the e2e
 * suite's describe: the account `pulumi up` made, signed in with the stack's first password, a
 * message sent and read back through /sync; then media uploads at and over nginx's and Synapse's limit.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { test } from "node:test";
import type { Settings } from "../../infra/settings";
import jpeg from "jpeg-js";
import { json, type Answer } from "../harness/http";
import { makePhoto } from "../harness/photos";

/** A call to Synapse through nginx, as the owner's client makes it. */
export type MatrixCall = (method: string, path: string, token?: string, body?: unknown, extra?: Partial<{ raw: Buffer; type: string }>) => Promise<Answer>;

/** The owner signs in; the suite keeps their token for every later check. */
export function ownerLoginTest(ctx: { s: Settings; matrix: MatrixCall; setToken: (token: string) => void; ownerPassword: () => string; ownerProgram: () => { command: string; stdin: string } }): void {
  const { s, matrix } = ctx;
  const login = (password: string) => matrix("POST", "/_matrix/client/v3/login", undefined, { type: "m.login.password", identifier: { type: "m.id.user", user: s.admin }, password });
  test("the owner's account, made by pulumi up: signs in as Element does with the first password from the stack's outputs, an admin; creates a room, sends and reads back through /sync; the kit never touches it again", async () => {
    const first = await login(ctx.ownerPassword());
    assert.equal(first.status, 200, first.body.toString());
    const token = json(first).access_token as string;
    ctx.setToken(token);
    assert.equal(json(first).user_id, `@${s.admin}:${s.domain}`);
    // Synapse's admin API is not proxied (docs/security.md): asked inside its container, as the owner.
    const user = execFileSync("docker", ["exec", `${s.namePrefix}-synapse`, "curl", "-fsS", "-H", `Authorization: Bearer ${token}`, `http://localhost:8008/_synapse/admin/v2/users/${encodeURIComponent(`@${s.admin}:${s.domain}`)}`], { encoding: "utf8" });
    assert.equal(JSON.parse(user).admin, true, "an admin");
    const room = await matrix("POST", "/_matrix/client/v3/createRoom", token, { name: "e2e" });
    assert.equal(room.status, 200, room.body.toString());
    const roomId = json(room).room_id as string;
    const text = `hello from e2e ${Date.now()}`;
    const sent = await matrix("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/t1`, token, { msgtype: "m.text", body: text });
    assert.equal(sent.status, 200, sent.body.toString());
    const sync = await matrix("GET", "/_matrix/client/v3/sync?timeout=0", token);
    assert.equal(sync.status, 200);
    const events = json(sync).rooms.join[roomId].timeline.events as { type: string; content: { body?: string } }[];
    assert.ok(events.some((e) => e.type === "m.room.message" && e.content.body === text), "the message comes back through /sync");

    // The owner changes the password (as Element's settings do); the kit's step, run again, leaves the account as it is.
    const changed = randomBytes(12).toString("hex");
    const auth = { type: "m.login.password", identifier: { type: "m.id.user", user: s.admin }, password: ctx.ownerPassword() };
    const set = await matrix("POST", "/_matrix/client/v3/account/password", token, { new_password: changed, logout_devices: false, auth });
    assert.equal(set.status, 200, set.body.toString());
    const again = ctx.ownerProgram();
    const out = execFileSync("sh", ["-c", again.command], { input: again.stdin, encoding: "utf8", timeout: 120_000 });
    assert.match(out, new RegExp(`^matrix-kit: @${s.admin}:${s.domain.replace(/\./g, "\\.")} exists: left as it is$`, "m"));
    assert.equal((await login(changed)).status, 200, "the owner's own password still works");
    assert.equal((await login(ctx.ownerPassword())).status, 403, "the first one no longer does");
  });
}

/** A 45 MB upload goes through and comes back byte-identical; 60 MB gets a clear 413. */
export function uploadTests(ctx: { matrix: MatrixCall; token: () => string }): void {
  const { matrix } = ctx;
  test("a 45 MB upload succeeds through nginx and downloads byte-identical", async () => {
    const token = ctx.token();
    assert.ok(token, "needs the logged-in user");
    const data = randomBytes(45 * 1024 * 1024);
    const up = await matrix("POST", "/_matrix/media/v3/upload?filename=big.bin", token, undefined, { raw: data, type: "application/octet-stream" });
    assert.equal(up.status, 200, up.body.toString().slice(0, 300));
    const mxc = json(up).content_uri as string;
    const [server, mediaId] = mxc.slice("mxc://".length).split("/");
    const down = await matrix("GET", `/_matrix/client/v1/media/download/${server}/${mediaId}`, token);
    assert.equal(down.status, 200);
    assert.equal(createHash("sha256").update(down.body).digest("hex"), createHash("sha256").update(data).digest("hex"));
  });

  test("a photo gets only the kit's two thumbnails, and Element's sizes are answered from them", async () => {
    const token = ctx.token();
    const photo = makePhoto(250_000);
    const up = await matrix("POST", "/_matrix/media/v3/upload?filename=photo.jpg", token, undefined, { raw: photo.data, type: "image/jpeg" });
    assert.equal(up.status, 200, up.body.toString().slice(0, 300));
    const [server, mediaId] = (json(up).content_uri as string).slice("mxc://".length).split("/");
    const thumbnail = async (width: number, height: number, method: string) => {
      const r = await matrix("GET", `/_matrix/client/v1/media/thumbnail/${server}/${mediaId}?width=${width}&height=${height}&method=${method}`, token);
      assert.equal(r.status, 200, `${width}x${height} ${method}: ${r.body.toString().slice(0, 200)}`);
      const image = jpeg.decode(r.body);
      return `${image.width}x${image.height}`;
    };
    // The timeline's (Element: 800x600 scaled): the photo's 4:3 fits it exactly.
    assert.equal(await thumbnail(800, 600, "scale"), "800x600");
    // Synapse's defaults would have a 320x240 and a 32x32 of their own; the kit's answer with the nearest larger.
    assert.equal(await thumbnail(320, 240, "scale"), "800x600");
    assert.equal(await thumbnail(32, 32, "crop"), "96x96");
  });

  test("a 60 MB upload gets a clear 413 (no hang, no reset)", async () => {
    const up = await matrix("POST", "/_matrix/media/v3/upload?filename=too-big.bin", ctx.token(), undefined, {
      raw: Buffer.alloc(60 * 1024 * 1024, 1), type: "application/octet-stream",
    });
    assert.equal(up.status, 413);
  });
}
