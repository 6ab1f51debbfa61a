/** Pure parts of the watchdog's script (templates/watchdog/watchdog.py), run by the system's python3. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { test } from "node:test";
import { probe, profileSync } from "../../infra/render/watchdog";
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

test("the WeChat sync's answers as the real bridge words them (matrix-wechat 0.2.4 fnSync, mautrix-go v0.16.2): which end a command, which are a success", () => {
  const sync = profileSync({ kind: "wechat" } as Bridge, { wechatSync: { enabled: true, every: "7d" } } as Parameters<typeof profileSync>[1])!;
  const answers = ["Resynced contacts", "Resynced groups", "Error resyncing contacts: no agent connection avaiable", "Error resyncing groups: timeout", "That command requires you to be logged in."];
  const others = ["You're not logged into WeChat.", "Logged in as wxid_1, connection to WeChat OK (probably)", "Hello, I'm a WeChat bridge bot.", "Resynced contacts and more"];
  const judged = JSON.parse(
    py(`import json, re\nc = json.loads(${JSON.stringify(JSON.stringify(sync))})\nprint(json.dumps([[bool(re.search(c["answerPattern"], x)), bool(re.search(c["okPattern"], x))] for x in json.loads(${JSON.stringify(JSON.stringify([...answers, ...others]))})]))`),
  );
  assert.deepEqual(judged, [[true, true], [true, true], [true, false], [true, false], [true, false], [false, false], [false, false], [false, false], [false, true]]);
  assert.deepEqual(sync.commands, ["!wechat sync contacts --contact-avatars", "!wechat sync groups"]);
  assert.equal(sync.everySeconds, 7 * 86400);
  assert.equal(profileSync({ kind: "qq" } as Bridge, { wechatSync: { enabled: true, every: "7d" } } as Parameters<typeof profileSync>[1]), null, "QQ has no sync command");
  assert.equal(profileSync({ kind: "wechat" } as Bridge, { wechatSync: { enabled: false } } as Parameters<typeof profileSync>[1]), null, "off");
});

test("the WeChat sync's schedule against a FAKE homeserver (the real one: the e2e): not logged in, nothing sent and the reason noted once; logged in, both commands in turn; a failed answer ends it; none within the time, a failure; due again after `everySeconds`", () => {
  const sync = profileSync({ kind: "wechat" } as Bridge, { wechatSync: { enabled: true, every: "7d" } } as Parameters<typeof profileSync>[1])!;
  const out = py(`
import json, profile_sync
class FakeOwner:
    """Answers send, /context and /messages as Synapse does for the bot's notices after an event."""
    def __init__(self, replies):
        self.replies, self.sent, self.events = replies, [], []
    def send(self, room, body, msgtype="m.text"):
        self.sent.append(body)
        self.events.append(("@owner:x", body))
        event_id = str(len(self.events) - 1)
        for r in self.replies.pop(0) if self.replies else []:
            self.events.append(("@wechatbot:x", r))
        return event_id
    def call(self, method, path, body=None):
        if "/context/" in path:
            return {"end": path.split("/context/")[1].split("?")[0]}
        start = int(path.split("from=")[1])
        evs = self.events[start + 1:]
        chunk = [{"sender": s, "type": "m.room.message", "content": {"msgtype": "m.notice" if s != "@owner:x" else "m.text", "body": b}} for s, b in evs]
        return {"chunk": chunk, "end": str(len(self.events) - 1)}
def run(replies, logged_in, record, login=None, now=None):
    owner = FakeOwner(replies)
    state = {"rec": record}
    b = {"kind": "wechat", "bot": "@wechatbot:x", "profileSync": json.loads(${JSON.stringify(JSON.stringify(sync))})}
    b["profileSync"]["timeoutSeconds"] = 0
    logs = []
    p = profile_sync.ProfileSync(b, owner, lambda: state["rec"], lambda r: state.update(rec=r), lambda msg, **f: logs.append(msg))
    p.step("!probe:x", logged_in, lambda: login, 0)
    p.step("!probe:x", logged_in, lambda: login, 0)
    return {"sent": owner.sent, "rec": {k: ({kk: vv for kk, vv in v.items() if kk not in ("at", "seconds")}) for k, v in state["rec"].items()}, "logs": logs}
results = [
    run([], False, {}),
    run([], True, {}, login=1.0),
    run([["Resynced contacts"], ["Resynced groups"]], True, {"skipped": {"at": "2026-12-01T00:00:00Z", "why": "WeChat is not logged in"}}),
    run([["Error resyncing contacts: no agent connection avaiable"]], True, {}),
    run([[], []], True, {}),
    run([["Resynced contacts"], ["Resynced groups"]], True, {"last": {"at": profile_sync._iso(__import__("time").time() - 3600), "ok": True, "answers": []}}),
]
print(json.dumps(results))`);
  const [notLoggedIn, loggingIn, done, failed, silent, notDue] = JSON.parse(out);
  assert.deepEqual(notLoggedIn, { sent: [], rec: { skipped: { why: "WeChat is not logged in" } }, logs: ["profile sync not run"] }, "noted once, though asked twice");
  assert.deepEqual(loggingIn.sent, []);
  assert.deepEqual(loggingIn.rec, { skipped: { why: "a login is going on" } });
  assert.deepEqual(done.sent, ["!wechat sync contacts --contact-avatars", "!wechat sync groups"]);
  assert.deepEqual(done.rec, { last: { ok: true, answers: ["Resynced contacts", "Resynced groups"] } }, "the skip note goes with a sync done");
  assert.deepEqual(failed.sent, ["!wechat sync contacts --contact-avatars"], "no second command after a failed first");
  assert.deepEqual(failed.rec, { last: { ok: false, answers: ["Error resyncing contacts: no agent connection avaiable"] } });
  assert.deepEqual(silent.rec, { last: { ok: false, answers: ["no answer to `!wechat sync contacts --contact-avatars` within 0 s"] } });
  assert.deepEqual(notDue.sent, [], "a sync an hour old is not due for a week");
});
