/**
 * Backups on the e2e deployment, registered inside the e2e suite's describe: real
 * restic (Debian's) into a repository folder of the run's (the VPS here is this machine, so "off
 * the VPS" is a folder outside the kit's), real pg_dump and pg_restore in the PostgreSQL
 * container. Facts are recorded first (messages in a room and in the owner's chat with a bridge's
 * bot, uploads, the sticker packs, both bridges' user tables, the server key); then a backup, a
 * second one (deduplicated), a refused restore onto the live deployment, `pulumi destroy` (which
 * backs up first), the volumes and the kit's folder removed, a new deployment of the same stack
 * and `npm run restore`: every fact must read back the same.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { test } from "node:test";
import type { Settings } from "../../infra/settings";
import { json } from "../harness/http";
import { docker, poll } from "../harness/wait";
import type { MatrixCall } from "./client";
import { operatorCommand, ownerStackDir } from "./kit-context";

export interface BackupContext {
  s: Settings;
  e2eDir: string;
  hostKey: string;
  token: () => string;
  summary: string[];
  matrix: MatrixCall;
  botAnswers: (kind: "qq" | "wechat") => Promise<true | undefined>;
  /** `pulumi destroy` from the state file (the guard backs up first); the errors. */
  destroy: () => Promise<string[]>;
  /** `pulumi up` of the same stack again (same seed); the new state replaces the old. */
  redeploy: () => Promise<void>;
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

export function backupTests(ctx: BackupContext): void {
  const { s } = ctx;
  let stackDir = "";
  const cli = (command: "backup" | "restore" | "stickers", ...args: string[]) =>
    operatorCommand(command, s.stack, stackDir, args, 900_000);
  const q = encodeURIComponent;
  const psql = (db: string, sql: string) => docker("exec", `${s.namePrefix}-postgres`, "psql", "-U", s.postgres.superuser, "-d", db, "-Atc", sql);

  /** What must survive: read the same way before the backup and after the restore. */
  async function facts(room: string, uploads: string[]) {
    const token = ctx.token();
    const messages = json(await ctx.matrix("GET", `/_matrix/client/v3/rooms/${q(room)}/messages?dir=b&limit=100`, token)).chunk as { event_id: string; type: string; content: { body?: string } }[];
    const media: Record<string, string> = {};
    for (const mxc of uploads) {
      const got = await ctx.matrix("GET", `/_matrix/client/v1/media/download/${mxc.slice("mxc://".length)}`, token);
      assert.equal(got.status, 200, `${mxc}: ${got.status}`);
      media[mxc] = sha(got.body);
    }
    const rooms = (json(await ctx.matrix("GET", "/_matrix/client/v3/joined_rooms", token)).joined_rooms as string[]).sort();
    const packs = `${s.hostDir}/stickers/packs`;
    const key = json(await ctx.matrix("GET", "/_matrix/key/v2/server")).verify_keys;
    return {
      messages: messages.map((e) => `${e.event_id} ${e.type} ${e.content.body ?? ""}`),
      media,
      rooms,
      stickerIndex: fs.readFileSync(`${packs}/index.json`, "utf8"),
      stickerPack: fs.readFileSync(`${packs}/e2e-pack.json`, "utf8"),
      wechatUsers: psql("wechatbridge", 'SELECT mxid, management_room FROM "user" ORDER BY mxid'),
      qqUsers: psql("qqbridge", 'SELECT mxid, management_room FROM "user" ORDER BY mxid'),
      serverKey: key,
    };
  }

  let proofRoom = "";
  let uploads: string[] = [];
  let before: Awaited<ReturnType<typeof facts>>;

  test("npm run backup: every database, the media and the bridges' state into restic with progress and a summary; a second backup adds little (deduplicated); status shows it; a restore onto the live deployment is refused, naming what holds data", async () => {
    stackDir = ownerStackDir(ctx, s.stack, "backup");
    // A room of the owner's with messages and uploads, beside what the run made before.
    const token = ctx.token();
    proofRoom = json(await ctx.matrix("POST", "/_matrix/client/v3/createRoom", token, { name: "backup proof" })).room_id;
    for (let i = 0; i < 20; i++) {
      const sent = await ctx.matrix("PUT", `/_matrix/client/v3/rooms/${q(proofRoom)}/send/m.room.message/backup${i}`, token, { msgtype: "m.text", body: `message ${i} before the backup` });
      assert.equal(sent.status, 200, sent.body.toString());
    }
    uploads = [];
    for (const size of [3 * 1024 * 1024, 200 * 1024]) {
      const up = await ctx.matrix("POST", "/_matrix/media/v3/upload?filename=proof.bin", token, undefined, { raw: randomBytes(size), type: "application/octet-stream" });
      assert.equal(up.status, 200, up.body.toString());
      uploads.push(json(up).content_uri);
    }
    assert.ok(await ctx.botAnswers("wechat"), "the owner's chat with the WeChat bot works before the backup");
    before = await facts(proofRoom, uploads);
    assert.equal(psql("postgres", "SHOW server_version").split(".")[0], "15", "the run started on the previous major version");
    assert.equal(before.messages.filter((m) => / before the backup$/.test(m)).length, 20);
    assert.match(before.wechatUsers, new RegExp(`^@${s.admin}:${s.domain}\\|!`), "the owner's WeChat row with its management room");

    const first = cli("backup");
    assert.equal(first.status, 0, first.stdout + first.stderr);
    assert.match(first.stdout, /^backup: dumping the databases inside mx-e2e-postgres$/m);
    assert.match(first.stdout, /^backup:   wechatbridge: /m);
    assert.match(first.stdout, /^backup done: snapshot [0-9a-f]{8} \(manual\) in \d+ s, into \//m);
    const added = (out: string) => Number(/added to the repository: ([\d.]+) MiB/.exec(out)![1]);
    const second = cli("backup");
    assert.equal(second.status, 0, second.stdout + second.stderr);
    assert.ok(added(second.stdout) < added(first.stdout) / 5, `the second backup added ${added(second.stdout)} MiB after ${added(first.stdout)} MiB`);
    const list = cli("backup", "--list");
    assert.equal(list.status, 0, list.stderr);
    // With the one taken before the upgrade from the previous Synapse release (test/e2e/upgrade.ts).
    assert.match(list.stdout, /^3 snapshots$/m);
    ctx.summary.push("", "npm run backup -- --stack e2e (first run):", ...first.stdout.trimEnd().split("\n").map((l) => `  ${l}`), `second backup: ${added(second.stdout)} MiB added (first: ${added(first.stdout)} MiB)`);

    const status = operatorCommand("status", s.stack, stackDir, [], 120_000);
    assert.match(status.stdout, /^backup: last \S+ \(\d+ min ago, manual\): snapshot [0-9a-f]{8}, [\d.]+ MiB read, [\d.]+ MiB added, \d+ s$/m, status.stdout);
    assert.doesNotMatch(status.stdout, /warning: .*backup/);

    const refused = cli("restore");
    assert.equal(refused.status, 2, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /^restore: refusing to overwrite data: database synapse \(\d+ events outside the kit's own rooms\), volume mx-e2e-synapse-data \(\d+ files: \d+ in media_store\/local_content(, \d+ in media_store\/local_thumbnails)?\)\. /m);
    assert.deepEqual(await facts(proofRoom, uploads), before, "the refused restore changed nothing");
  });

  test("a repository that cannot be reached: npm run backup fails saying so, and a destroy behind it (which backs up first) stops with nothing removed", async () => {
    assert.ok(s.backup.enabled);
    const repo = s.backup.repository;
    const running = () => docker("ps", "-q", "--filter", `label=kit.matrix/stack=${s.stack}`).trim().split("\n").filter(Boolean).length;
    const containers = running();
    // A regular file where the repository's folder was: restic can neither open nor create it.
    fs.renameSync(repo, `${repo}.away`);
    fs.writeFileSync(repo, "not a repository\n");
    try {
      const failed = cli("backup");
      assert.equal(failed.status, 1, failed.stdout + failed.stderr);
      assert.match(failed.stdout + failed.stderr, /the backup failed: restic (cannot open|could not create) the repository/);
      const errors = await ctx.destroy();
      assert.equal(errors.length, 1, errors.join("\n"));
      assert.match(errors[0], /matrix-kit: the backup before destroy failed: nothing was removed\./);
      assert.equal(running(), containers, "every container still runs");
      assert.equal(fs.existsSync(`${s.hostDir}/backup/backup.sh`), true, "the kit's files are still there");
      ctx.summary.push("a backup into an unreachable repository, then a destroy behind it:", ...errors[0].split("\n").filter((l) => /^(backup|matrix-kit|  Make)/.test(l)).map((l) => `  ${l}`));
    } finally {
      fs.rmSync(repo, { force: true });
      fs.renameSync(`${repo}.away`, repo);
    }
  });

  test("disaster recovery: destroy (which backs up first), the volumes and the kit's folder removed, a new deployment of the same stack, npm run restore: every message, upload, sticker pack, bridge row and the server key are back, and the bridges answer", async () => {
    const errors = await ctx.destroy();
    assert.deepEqual(errors, []);
    // Everything the VPS held is gone: as on a new VPS.
    for (const v of docker("volume", "ls", "-q", "--filter", `name=${s.namePrefix}-`).trim().split("\n").filter(Boolean)) docker("volume", "rm", v);
    fs.rmSync(s.hostDir, { recursive: true, force: true });
    await ctx.redeploy();
    assert.equal(fs.existsSync(`${s.hostDir}/stickers/packs/index.json`), false, "a new deployment: no sticker packs");
    // The new deployment's scripts read the repository: the destroy backed up first.
    const list = cli("backup", "--list");
    assert.match(list.stdout, /^4 snapshots$/m, `destroy took a backup first: ${list.stdout}${list.stderr}`);
    assert.match(list.stdout, /reason=destroy/);

    // The new deployment's QQ bot fetched its avatar (the e2e stack's, upstream's on matrix.org)
    // through Synapse on its first start, as the real bridge does: the check before this one counted
    // any file of the volume, so it refused every new deployment; this one counts the owner's only.
    const volume = docker("volume", "inspect", "-f", "{{.Mountpoint}}", `${s.namePrefix}-synapse-data`).trim();
    const remote = () => (fs.existsSync(`${volume}/media_store/remote_content`) ? fs.readdirSync(`${volume}/media_store/remote_content`, { recursive: true }) : []);
    await poll("the QQ bot's avatar fetch to leave a file in Synapse's remote media cache", 120_000, async () => (remote().length > 0 ? true : undefined));
    const oldCheck = execFileSync("find", [volume, "-type", "f"], { encoding: "utf8" }).trim().split("\n").filter(Boolean);
    assert.ok(oldCheck.length > 0 && oldCheck.every((f) => f.includes("/media_store/remote_")), `what the old check counted: ${oldCheck.join(", ")}`);

    const t = Date.now();
    // The new deployment runs the stack's PostgreSQL, a major version above the one backed up.
    const pgMajor = () => psql("postgres", "SHOW server_version").split(".")[0];
    assert.equal(pgMajor(), "17");
    const restore = cli("restore");
    const seconds = (Date.now() - t) / 1000;
    assert.equal(restore.status, 0, restore.stdout + restore.stderr);
    assert.match(restore.stdout, /^restore: Synapse is healthy; its server key is the one backed up$/m);
    assert.match(restore.stdout, /^restore:   the qq bridge answers its bot's status command$/m);
    assert.match(restore.stdout, /^restore:   the wechat bridge answers its bot's status command$/m);
    const after = await facts(proofRoom, uploads);
    assert.deepEqual(after, before, "everything reads back the same");
    assert.equal(pgMajor(), "17", "dumps of PostgreSQL 15 loaded into 17");
    assert.ok(await ctx.botAnswers("wechat"), "the owner's chat with the WeChat bot works after the restore");
    // Stickers still send: the packs are served and their media are the server's (nothing to upload again).
    const again = cli("stickers", "add", "test/fixtures/stickers/e2e-pack", "--pack", "e2e-pack");
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /4 already in the pack unchanged, 0 to upload/);
    ctx.summary.push("", `the new deployment held ${oldCheck.length} file(s) of the QQ bot's avatar fetch in Synapse's remote media cache (the old restore check refused that)`);
    ctx.summary.push("", `npm run restore -- --stack e2e onto a new deployment (${seconds.toFixed(0)} s):`, ...restore.stdout.trimEnd().split("\n").map((l) => `  ${l}`), `  then: PostgreSQL 15 -> 17 by this backup and restore; ${after.messages.length} events in the proof room, ${uploads.length} uploads byte-identical, sticker packs, both bridges' user rows and the server key as before`);
  });
}
