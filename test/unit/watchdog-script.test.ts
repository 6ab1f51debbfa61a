/** Pure parts of the watchdog's script (templates/watchdog/watchdog.py), run by the system's python3. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { test } from "node:test";

const ROOT = path.resolve(__dirname, "../..");

function py(code: string): string {
  return execFileSync("python3", ["-c", `import sys; sys.path[:0] = ["templates/watchdog", "templates/python"]\nimport watchdog\n${code}`], { cwd: ROOT, encoding: "utf8" }).trim();
}

test("a bridge restarted within the second of its last answer has not answered since its start (Docker's StartedAt keeps its fraction)", () => {
  // The last answer at .300, the restart's start at .878 of the same second: seen in the e2e, where
  // the truncated start hid a silent bridge behind the answer from before its restart.
  assert.equal(py(`print(watchdog.parse_started_at("2026-11-30T07:03:16.878276218Z") > 1796022196.3)`), "True");
  assert.equal(py(`print(watchdog.parse_started_at("2026-11-30T07:03:16Z"))`), "1796022196.0");
  assert.equal(py(`print(watchdog.parse_started_at("2026-11-30T07:03:16.5+00:00"))`), "1796022196.5");
});

test("the watchdog's watch over the backups: a failed run told once, a last success older than two days told once, a fresh one nothing", () => {
  const out = py(`
import json, os, tempfile
from backup_watch import BackupWatch
d = tempfile.mkdtemp(); f = os.path.join(d, "last.json")
w = BackupWatch(f, "/var/log/mx-backup.log")
said = [w.check(0)]
def write(r):
    with open(f, "w") as h: json.dump(r, h)
write({"ok": False, "at": "2026-11-30T04:47:31Z", "reason": "nightly", "error": "restic cannot open the repository"})
said += [w.check(), w.check()]
write({"ok": True, "at": "2026-11-30T04:47:31Z", "reason": "nightly", "error": ""})
now = 1796014051.0  # 2026-11-30T04:47:31Z
said += [w.check(now + 3600), w.check(now + 3 * 86400), w.check(now + 4 * 86400)]
print(json.dumps(said))`);
  assert.deepEqual(JSON.parse(out), [
    null,
    "the nightly backup at 2026-11-30T04:47:31Z FAILED: restic cannot open the repository. Nothing new is saved off the VPS until it works again: run npm run backup to see why.",
    null,
    null,
    "the last backup is from 2026-11-30T04:47:31Z, 3 days ago: the nightly backup is not running (its log on the VPS: /var/log/mx-backup.log).",
    null,
  ]);
});
