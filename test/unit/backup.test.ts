/** npm run backup and npm run restore: their CLIs as real processes (before anything reaches a host), and the wording of a run's output. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createPrivateKey, createPublicKey } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { settingsFromStackFile } from "../../infra/config";
import { renderBackupScript, renderRestoreScript, serverKeyPython } from "../../infra/render/backup";
import { deriveSecrets } from "../../infra/secrets";
import { progressLine, summaryLines, type BackupResult } from "../../infra/ops/backup/results";

const cli = (command: "backup" | "restore", ...args: string[]) => spawnSync("node", ["--import", "tsx", `infra/cli/${command}.ts`, ...args], { encoding: "utf8", timeout: 60_000 });

test("npm run backup / restore (real CLI processes): bad usage, a bad snapshot id and a stack without a repository exit 2 naming the problem, before anything reaches a host", () => {
  const cases: [ReturnType<typeof cli>, RegExp][] = [
    [cli("backup"), /^backup: give --stack <name>\nusage: npm run backup/],
    [cli("backup", "--stack", "prod", "now"), /^backup: unexpected "now"/],
    [cli("backup", "--stack", "nope"), /^backup: no stack "nope": .*Pulumi\.nope\.yaml does not exist/],
    [cli("backup", "--stack", "local"), /^backup: matrix:backup\.repository is not set for stack local: set it \(see Backups in docs\/operations\.md\), run pulumi up, then back up$/m],
    [cli("restore", "--stack", "prod", "--snapshot", "last-week"), /^restore: --snapshot must be a snapshot id \(8 to 64 hex digits\) or "latest" \(got "last-week"\)/],
    [cli("restore", "--stack", "local"), /^restore: matrix:backup\.repository is not set for stack local/m],
    [cli("restore", "--stack", "prod", "--frob"), /^restore: Unknown option '--frob'/],
  ];
  for (const [r, says] of cases) {
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, says);
  }
  assert.equal(cli("restore", "--help").status, 0);
});

test("a run's progress and summary, as people read them; a failed run says why", () => {
  assert.equal(progressLine('{"message_type":"status","seconds_elapsed":12,"percent_done":0.4321,"total_files":300,"files_done":120,"total_bytes":220200960,"bytes_done":95000000}'), "backup: 43% of 210.0 MiB (120 of 300 files), 12 s");
  assert.equal(progressLine("backup: dumping the databases inside mx-prod-postgres"), null);
  assert.equal(progressLine('{"message_type":"status","percent_done":0,"total_files":1,"total_bytes":0}'), null, "nothing counted yet");
  const ok: BackupResult = {
    ok: true,
    at: "2026-11-30T04:47:31Z",
    reason: "manual",
    seconds: 42,
    snapshot: "0864b769",
    error: "",
    summary: { files_new: 12, files_changed: 1, files_unmodified: 300, data_added: 3145728, total_files_processed: 313, total_bytes_processed: 220200960, total_duration: 40.1, snapshot_id: "0864b769" },
  };
  assert.deepEqual(summaryLines(ok, "sftp:r@b:/x"), [
    "backup done: snapshot 0864b769 (manual) in 42 s, into sftp:r@b:/x",
    "  read:  313 files, 210.0 MiB (databases dumped, media store, bridges' files, sticker packs)",
    "  files: 12 new, 1 changed, 300 unchanged since the last snapshot",
    "  added to the repository: 3.0 MiB (compressed; the rest was already there: deduplicated)",
  ]);
  assert.deepEqual(summaryLines({ ...ok, ok: false, summary: null, error: "restic cannot open the repository" }, "x"), ["backup FAILED at 2026-11-30T04:47:31Z (manual): restic cannot open the repository"]);
});

test("what a backup holds: every database, the Synapse volume without remote media and previews, the bridges' own files without the rendered config, the packs; the restore takes the same and merges the bridges' files", () => {
  const s = settingsFromStackFile("prod");
  assert.ok(s.backup.enabled);
  const backup = renderBackupScript(s, s.backup);
  for (const db of ["synapse", "qqbridge", "wechatbridge"]) assert.match(backup, new RegExp(`pg_dump -U 'synapse' -Fc -Z0 -d '${db}' >"\\$stage/databases/${db}\\.dump"`));
  assert.match(backup, /docker volume inspect -f '\{\{\.Mountpoint\}\}' 'mx-prod-synapse-data'/);
  assert.doesNotMatch(backup, /mx-prod-(qq|wechat|postgres)-data/, "the bridges keep no volume; PostgreSQL is dumped, not copied");
  for (const x of ["media_store/remote_content", "media_store/remote_thumbnail", "media_store/url_cache", "/opt/matrix-kit/prod/qq/config.yaml", "/opt/matrix-kit/prod/wechat/registration.yaml"]) assert.ok(backup.includes(`excludes+=(--exclude '${x}')`), x);
  for (const d of ["/opt/matrix-kit/prod/stickers/packs", "/opt/matrix-kit/prod/watchdog-state", "/opt/matrix-kit/prod/qq", "/opt/matrix-kit/prod/wechat"]) assert.ok(backup.includes(`if [ -d '${d}' ]; then paths+=('${d}'); fi`), d);
  const remote = renderBackupScript(s, { ...s.backup, includeRemoteMedia: true });
  assert.ok(!remote.includes("media_store/remote_content"), "remote media included when asked");
  const restore = renderRestoreScript(s, s.backup);
  assert.match(restore, /cp -a "\$work"'\/opt\/matrix-kit\/prod\/qq'\/\. '\/opt\/matrix-kit\/prod\/qq'\//, "the bridge's files merged beside its rendered config");
  assert.match(restore, /rm -rf '\/opt\/matrix-kit\/prod\/stickers\/packs'/, "the packs replaced whole");
  assert.match(restore, /docker stop -t 60 'mx-prod-watchdog' 'mx-prod-qq' 'mx-prod-wechat' 'mx-prod-synapse' /);
});

test("the server key the backup notes and the restore compares: real signedjson (Synapse's venv) on the signing key file gives the key Node derives from the same seed, in the key endpoint's verify_keys shape", () => {
  const sec = deriveSecrets("a seed for the server key test, long enough to pass");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "server-key-"));
  try {
    const file = path.join(dir, "signing.key");
    fs.writeFileSync(file, sec.signingKey);
    const r = spawnSync(path.resolve(".cache/synapse-venv/bin/python"), ["-c", serverKeyPython(file)], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    // Node's ed25519 from the raw 32-byte seed (PKCS#8 prefix for Ed25519), public half unpadded base64 as Synapse serves it.
    const seed = Buffer.from(sec.signingKey.trim().split(" ")[2], "base64");
    const priv = createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]), format: "der", type: "pkcs8" });
    const pub = createPublicKey(priv).export({ format: "der", type: "spki" }).subarray(-32).toString("base64").replace(/=+$/, "");
    assert.equal(r.stdout, `{"verify_keys":{"ed25519:a_kit":{"key":"${pub}"}}}`);
    // The restore's key() takes the same part out of this and out of a /_matrix/key/v2/server answer (older backups).
    const endpoint = `{"old_verify_keys":{},"server_name":"example.test","signatures":{"example.test":{"ed25519:a_kit":"sig"}},"valid_until_ts":1,"verify_keys":{"ed25519:a_kit":{"key":"${pub}"}}}`;
    const key = (json: string) => spawnSync("sh", ["-c", `sed -n 's/.*"verify_keys":{\\([^}]*}\\).*/\\1/p'`], { input: json, encoding: "utf8" }).stdout;
    assert.equal(key(r.stdout), key(endpoint));
    assert.equal(key(r.stdout), `"ed25519:a_kit":{"key":"${pub}"}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
