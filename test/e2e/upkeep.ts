/**
 * The upkeep job on the e2e deployment, registered inside the e2e suite's describe:
 *   - cron starts it on its schedule (the e2e stack runs it every minute) and it logs;
 *   - one run by hand with a test-only one-second bridged-media lifetime: a ghost's media gone;
 *     a protected ghost upload, its avatars in use, the owner's upload and every sticker intact;
 *     then one with a one-second history lifetime: bridged rooms' old messages purged;
 *   - after the faults (the engine stopped and started), the next scheduled run succeeds.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { test } from "node:test";
import { lastUpkeepSummary, type UpkeepSummary } from "../../infra/ops/upkeep";
import { upkeepCronPath, upkeepLogPath } from "../../infra/render/upkeep";
import { enabledBridges, hostPath, type Settings } from "../../infra/settings";
import { json } from "../harness/http";
import { poll } from "../harness/wait";
import { FIXTURES, kitHelpers, mib, type KitContext } from "./kit-context";

const enabledBots = (s: Settings) => enabledBridges(s).map((b) => `@${b.botLocalpart}:${s.domain}`);

export function upkeepTests(ctx: KitContext): void {
  const { s } = ctx;
  const { synapse, call, download, readPack } = kitHelpers(ctx);
  /** One run of the job by hand, as run.sh is meant to be run; it must report every step done. */
  const runByHand = (...flags: string[]): Required<UpkeepSummary> => {
    const out = execFileSync(hostPath(s, "upkeep", "run.sh"), flags, { encoding: "utf8", timeout: 900_000 });
    const summary = lastUpkeepSummary(out);
    assert.ok(summary, out);
    assert.deepEqual(summary.failed, [], out);
    return summary as Required<UpkeepSummary>;
  };

  test("upkeep: cron runs the job on its schedule and every run is logged", async () => {
    assert.match(fs.readFileSync(upkeepCronPath(s), "utf8"), /^\* \* \* \* \* root \S+\/upkeep\/run\.sh --scheduled$/m);
    const runLog = await poll("a scheduled upkeep run to finish", 150_000, async () => {
      const text = fs.existsSync(upkeepLogPath(s)) ? fs.readFileSync(upkeepLogPath(s), "utf8") : "";
      return /upkeep: run started by="cron"[\s\S]*upkeep summary \{.*"by": "cron"/.test(text) ? text : undefined;
    });
    assert.deepEqual(lastUpkeepSummary(runLog)!.failed, [], runLog);
  });

  test("upkeep: one run with a test-only 1 s bridged-media lifetime deletes a ghost's media; a protected ghost upload, its avatars in use, the owner's upload and every sticker stay byte-identical; a run with a 1 s history lifetime purges bridged rooms' old messages", async () => {
    const sec = ctx.secrets();
    const ghost = `@qq_e2e_ghost_${Date.now()}:${s.domain}`;
    const reg = await call(ctx.nginx, "POST", "/_matrix/client/v3/register", sec.qq.asToken, { type: "m.login.application_service", username: ghost.slice(1).split(":")[0] });
    assert.equal(reg.status, 200, reg.body.toString());
    const up = async (token: string, as: string | undefined, bytes: Buffer) => {
      const r = await call(ctx.nginx, "POST", `/_matrix/media/v3/upload?filename=x.bin${as ? `&user_id=${encodeURIComponent(as)}` : ""}`, token, undefined, { bytes, type: "application/octet-stream" });
      assert.equal(r.status, 200, r.body.toString());
      return json(r).content_uri as string;
    };
    // A direct chat with the QQ bot holding a ping and its answer (made here if no earlier test did).
    await poll("the QQ bot to answer", 60_000, () => ctx.botAnswers("qq"));
    const bots = enabledBots(s);
    const ownerRooms = new Set(json(await call(ctx.nginx, "GET", "/_matrix/client/v3/joined_rooms", ctx.token())).joined_rooms as string[]);
    const bridged: string[] = [];
    for (const bot of bots) {
      const rooms = json(await call(synapse, "GET", `/_synapse/admin/v1/users/${encodeURIComponent(bot)}/joined_rooms`, ctx.token())).joined_rooms as string[];
      bridged.push(...rooms.filter((r) => ownerRooms.has(r)));
    }
    assert.ok(bridged.length >= 1, "the owner has a direct chat with a bridge bot");
    const bytes = {
      doomed1: randomBytes(600_000),
      doomed2: randomBytes(400_000),
      protectedGhost: randomBytes(300_000),
      ghostAvatar: randomBytes(20_000),
      roomAvatar: randomBytes(30_000),
      owner: randomBytes(500_000),
    };
    const mxc = {
      doomed1: await up(sec.qq.asToken, ghost, bytes.doomed1),
      doomed2: await up(sec.qq.asToken, ghost, bytes.doomed2),
      protectedGhost: await up(sec.qq.asToken, ghost, bytes.protectedGhost),
      ghostAvatar: await up(sec.qq.asToken, ghost, bytes.ghostAvatar),
      roomAvatar: await up(sec.qq.asToken, ghost, bytes.roomAvatar),
      owner: await up(ctx.token(), undefined, bytes.owner),
    };
    const prot = await call(synapse, "POST", `/_synapse/admin/v1/media/protect/${mxc.protectedGhost.split("/").pop()}`, ctx.token(), {});
    assert.equal(prot.status, 200, prot.body.toString());
    // In use, as the bridges use their uploads: the ghost's profile picture, and a bridged room's avatar.
    const avatar = await call(ctx.nginx, "PUT", `/_matrix/client/v3/profile/${encodeURIComponent(ghost)}/avatar_url?user_id=${encodeURIComponent(ghost)}`, sec.qq.asToken, { avatar_url: mxc.ghostAvatar });
    assert.equal(avatar.status, 200, avatar.body.toString());
    const roomAvatar = await call(ctx.nginx, "PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(bridged[0])}/state/m.room.avatar`, ctx.token(), { url: mxc.roomAvatar });
    assert.equal(roomAvatar.status, 200, roomAvatar.body.toString());
    await new Promise((r) => setTimeout(r, 2500));

    const r = runByHand("--bridged-media-lifetime-seconds", "1");
    assert.ok(r.media.bridged.deleted >= 2 && r.media.bridged.bytes >= bytes.doomed1.length + bytes.doomed2.length, JSON.stringify(r.media));
    assert.ok(r.media.bridged.protected >= 1, "the protected ghost upload was seen and kept");
    assert.ok(r.media.bridged.avatars >= 2, "the profile picture and the room avatar were past the lifetime and kept");
    assert.deepEqual([r.media.localUsers.deleted, r.media.localUsers.bytes], [0, 0], "no lifetime for the owner's media: none deleted");
    assert.ok(r.stateCompression.rowsAfter <= r.stateCompression.rowsBefore, JSON.stringify(r.stateCompression));
    assert.ok(r.before.media.local - r.after.media.local >= bytes.doomed1.length + bytes.doomed2.length, "the media store shrank by the ghost's uploads");

    for (const k of ["doomed1", "doomed2"] as const) assert.equal((await download(mxc[k])).status, 404, `${k} (a ghost's) is gone`);
    for (const k of ["protectedGhost", "ghostAvatar", "roomAvatar", "owner"] as const) {
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
    const r2 = runByHand("--history-lifetime-seconds", "1");
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
      `  the ghost's 2 uploads: 404 after the run; the protected ghost upload, its profile picture, a bridged room's avatar (${r.media.bridged.avatars} avatars kept), the owner's upload and ${readPack("e2e-pack").stickers.length} stickers: byte-identical`,
    );
    ctx.summary.push(
      "",
      `upkeep run by hand (run.sh --history-lifetime-seconds 1): ${r2.history.purged} of ${r2.history.rooms} bridged rooms purged; messages in the owner's ${bridged.length} direct chats with the bots: ${beforeHistory} -> ${afterHistory}; database ${mib(r2.before.database)} -> ${mib(r2.after.database)}`,
    );
  });
}

/** After the faults (the Docker engine stopped and started, as a reboot does): cron's next run of the job succeeds. */
export function upkeepAfterFaultsTest(ctx: Pick<KitContext, "s" | "summary">): void {
  test("upkeep: after the engine's stop and start (a reboot), the next scheduled run succeeds", async () => {
    const log = upkeepLogPath(ctx.s);
    const from = fs.statSync(log).size;
    const run = await poll("the next scheduled upkeep run", 180_000, () => lastUpkeepSummary(fs.readFileSync(log, "utf8").slice(from), "cron"));
    assert.deepEqual(run.failed, [], JSON.stringify(run));
    ctx.summary.push("upkeep: the first scheduled run after the faults (engine stopped and started) succeeded");
  });
}
