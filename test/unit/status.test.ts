/**
 * npm run status: the status script's records (a real capture, cgroup v1, and a
 * cgroup v2 excerpt) read into a report; what counts as a problem; the output.
 * The script itself runs against real containers in the e2e run.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { findings, formatStatus, parseStatus, statusExitCode, statusJson, statusScript, subjectFromSettings } from "../../infra/ops/status";
import { stackSettings } from "../harness/stacks";

const V1 = fs.readFileSync(`${__dirname}/../fixtures/status/cgroup-v1.txt`, "utf8");
const MiB = 1024 * 1024;

test("a real cgroup v1 capture: containers, working set, no limit, media, databases, disks by mount", () => {
  const r = parseStatus(V1);
  assert.deepEqual(r.containers.map((c) => `${c.name}:${c.state}:${c.health}`), [
    "mx-base-postgres:running:none",
    "mx-base-synapse:running:healthy",
    "mx-base-qq:running:none",
    "mx-base-wechat:running:none",
    "mx-base-gone:missing:none",
  ]);
  const pg = r.containers[0].memory!;
  assert.equal(pg.usageBytes, 161624064);
  assert.equal(pg.workingSetBytes, 161624064 - 67629056, "page cache that is inactive is not counted, as in docker stats");
  assert.equal(pg.peakBytes, 163782656);
  assert.equal(pg.limitBytes, undefined, "v1's 'no limit' is a number near 2^63");
  assert.equal(pg.oomKills, 0);
  assert.equal(r.containers[4].memory, undefined);
  assert.deepEqual(r.media, { local: 0, localThumbnails: 0, remote: 0, remoteThumbnails: 0 });
  assert.deepEqual(r.databases.map((d) => d.name), ["postgres", "qqbridge", "synapse", "wechatbridge"]);
  assert.deepEqual(r.disks.map((d) => d.mount), ["/", "/var/lib/docker"], "one row per filesystem");
});

test("a missing container is a problem (exit 1); without it the capture is healthy (exit 0)", () => {
  const r = parseStatus(V1);
  assert.deepEqual(findings(r), [{ level: "problem", what: "mx-base-gone is missing" }]);
  assert.equal(statusExitCode(r), 1);
  const healthy = parseStatus(V1.replace(/^missing\t.*\n/m, ""));
  assert.deepEqual(findings(healthy), []);
  assert.equal(statusExitCode(healthy), 0);
});

test("cgroup v2 records; unhealthy, OOM kills, a full disk are problems; restarts and a near limit are warnings", () => {
  const text = [
    "container\tmx-x-synapse\trunning\tunhealthy\t3\tfalse\t2026-11-25T00:00:00Z",
    "memory\tmx-x-synapse\tcurrent\t" + 380 * MiB,
    "memory\tmx-x-synapse\tpeak\t" + 384 * MiB,
    "memory\tmx-x-synapse\tlimit\t" + 384 * MiB,
    "memory\tmx-x-synapse\tinactive_file\t" + 10 * MiB,
    "memory\tmx-x-synapse\toom_kill\t2",
    "container\tmx-x-qq\texited\tnone\t0\ttrue\t2026-11-25T00:00:00Z",
    "memory\tmx-x-qq\tcurrent\t0",
    "memory\tmx-x-qq\tlimit\tmax",
    "database-error\tpsql: could not connect",
    `disk\t/\t/\t${25 * 1024 ** 3}\t${512 * MiB}`,
  ].join("\n");
  const r = parseStatus(text);
  assert.equal(r.containers[0].memory!.workingSetBytes, 370 * MiB);
  assert.equal(r.containers[1].memory!.limitBytes, undefined, "v2's max");
  assert.deepEqual(findings(r), [
    { level: "problem", what: "mx-x-synapse is unhealthy (docker health check)" },
    { level: "problem", what: "mx-x-synapse: 2 OOM kill(s) in the container since it started" },
    { level: "warning", what: "mx-x-synapse was restarted 3 time(s) by docker" },
    { level: "warning", what: "mx-x-synapse uses 96% of its memory limit" },
    { level: "problem", what: "mx-x-qq is exited" },
    { level: "problem", what: "mx-x-qq was last stopped by the OOM killer" },
    { level: "problem", what: "database sizes unreadable: psql: could not connect" },
    { level: "problem", what: "/ (holding /) has 0.5 GiB free of 25.0 GiB" },
  ]);
  const json = JSON.parse(statusJson("x", r));
  assert.equal(json.healthy, false);
  assert.equal(json.containers.length, 2);
});

test("a container whose health check has not run yet (starting) is a warning, not a problem: exit 0", () => {
  const r = parseStatus(["container\tmx-x-wechat\trunning\tstarting\t0\tfalse\t2026-11-25T00:00:00Z", "memory\tmx-x-wechat\tcurrent\t" + 20 * MiB].join("\n"));
  assert.deepEqual(findings(r), [{ level: "warning", what: "mx-x-wechat is starting (docker health check: not judged yet: before Docker 25 the first check runs matrix:healthcheck.intervalSeconds after a start)" }]);
  assert.equal(statusExitCode(r), 0);
  assert.equal(JSON.parse(statusJson("x", r)).healthy, true);
});

test("the table names every container with memory now/peak/limit, the disk parts and the problems", () => {
  const out = formatStatus("e2e", parseStatus(V1));
  assert.match(out, /^mx-base-synapse\s+running\s+healthy\s+0\s+-\s+0\s+95\.6\s+128\.9\s+none$/m);
  assert.match(out, /media store, local uploads\s+0 KiB/);
  assert.match(out, /database synapse\s+13\.9 MiB/);
  assert.match(out, /PROBLEM: mx-base-gone is missing/);
});

test("the script quotes every name it is given and carries docker's Go templates intact", () => {
  const script = statusScript({ containers: ["mx-a-postgres", "it's"], synapseData: "mx-a-synapse-data", postgres: "mx-a-postgres", postgresUser: "synapse", upkeepLastRun: null, watchdogRestarts: null, profileSync: null, backupResult: null, certificate: null, acmeResult: null });
  assert.ok(script.includes(`for c in 'mx-a-postgres' 'it'\\''s' ; do`), script);
  assert.match(script, /docker inspect --format '\{\{\.State\.Status\}\}\t\{\{if \.State\.Health\}\}/);
});

// The last-run.json of a real run in the e2e (cron-started), as status.sh.hbs emits it.
const UPKEEP_RUN = `{"finished": "2026-11-25T20:48:03Z", "after": {"database": 19692903, "media": {"local": 47342014, "remote": 0, "total": 47342014}}, "before": {"database": 17907047, "media": {"local": 47342014, "remote": 0, "total": 47342014}}, "by": "cron", "failed": [], "freedBytes": 0, "login": null, "media": {"bridged": {"bytes": 0, "deleted": 0, "kept": 0, "protected": 0}, "localUsers": {"bytes": 0, "deleted": 0, "kept": 1, "protected": 8}}, "seconds": 1.9, "stateCompression": {"rowsAfter": 83, "rowsBefore": 83}, "vacuum": null}`;

test("the upkeep job's last run: shown with what it freed; a failed step is a warning (exit 0); none yet is said; no job, no line", () => {
  const healthy = V1.replace(/^missing\t.*\n/m, "");
  const ran = parseStatus(`${healthy}upkeep\t${UPKEEP_RUN}\n`);
  assert.equal(ran.upkeep?.by, "cron");
  assert.deepEqual(findings(ran), []);
  assert.match(formatStatus("a", ran), /^upkeep: last run 2026-11-25T20:48:03Z \(cron\): 0 media deleted, 0 KiB freed; media store 45\.1 MiB -> 45\.1 MiB, database 17\.1 MiB -> 18\.8 MiB$/m);
  const failed = parseStatus(`${healthy}upkeep\t${UPKEEP_RUN.replace('"failed": []', '"failed": ["stateCompression"]')}\n`);
  assert.deepEqual(findings(failed), [{ level: "warning", what: "the upkeep job's last run (2026-11-25T20:48:03Z) failed at: stateCompression (see its log)" }]);
  assert.equal(statusExitCode(failed), 0);
  assert.match(formatStatus("a", parseStatus(`${healthy}upkeep\tnone\n`)), /^upkeep: no run yet$/m);
  assert.doesNotMatch(formatStatus("a", parseStatus(healthy)), /upkeep/);
  assert.match(statusScript({ containers: ["c"], synapseData: "v", postgres: "p", postgresUser: "u", upkeepLastRun: "/opt/k/upkeep/cache/last-run.json", watchdogRestarts: null, profileSync: null, backupResult: null, certificate: null, acmeResult: null }), /if \[ -f '\/opt\/k\/upkeep\/cache\/last-run\.json' \]; then emit upkeep/);
});

test("the watchdog's restarts (not in docker's RestartCount): a column and a warning (exit 0); no record, no warning", () => {
  const healthy = V1.replace(/^missing\t.*\n/m, "");
  const record = '{"mx-base-wechat": {"restarts": 2, "last": "2026-11-30T05:40:00Z", "why": "no answer to `!wechat ping` within 20 s (2 checks in a row)"}}';
  const r = parseStatus(`${healthy}watchdog-restarts\t${record}\n`);
  assert.deepEqual(r.containers[3].watchdogRestarts, { count: 2, last: "2026-11-30T05:40:00Z", why: "no answer to `!wechat ping` within 20 s (2 checks in a row)" });
  assert.deepEqual(findings(r), [{ level: "warning", what: "mx-base-wechat was restarted 2 time(s) by the watchdog (last 2026-11-30T05:40:00Z: no answer to `!wechat ping` within 20 s (2 checks in a row))" }]);
  assert.equal(statusExitCode(r), 0);
  assert.match(formatStatus("a", r), /^mx-base-wechat\s+running\s+none\s+0\s+2\s/m);
  assert.deepEqual(findings(parseStatus(healthy)), []);
  const script = statusScript({ containers: ["c"], synapseData: "v", postgres: "p", postgresUser: "u", upkeepLastRun: null, watchdogRestarts: "/opt/k/watchdog-state/restarts.json", profileSync: null, backupResult: null, certificate: null, acmeResult: null });
  assert.match(script, /if \[ -f '\/opt\/k\/watchdog-state\/restarts\.json' \]; then emit watchdog-restarts/);
});

test("the watchdog's profile sync of WeChat: the last one and its answers, why none ran, a failed one a warning (exit 0); none when the stack syncs nothing", () => {
  const healthy = V1.replace(/^missing\t.*\n/m, "");
  const withRecord = (sync: unknown) => parseStatus(`${healthy}watchdog-restarts\t${JSON.stringify({ "mx-base-wechat": { restarts: 0, sync } })}\nprofile-sync\tmx-base-wechat\n`);
  const done = withRecord({ last: { at: "2026-12-06T04:00:00Z", ok: true, answers: ["Resynced contacts", "Resynced groups"], seconds: 1.5 } });
  assert.match(formatStatus("a", done), /^profile sync of mx-base-wechat \(contacts' names and avatars, groups\): last 2026-12-06T04:00:00Z: ok \(Resynced contacts; Resynced groups\)$/m);
  assert.deepEqual(findings(done), []);
  const skipped = withRecord({ skipped: { at: "2026-12-06T05:00:00Z", why: "WeChat is not logged in" } });
  assert.match(formatStatus("a", skipped), /^profile sync of mx-base-wechat \(contacts' names and avatars, groups\): none yet; not run since 2026-12-06T05:00:00Z: WeChat is not logged in$/m);
  const failed = withRecord({ last: { at: "2026-12-06T04:00:00Z", ok: false, answers: ["Error resyncing contacts: no agent connection avaiable"] } });
  assert.deepEqual(findings(failed), [{ level: "warning", what: "the last profile sync of mx-base-wechat (2026-12-06T04:00:00Z) FAILED: Error resyncing contacts: no agent connection avaiable; the watchdog tries again at its next check with the bridge logged in" }]);
  assert.equal(statusExitCode(failed), 0);
  assert.match(formatStatus("a", parseStatus(`${healthy}profile-sync\tmx-base-wechat\n`)), /^profile sync of mx-base-wechat \(contacts' names and avatars, groups\): none yet$/m);
  assert.doesNotMatch(formatStatus("a", parseStatus(healthy)), /profile sync/);
  const script = statusScript({ containers: ["c"], synapseData: "v", postgres: "p", postgresUser: "u", upkeepLastRun: null, watchdogRestarts: "/opt/k/watchdog-state/restarts.json", profileSync: "mx-k-wechat", backupResult: null, certificate: null, acmeResult: null });
  assert.match(script, /^emit profile-sync 'mx-k-wechat'$/m);
});

// A result file as backup.sh writes it (restic 0.14's summary line inside).
const BACKUP_OK = `{"ok":true,"at":"2026-11-30T04:47:31Z","reason":"nightly","seconds":42,"snapshot":"0864b769","error":"","summary":{"message_type":"summary","files_new":12,"files_changed":1,"files_unmodified":300,"dirs_new":0,"dirs_changed":4,"dirs_unmodified":20,"data_blobs":9,"tree_blobs":5,"data_added":3145728,"total_files_processed":313,"total_bytes_processed":220200960,"total_duration":40.1,"snapshot_id":"0864b769"}}`;

test("backups in status: the last one shown (age, size, result); a failed one, one older than two days, none yet, or no repository is a warning (exit 0)", () => {
  const healthy = V1.replace(/^missing\t.*\n/m, "");
  const at = (iso: string) => new Date(iso);
  const ok = parseStatus(`${healthy}backup\t${BACKUP_OK}\n`);
  assert.deepEqual(findings(ok, at("2026-11-30T12:00:00Z")), []);
  assert.match(formatStatus("a", ok), /^backup: last 2026-11-30T04:47:31Z \(\d+ (min|h|d) ago, nightly\): snapshot 0864b769, 210\.0 MiB read, 3\.0 MiB added, 42 s$/m);
  assert.deepEqual(findings(ok, at("2026-12-02T05:00:00Z")), [{ level: "warning", what: "the last backup is 2 d old (2026-11-30T04:47:31Z): the nightly backup is not running" }]);
  const failed = parseStatus(`${healthy}backup\t{"ok":false,"at":"2026-11-30T04:47:31Z","reason":"nightly","seconds":3,"snapshot":"","error":"restic cannot open the repository: Fatal: wrong password or no key found","summary":null}\n`);
  assert.deepEqual(findings(failed, at("2026-11-30T05:00:00Z")), [{ level: "warning", what: "the last backup (2026-11-30T04:47:31Z, nightly) FAILED: restic cannot open the repository: Fatal: wrong password or no key found" }]);
  assert.equal(statusExitCode(failed), 0);
  assert.deepEqual(findings(parseStatus(`${healthy}backup\tnone\n`)), [{ level: "warning", what: "no backup has run yet: run npm run backup" }]);
  const none = parseStatus(`${healthy}backup\tunconfigured\n`);
  assert.deepEqual(findings(none), [{ level: "warning", what: "no backups: matrix:backup.repository is not set, so a lost VPS loses every conversation (see Backups in docs/operations.md)" }]);
  assert.match(formatStatus("a", none), /^backup: not configured \(matrix:backup\.repository\)$/m);
  const subject = { containers: ["c"], synapseData: "v", postgres: "p", postgresUser: "u", upkeepLastRun: null, watchdogRestarts: null, profileSync: null, certificate: null, acmeResult: null };
  assert.match(statusScript({ ...subject, backupResult: "/opt/k/backup/last.json" }), /if \[ -f '\/opt\/k\/backup\/last\.json' \]; then emit backup /);
  assert.match(statusScript({ ...subject, backupResult: null }), /^emit backup unconfigured$/m);
});

test("status looks at every container the stack runs: the Docker filter beside the watchdog, neither without it; the bridges' queue", () => {
  const dev = stackSettings("dev");
  assert.deepEqual(subjectFromSettings(dev).containers, ["postgres", "synapse", "bridge-queue", "qq", "wechat", "docker-filter", "watchdog"].map((c) => `${dev.namePrefix}-${c}`));
  const noWatchdog = { ...dev, watchdog: { ...dev.watchdog, enabled: false } } as typeof dev;
  assert.deepEqual(subjectFromSettings(noWatchdog).containers, ["postgres", "synapse", "bridge-queue", "qq", "wechat"].map((c) => `${dev.namePrefix}-${c}`));
  const noQueue = { ...dev, bridgeQueue: { enabled: false } } as typeof dev;
  assert.deepEqual(subjectFromSettings(noQueue).containers, ["postgres", "synapse", "qq", "wechat", "docker-filter", "watchdog"].map((c) => `${dev.namePrefix}-${c}`));
});

test("the certificate nginx serves, read on the host by the real status script with the real openssl: its end and issuer shown; 14 days before its end a warning saying what to do by its source; a failed ACME renewal a warning; an expired one a problem", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kit-status-cert-"));
  try {
    // docker answers nothing here (a MOCK that exits 1): the script's other records say so, as on a host without the containers.
    fs.mkdirSync(`${dir}/bin`);
    fs.writeFileSync(`${dir}/bin/docker`, "#!/bin/sh\nexit 1\n", { mode: 0o755 });
    const made = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "10", "-subj", "/O=Test CA/CN=matrix.example.com", "-keyout", `${dir}/key.pem`, "-out", `${dir}/cert.pem`], { encoding: "utf8" });
    assert.equal(made.status, 0, made.stderr);
    fs.writeFileSync(`${dir}/last.json`, '{"ok":false,"at":"2026-12-06T03:23:01Z","action":"renew","renewed":false,"notAfter":"2026-12-16T03:00:00Z","seconds":4,"error":"the renewal failed; the certificate in place keeps serving: Challenge failed for domain matrix.example.com"}');
    const subject = { containers: [], synapseData: "v", postgres: "p", postgresUser: "u", upkeepLastRun: null, watchdogRestarts: null, profileSync: null, backupResult: null, certificate: { path: `${dir}/cert.pem`, source: "acme" }, acmeResult: `${dir}/last.json` };
    const out = spawnSync("sh", ["-s"], { input: statusScript(subject), encoding: "utf8", env: { ...process.env, PATH: `${dir}/bin:${process.env.PATH}` } });
    const r = parseStatus(out.stdout);
    assert.equal(r.certificate?.source, "acme");
    assert.match(r.certificate!.issuer, /O ?= ?Test CA, CN ?= ?matrix\.example\.com/);
    const now = new Date();
    const days = Math.floor((r.certificate!.notAfter! - now.getTime()) / 86_400_000);
    assert.ok(days === 9 || days === 10, String(days));
    const f = findings(r, now).filter((x) => /certificate/.test(x.what));
    assert.deepEqual(f.map((x) => x.level), ["warning", "warning"]);
    assert.match(f[0].what, new RegExp(`^nginx's certificate ${dir}/cert\\.pem \\(.*Test CA.*\\) ends in ${days} days, on \\d{4}-\\d\\d-\\d\\d: its renewal \\(twice a day\\) has not worked`));
    assert.equal(f[1].what, "the certificate's last renew (2026-12-06T03:23:01Z) FAILED: the renewal failed; the certificate in place keeps serving: Challenge failed for domain matrix.example.com");
    assert.match(formatStatus("a", r), new RegExp(`^certificate \\(acme\\): ends \\d{4}-\\d\\d-\\d\\d \\(in ${days} days\\), issued by .*Test CA.*; last renew 2026-12-06T03:23:01Z: FAILED$`, "m"));
    // From Cloudflare's Origin CA, the remedy is an update; ended, it is a problem.
    const ended = { ...r, certificate: { ...r.certificate!, source: "cloudflare", notAfter: now.getTime() - 86_400_000 }, acme: undefined };
    assert.match(findings(ended, now).find((x) => /certificate/.test(x.what))!.what, /ended on .*: clients refuse it\. run pulumi up: it replaces Cloudflare's origin certificate$/);
    assert.equal(statusExitCode(ended), 1);
    // More than 14 days left: nothing said.
    const fresh = { ...r, certificate: { ...r.certificate!, notAfter: now.getTime() + 60 * 86_400_000 }, acme: null };
    assert.deepEqual(findings(fresh, now).filter((x) => /certificate/.test(x.what)), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
