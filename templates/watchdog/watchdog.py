"""matrix-kit watchdog: heals a wedged bridge without the owner.

Runs in its own container (the Synapse image: Python, no extra packages) on the kit's private
network; it restarts bridge containers through the kit's Docker filter (an HAProxy that passes only
inspect and restart of the bridges), reached over TCP at `dockerHost` (tcp://host:port). Configuration: the JSON file named
on the command line (written by the kit, mode 0600: it holds the registration shared secret and
the double-puppet app service's token).

The probe goes the way the owner's own messages go, as the owner, without a second bridge user
(matrix-wechat 0.2.4 keeps one Matrix user: a second one is never saved, shared/real-bridges/
OBSERVED.md): with the kit's double-puppet app service token the watchdog acts as the owner in a
probe room of its own (the owner, the monitoring account and the bot: three members, so neither
bridge makes it a management room; the monitoring account sends nothing there once the bot is in,
so the bridge never sees it; the owner's client files it under low priority), and sends the
bridge's status command with its prefix, which both bots answer in any room:
`!wechat ping`, `!qq list-logins` (QQ has no `ping`). Only an answer that reads as a login state
counts (the WeChat bot's greeting is not one). The owner's management room is never touched.

Every `intervalSeconds`, for each bridge:
  1. its liveness endpoint (/_matrix/mau/live) must answer 200;
  2. the status command must be answered within `answerTimeoutSeconds`. "Not logged in" after it
     said "logged in" (since its last restart) is the owner's login lost, and counts as a failure
     until the restart; after that it is not held against the bridge (the owner must log in again).
An unanswered probe counts as a failure only when the bridge has answered since it last started:
one that never answered since its start ignores the command here, or was stuck from its start, and
a restart would only repeat that (it restart-looped the real WeChat bridge), so the owner is told
once instead. `failuresBeforeRestart` failures in a row restart the container (at most
`maxRestartsPerHour`; beyond that it only alerts), unless the owner's login to it is in progress:
from the owner's `login` (QQ's `relogin` too) until the bot says the login ended, in success or
failure, and at most the bridge's login window (QQ's `login` holds its event handler until the QR
code is scanned: a restart would kill the login). Then the restart is held back and the owner told why.
`dailyRestart` ("HH:MM", UTC) restarts a bridge once a day, when set. A bridge with `profileSync`
(WeChat) gets its contacts and groups synced as the owner on a schedule (profile_sync.py). Every restart is counted in
`stateFile`, which `npm run status` shows (a restart through the Docker API does not raise the
container's RestartCount). One line per event on stdout (docker logs).
"""
import json
import os
import re
import signal
import sys
import time
import urllib.parse
from typing import Any, Optional

from kit_matrix import Matrix, MatrixError, q, register_or_login  # beside this script (templates/python)
from docker_engine import docker, live, parse_started_at, started_at  # beside this script
from backup_watch import BackupWatch  # beside this script
from certificate_watch import CertificateWatch  # beside this script
from probe_room import Rooms, bot_joined, invite_again, login_ended, wait_answer  # beside this script
from profile_sync import ProfileSync  # beside this script
from watched import Watched, daily_due  # beside this script


def log(msg: str, **fields: Any) -> None:
    extra = " ".join(f"{k}={json.dumps(v)}" for k, v in fields.items())
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} watchdog: {msg} {extra}".rstrip(), flush=True)


class Watchdog:
    def __init__(self, cfg: dict, m: Matrix, me: str):
        self.cfg, self.m, self.me = cfg, m, me
        self.owner = Matrix(cfg["homeserver"], cfg["doublePuppetToken"], cfg["owner"])
        self.rooms = Rooms(m, me, self.owner, cfg["owner"], cfg["monitor"]["roomsKey"], log)
        self.watched = [Watched(b) for b in cfg["bridges"]]
        self.state = self._load_state()
        for w in self.watched:
            if w.b.get("profileSync"):
                w.sync = ProfileSync(w.b, self.owner, lambda c=w.b["container"]: self.state.get(c, {}).get("sync", {}), lambda rec, c=w.b["container"]: self._save(c, sync=rec), log)
        self.owner_seen = False
        self.owner_missing_logged = False
        # Logins whose end was seen (their event ids): logged once each.
        self.logins_ended: set = set()

    def _load_state(self) -> dict:
        try:
            with open(self.cfg["stateFile"]) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def _record_restart(self, b: dict, why: str) -> None:
        restarts = self.state.get(b["container"], {}).get("restarts", 0)
        self._save(b["container"], restarts=restarts + 1, last=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), why=why)

    def _save(self, container: str, **fields: Any) -> None:
        """Updates the container's entry in the state file (`npm run status` reads it), whole or not at all."""
        self.state.setdefault(container, {"restarts": 0}).update(fields)
        tmp = self.cfg["stateFile"] + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.state, f)
        os.replace(tmp, self.cfg["stateFile"])

    def alert(self, text: str) -> None:
        try:
            self.m.send(self.rooms.owner_chat(), f"matrix-kit watchdog: {text}", "m.notice")
        except (MatrixError, OSError) as e:
            log("could not tell the owner", error=str(e), text=text)

    def tell_once(self, w: Watched, key: str, text: str) -> None:
        if key not in w.told:
            w.told.add(key)
            self.alert(text)

    def owner_exists(self) -> bool:
        """The probes act as the owner: before the owner's account exists only liveness is checked."""
        if not self.owner_seen:
            try:
                self.m.call("GET", f"/_matrix/client/v3/profile/{q(self.cfg['owner'])}")
                self.owner_seen = True
            except MatrixError as e:
                if e.status != 404:
                    raise
                if not self.owner_missing_logged:
                    log("the owner has no account yet: only liveness is checked until it exists", owner=self.cfg["owner"])
                    self.owner_missing_logged = True
        return self.owner_seen

    def login_in_progress(self, b: dict) -> Optional[float]:
        """When the owner's latest login to this bridge started, while it goes on (within its window, and
        the bot has not said it ended), or None.

        A login command is any of the bridge's (QQ's `relogin` waits for the QR scan as `login` does),
        bare or with the prefix, sent in a room the bot is in: the owner's login to the other bridge
        holds nothing here. Found by server-side search, one word at a time (a term matches whole words)."""
        since = (time.time() - b["loginWindowSeconds"]) * 1000
        command = rf"({re.escape(b['commandPrefix'])}\s+)?({'|'.join(map(re.escape, b['loginCommands']))})(\s.*)?"
        latest: Optional[dict] = None
        for word in b["loginCommands"]:
            body = {"search_categories": {"room_events": {"search_term": word, "keys": ["content.body"], "order_by": "recent", "filter": {"senders": [self.cfg["owner"]], "limit": 10}}}}
            for r in self.owner.call("POST", "/_matrix/client/v3/search", body)["search_categories"]["room_events"].get("results", []):
                ev = r.get("result", {})
                text = str(ev.get("content", {}).get("body", "")).strip()
                if ev.get("origin_server_ts", 0) >= since and re.fullmatch(command, text) and bot_joined(self.owner, ev.get("room_id", ""), b["bot"]):
                    if latest is None or ev["origin_server_ts"] > latest["origin_server_ts"]:
                        latest = ev
                    break
        if latest is None:
            return None
        ended = login_ended(self.owner, latest["room_id"], latest["event_id"], b)
        if ended is None:
            return latest["origin_server_ts"] / 1000
        if latest["event_id"] not in self.logins_ended:
            self.logins_ended.add(latest["event_id"])
            log("the owner's login ended: nothing held back", bridge=b["kind"], answer=ended.split("\n")[0])
        return None

    def restart(self, w: Watched, why: str) -> bool:
        """Restarts the bridge, unless the owner is logging in (False: held back, try again later)."""
        b, cfg = w.b, self.cfg
        if w.sync is not None and w.sync.in_progress():
            log("restart held back: a profile sync waits for the bot's answer", bridge=b["kind"], why=why)
            return False
        started = self.login_in_progress(b)
        if started is not None:
            at = time.strftime("%H:%M:%S", time.gmtime(started))
            log("restart held back: the owner is logging in", bridge=b["kind"], why=why, login_started=at)
            self.tell_once(w, "login", f"the {b['kind']} bridge is due a restart ({why}), but you started a login at {at} UTC and a restart would end it (the bridge may handle nothing else until the login ends, up to {b['loginWindowSeconds'] // 60} minutes): it is not restarted before then.")
            return False
        now = time.time()
        w.restarts = [t for t in w.restarts if now - t < 3600]
        if len(w.restarts) >= cfg["maxRestartsPerHour"]:
            log("restart limit reached, alerting only", bridge=b["kind"], why=why, restarts_last_hour=len(w.restarts))
            self.tell_once(w, "limit", f"the {b['kind']} bridge needs attention ({why}); it was restarted {len(w.restarts)} times in the last hour, so it is left alone: restart it by hand (docker restart {b['container']}).")
            w.failures = 0
            return True
        log("restarting bridge", bridge=b["kind"], container=b["container"], why=why)
        try:
            docker(cfg["dockerHost"], "POST", f"/containers/{urllib.parse.quote(b['container'])}/restart?t={b['stopGraceSeconds']}", 204)
        except (RuntimeError, OSError) as e:
            log("restart failed", bridge=b["kind"], error=str(e))
            self.alert(f"the {b['kind']} bridge needs attention ({why}) and could not be restarted: {e}")
            return True
        w.restarts.append(now)
        w.failures = 0
        w.was_logged_in = False
        w.last_answer = 0.0
        w.grace_until = time.time() + cfg["startGraceSeconds"]
        self._record_restart(b, why)
        log("bridge restarted", bridge=b["kind"], container=b["container"])
        self.alert(f"the {b['kind']} bridge was restarted: {why}.")
        return True

    def probe(self, w: Watched) -> Optional[str]:
        """What is wrong with the bridge now, or None when it answered as it should."""
        b, cfg = w.b, self.cfg
        if not live(b["liveness"]):
            return f"liveness endpoint {b['liveness']} does not answer 200"
        if not self.owner_exists():
            return None
        room = self.rooms.probe_room(b)
        sent = self.owner.send(room, b["statusCommand"])
        logged_in = wait_answer(self.owner, room, b, sent, cfg["answerTimeoutSeconds"])
        since = started_at(cfg["dockerHost"], b["container"])
        if logged_in is None:
            if not bot_joined(self.owner, room, b["bot"]):
                log("the bot is not in the probe room: invited again", bridge=b["kind"], room=room)
                invite_again(self.owner, room, b["bot"])
                return None
            if w.last_answer < since:
                log("no answer since the bridge started: not a wedge a restart heals", bridge=b["kind"], command=b["statusCommand"], started=time.strftime("%H:%M:%SZ", time.gmtime(since)))
                self.tell_once(w, "silent", f"the {b['kind']} bridge is running but has not answered `{b['statusCommand']}` in the watchdog's probe room since it started; it may ignore the command there, or have been stuck since its start. The watchdog does not restart it for this (a restart would not change it): check the bridge's log (docker logs {b['container']}).")
                return None
            return f"no answer to `{b['statusCommand']}` within {cfg['answerTimeoutSeconds']} s"
        if w.last_answer < since:
            log("bridge answers the probe", bridge=b["kind"], started=time.strftime("%H:%M:%SZ", time.gmtime(since)))
        w.last_answer = time.time()
        w.logged_in = logged_in
        if logged_in and not w.was_logged_in:
            log("bridge is logged in", bridge=b["kind"])
            w.was_logged_in = True
        elif not logged_in and w.was_logged_in:
            return "the bridge said you were logged in and now says you are not"
        w.told.discard("silent")
        return None

    def check(self, w: Watched) -> None:
        b = w.b
        previous, w.last_check = w.last_check, time.time()
        if b.get("dailyRestart") and (w.daily_pending or daily_due(b["dailyRestart"], previous, w.last_check)):
            # Held back by a login, it is tried again at every check until it happens.
            w.daily_pending = not self.restart(w, f"daily restart at {b['dailyRestart']} UTC")
            if not w.daily_pending:
                return
        if time.time() < w.grace_until:
            return
        problem = self.probe(w)
        if w.sync is not None:
            if w.sync.pending is not None:
                w.sync.follow(0)  # a sync under way: its answer, if it came
            elif problem is None and w.last_answer >= w.last_check:  # the bot answered just now
                w.sync.step(self.rooms.probe_room(b), w.logged_in, lambda: self.login_in_progress(b), self.cfg["answerTimeoutSeconds"])
        if problem is None:
            if w.failures:
                log("bridge answers again", bridge=b["kind"])
            w.failures = 0
            w.told.discard("limit")
            w.told.discard("login")
            return
        w.failures += 1
        log("check failed", bridge=b["kind"], failure=w.failures, of=self.cfg["failuresBeforeRestart"], why=problem)
        if w.failures >= self.cfg["failuresBeforeRestart"]:
            self.restart(w, f"{problem} ({w.failures} checks in a row)")


def main(path: str) -> None:
    # PID 1 in its container: without a handler SIGTERM would be ignored until the kill.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(path) as f:
        cfg = json.load(f)
    m = Matrix(cfg["homeserver"])
    while True:
        try:
            me = register_or_login(m, cfg["registrationSharedSecret"], cfg["monitor"]["localpart"], cfg["monitor"]["password"], False, log)
            break
        except (MatrixError, OSError) as e:
            log("homeserver not ready", error=str(e))
            time.sleep(10)
    dog = Watchdog(cfg, m, me)
    for w in dog.watched:
        w.grace_until = time.time() + cfg["startGraceSeconds"]
    # The backups' and the certificate's results, told to the owner like a bridge's trouble.
    watches = [w(c["resultFile"], c["log"]) for w, c in ((BackupWatch, cfg.get("backup")), (CertificateWatch, cfg.get("certificate"))) if c]
    log("watching", bridges=[b["kind"] for b in cfg["bridges"]], interval=cfg["intervalSeconds"])
    while True:
        started = time.time()
        # The container's health check reads this file's age: a loop that hangs turns it unhealthy.
        with open(cfg["aliveFile"], "w") as f:
            f.write(str(started))
        for w in dog.watched:
            try:
                dog.check(w)
            except (MatrixError, OSError, RuntimeError) as e:
                # The homeserver or the engine is down or restarting: not the bridge's fault.
                log("check skipped", bridge=w.b["kind"], error=str(e))
        for news in filter(None, (w.check() for w in watches)):
            log("alert", text=news)
            dog.alert(news)
        time.sleep(max(1.0, cfg["intervalSeconds"] - (time.time() - started)))


if __name__ == "__main__":
    main(sys.argv[1])
