/**
 * The owner as a Matrix client through nginx on the e2e deployment, registered inside the e2e
 * suite's describe: registered with the shared secret as the README says, logged in, a message
 * sent and read back through /sync; then media uploads at and over nginx's and Synapse's limit.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { test } from "node:test";
import type { Settings } from "../../infra/settings";
import { json, type Answer } from "../harness/http";
import { docker } from "../harness/wait";

/** A call to Synapse through nginx, as the owner's client makes it. */
export type MatrixCall = (method: string, path: string, token?: string, body?: unknown, extra?: Partial<{ raw: Buffer; type: string }>) => Promise<Answer>;

/** The owner registers and logs in; the suite keeps their token for every later check. */
export function ownerLoginTest(ctx: { s: Settings; matrix: MatrixCall; setToken: (token: string) => void }): void {
  const { s, matrix } = ctx;
  test("a user registered with the shared secret logs in, creates a room, sends and reads back through /sync", async () => {
    const password = randomBytes(12).toString("hex");
    // What the README tells the owner to run: the shared-secret registration inside the container.
    docker("exec", `${s.namePrefix}-synapse`, "register_new_matrix_user", "-u", s.admin, "-p", password, "-a", "-c", "/config/homeserver.yaml", "http://localhost:8008");
    const login = await matrix("POST", "/_matrix/client/v3/login", undefined, {
      type: "m.login.password", identifier: { type: "m.id.user", user: s.admin }, password,
    });
    assert.equal(login.status, 200, login.body.toString());
    const token = json(login).access_token as string;
    ctx.setToken(token);
    assert.equal(json(login).user_id, `@${s.admin}:${s.domain}`);
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

  test("a 60 MB upload gets a clear 413 (no hang, no reset)", async () => {
    const up = await matrix("POST", "/_matrix/media/v3/upload?filename=too-big.bin", ctx.token(), undefined, {
      raw: Buffer.alloc(60 * 1024 * 1024, 1), type: "application/octet-stream",
    });
    assert.equal(up.status, 413);
  });
}
