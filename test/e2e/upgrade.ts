/**
 * Image upgrades on the e2e deployment, registered inside the e2e suite's describe:
 * the run deploys Synapse's previous release first (kit-e2e/synapse:v1.162.0, built by
 * test/e2e/images/build.sh the way the current one is) and upgrades it to the stack's image with
 * data in it; later, an upgrade to a deliberately broken image fails with the kit's message and
 * its rollback loses nothing. Updates go through the harness's `update` (test/harness/update.ts).
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { test } from "node:test";
import type { Settings } from "../../infra/settings";
import { json } from "../harness/http";
import type { MatrixCall } from "./client";

export const PREVIOUS_SYNAPSE = "kit-e2e/synapse:v1.162.0";
const BROKEN_SYNAPSE = "kit-e2e/synapse:broken";

export interface UpgradeContext {
  s: Settings;
  summary: string[];
  token: () => string;
  matrix: MatrixCall;
  /** A second `pulumi up` with matrix:synapse.image set to `image` (the stack's own when unset): what it replaced or updated; rejects with the update's error. */
  updateSynapse: (image?: string) => Promise<string[]>;
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

function helpers(ctx: UpgradeContext) {
  const q = encodeURIComponent;
  const version = async () => json(await ctx.matrix("GET", "/_matrix/federation/v1/version")).server.version as string;
  /** A room with messages and an upload, written now. */
  const write = async (label: string) => {
    const token = ctx.token();
    const room = json(await ctx.matrix("POST", "/_matrix/client/v3/createRoom", token, { name: label })).room_id as string;
    for (let i = 0; i < 5; i++) {
      const sent = await ctx.matrix("PUT", `/_matrix/client/v3/rooms/${q(room)}/send/m.room.message/${label}${i}`, token, { msgtype: "m.text", body: `${label} ${i}` });
      assert.equal(sent.status, 200, sent.body.toString());
    }
    const up = await ctx.matrix("POST", "/_matrix/media/v3/upload?filename=upgrade.bin", token, undefined, { raw: randomBytes(256 * 1024), type: "application/octet-stream" });
    assert.equal(up.status, 200, up.body.toString());
    return { room, mxc: json(up).content_uri as string };
  };
  /** What the room and the upload read back as. */
  const read = async (w: { room: string; mxc: string }) => {
    const token = ctx.token();
    const page = json(await ctx.matrix("GET", `/_matrix/client/v3/rooms/${q(w.room)}/messages?dir=f&limit=50`, token));
    const media = await ctx.matrix("GET", `/_matrix/client/v1/media/download/${w.mxc.slice("mxc://".length)}`, token);
    assert.equal(media.status, 200);
    return { messages: (page.chunk as { type: string; content: { body?: string } }[]).filter((e) => e.type === "m.room.message").map((e) => e.content.body), media: sha(media.body) };
  };
  const record = () => fs.readFileSync(`${ctx.s.hostDir}/upgrade/last`, "utf8");
  return { version, write, read, record };
}

/** Right after the owner's account exists: the run started on the previous Synapse release. */
export function upgradeFromPreviousTest(ctx: UpgradeContext): void {
  const { s } = ctx;
  const p = s.namePrefix;
  test(`an upgrade from Synapse's previous release (${PREVIOUS_SYNAPSE}, deployed first) to the stack's image: the step before notes both images and backs up, only Synapse is replaced, and everything reads back`, async () => {
    const h = helpers(ctx);
    assert.equal(await h.version(), "1.162.0", "the run deployed the previous release");
    const written = await h.write("upgrade");
    const before = await h.read(written);
    const done = await ctx.updateSynapse();
    for (const n of [`${p}-upgrade-before`, `${p}-synapse-image`, `${p}-synapse-container`, `${p}-synapse-healthy`]) assert.ok(done.includes(n), `${n} in ${done.join(", ")}`);
    assert.deepEqual(done.filter((n) => /-(postgres|qq|wechat)-container$/.test(n)), [], "the containers whose image did not change stay");
    assert.equal(await h.version(), /:v(.*)$/.exec(s.synapse.image)![1]);
    assert.match(h.record(), new RegExp(`^change ${p}-synapse ${PREVIOUS_SYNAPSE} ${s.synapse.image}\nsnapshot [0-9a-f]{8}\n$`, "m"));
    assert.deepEqual(await h.read(written), before, "messages and the upload read back the same");
    ctx.summary.push(`upgrade ${PREVIOUS_SYNAPSE} -> ${s.synapse.image}: replaced ${done.join(", ")}; ${before.messages.length} messages and an upload read back the same`);
  });
}

/** After the backup tests: a broken image fails the update with the kit's message, and its rollback loses nothing. */
export function brokenUpgradeTest(ctx: UpgradeContext): void {
  const { s } = ctx;
  const p = s.namePrefix;
  test("an upgrade to a broken image: the update stops at Synapse's health wait with its last log lines and the one-line rollback; the rollback (the previous image back) brings everything back", async () => {
    // The current image whose process exits at once, as a bad release might.
    const built = spawnSync("docker", ["build", "-q", "-t", BROKEN_SYNAPSE, "-"], {
      input: `FROM ${s.synapse.image}\nENTRYPOINT ["sh", "-c", "echo 'kit e2e: this image is broken on purpose' >&2; exit 3"]\n`,
      encoding: "utf8",
    });
    assert.equal(built.status, 0, built.stderr);
    const h = helpers(ctx);
    const written = await h.write("broken");
    const before = await h.read(written);
    let message = "";
    await assert.rejects(ctx.updateSynapse(BROKEN_SYNAPSE), (e: Error) => ((message = e.message), true));
    assert.match(message, new RegExp(`^matrix-kit: ${p}-synapse \\(image ${BROKEN_SYNAPSE}\\) did not become healthy: it exited and was restarted \\d+ times\\. Its last log lines:$`, "m"));
    assert.match(message, /^ {2}\| kit e2e: this image is broken on purpose$/m);
    const rollback = `  Roll back: pulumi config set --stack ${s.stack} --path matrix:synapse.image ${s.synapse.image} && npm run up -- ${s.stack} --yes`;
    assert.ok(message.split("\n").includes(rollback), message);
    assert.match(message, new RegExp(`^ {2}If ${BROKEN_SYNAPSE} had already migrated the database, then also: npm run restore -- --stack ${s.stack} --snapshot [0-9a-f]{8} --force$`, "m"));
    // The rollback line's first half, as the owner would run it: the stack's image again.
    const done = await ctx.updateSynapse();
    assert.ok(done.includes(`${p}-synapse-container`) && done.includes(`${p}-synapse-healthy`), done.join(", "));
    assert.deepEqual(await h.read(written), before, "nothing was lost");
    ctx.summary.push("an upgrade to a broken image, what the owner reads:", ...message.split("\n").filter((l) => /^(matrix-kit|  [|RI])/.test(l)).slice(0, 8).map((l) => `  ${l}`), `rollback: replaced ${done.join(", ")}; everything read back the same`);
    spawnSync("docker", ["rmi", BROKEN_SYNAPSE]);
  });
}
