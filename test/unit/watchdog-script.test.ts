/** Pure parts of the watchdog's script (templates/watchdog/watchdog.py), run by the system's python3. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { test } from "node:test";
import { probe } from "../../infra/render/watchdog";
import type { Bridge } from "../../infra/settings";

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

/** The watchdog's rules for one bridge as the kit renders them (render/watchdog.ts), for the script's functions. */
const rules = (kind: "qq" | "wechat") => JSON.stringify({ ...probe({ kind } as Bridge), bot: `@${kind}bot:example.org`, kind });

test("the login state read from the real bots' answers: QQ's list-logins by each login's state (a login gone to BAD_CREDENTIALS or LOGGED_OUT is lost), WeChat's ping; a greeting is no answer", () => {
  const read = (kind: "qq" | "wechat", bodies: string[]) =>
    JSON.parse(py(`import json, probe_room\nb = json.loads(${JSON.stringify(rules(kind))})\nprint(json.dumps([probe_room.read_state(x, b) for x in json.loads(${JSON.stringify(JSON.stringify(bodies))})]))`));
  // bridgev2 joins an array that starts with empty strings: each line comes after an empty one.
  assert.deepEqual(
    read("qq", [
      "You're not logged in",
      "\n* `12345` (Alice) - `CONNECTED`",
      "\n* `12345` (Alice) - `BAD_CREDENTIALS`",
      "\n* `12345` (Alice) - `LOGGED_OUT`",
      "\n* `12345` (Alice) - `UNKNOWN_ERROR`",
      "\n\n* `1` (a) - `LOGGED_OUT`\n* `2` (b) - `TRANSIENT_DISCONNECT`",
      "\n* `12345` (Alice) - ``",
      "Hello, I'm a Matrix QQ bridge bot.\n\nUse `!qq help` for help.",
    ]),
    [false, true, false, false, false, true, true, null],
  );
  assert.deepEqual(read("wechat", ["You're not logged into WeChat.", "Logged in as 10001, connection to WeChat OK (probably)", "Hello, I'm a WeChat bridge bot."]), [false, true, null]);
});

test("a login holds restarts back from the owner's login or relogin until the bot says it ended (the bridges' own texts), within the window, in a room the bot is in", () => {
  const run = (kind: "qq" | "wechat", login: { body: string; age: number; room?: string }, bot: string[]) =>
    py(`
import json, time, watchdog
b = json.loads(${JSON.stringify(rules(kind))})
login = json.loads(${JSON.stringify(JSON.stringify(login))})
ts = int((time.time() - login["age"]) * 1000)
class Owner:
    def call(self, method, path, body=None):
        if path == "/_matrix/client/v3/search":
            word = body["search_categories"]["room_events"]["search_term"]
            hit = word in login["body"].split()
            ev = {"event_id": "$login", "room_id": login.get("room", "!dm"), "origin_server_ts": ts, "content": {"body": login["body"]}}
            return {"search_categories": {"room_events": {"results": [{"result": ev}] if hit else []}}}
        if path.endswith("/joined_members"):
            return {"joined": {b["bot"]: {}} if path.startswith("/_matrix/client/v3/rooms/%21dm/") else {}}
        if "/context/" in path:
            return {"end": "t1"}
        if "/messages" in path:
            return {"chunk": [{"sender": b["bot"], "type": "m.room.message", "content": {"msgtype": "m.notice", "body": x}} for x in json.loads(${JSON.stringify(JSON.stringify(bot))})]}
        raise AssertionError(path)
dog = watchdog.Watchdog.__new__(watchdog.Watchdog)
dog.cfg, dog.owner, dog.logins_ended = {"owner": "@owner:example.org"}, Owner(), set()
print(dog.login_in_progress(b) is not None)`).split("\n").pop();
  // QQ: the QR code shown, nobody has scanned it yet: held, for login and relogin, bare or prefixed.
  assert.equal(run("qq", { body: "login", age: 30 }, ["Scan the QR code on your QQ app to log in"]), "True");
  assert.equal(run("qq", { body: "!qq relogin 12345", age: 30 }, ["Scan the QR code on your QQ app to log in"]), "True");
  // Ended, whichever way: nothing held.
  for (const end of ["Successfully logged in as Alice", "Login failed: QR code expired", "Failed to start login: failed to fetch QR code: Packet timed out", "Invalid login flow `nosuchflow`. Available options:\n\n* `qr` - Scan a QR code to pair the bridge to your QQ client"]) {
    assert.equal(run("qq", { body: "login", age: 30 }, ["Scan the QR code on your QQ app to log in", end]), "False", end);
  }
  assert.equal(run("qq", { body: "login", age: 17 * 60 }, []), "False", "older than QQ's login window");
  assert.equal(run("qq", { body: "login", age: 30, room: "!elsewhere" }, []), "False", "not in a room of this bot");
  assert.equal(run("qq", { body: "login-matrix", age: 30 }, []), "False", "another command");
  assert.equal(run("wechat", { body: "login", age: 30 }, []), "True");
  for (const end of ["Login successful.", "Timedout, Please restart the login.", "Failed to connect: no agent connection avaiable"]) {
    assert.equal(run("wechat", { body: "login", age: 30 }, [end]), "False", end);
  }
});
