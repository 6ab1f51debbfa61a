"""matrix-kit watchdog: bridged contacts' names and avatars kept fresh where the bridge allows it.

matrix-wechat 0.2.4 refreshes its ghosts' names and avatars, and its groups, only when told to:
`sync contacts --contact-avatars` and `sync groups` (internal/command.go fnSync; RequiresLogin, so
mautrix-go v0.16.2 answers "That command requires you to be logged in." for anyone else; otherwise
"Resynced contacts" / "Resynced groups", or "Error resyncing ...: <error>"). Only the logged-in
Matrix user may run them, so the watchdog sends them as the owner, with the prefix, in its probe
room, every `everySeconds`: when the bot's last answer to the probe said logged in and no login of
the owner's is going on; otherwise it sends nothing and notes why (npm run status shows it).

The bridge runs a command inside its event handler, so while a sync of many contacts goes on it
answers nothing else, the watchdog's probe included: until the sync has its answers (at most
`timeoutSeconds`), the watchdog holds a restart back. The last sync and its answers are kept in the
watchdog's state file, beside its restart counts. Standard library only, beside watchdog.py.
"""
import calendar
import re
import time
from typing import Callable, Optional

from kit_matrix import Matrix
from probe_room import wait_notice


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _epoch(iso: str) -> float:
    return float(calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ")))


class ProfileSync:
    def __init__(self, b: dict, owner: Matrix, load: Callable[[], dict], save: Callable[[dict], None], log: Callable[..., None]):
        # load/save: this bridge's record in the watchdog's state file ({"last": ..., "skipped": ...}).
        self.b, self.conf, self.owner, self.load, self.save, self.log = b, b["profileSync"], owner, load, save, log
        # The sync under way: when it started, its room, the answers so far, the command waiting for one.
        self.pending: Optional[dict] = None

    def in_progress(self, now: Optional[float] = None) -> bool:
        """Whether a sync is waiting for the bot's answer (the bridge may answer nothing else meanwhile)."""
        now = time.time() if now is None else now
        return self.pending is not None and now - self.pending["started"] < self.conf["timeoutSeconds"]

    def due(self, now: float) -> bool:
        last = self.load().get("last")
        return last is None or now - _epoch(last["at"]) >= self.conf["everySeconds"]

    def step(self, room: str, logged_in: bool, login_started: Callable[[], Optional[float]], wait: float) -> None:
        """Called after each successful probe: starts a sync that is due, or notes why it cannot run."""
        now = time.time()
        if self.pending is not None or not self.due(now):
            return
        why = "WeChat is not logged in" if not logged_in else ("a login is going on" if login_started() is not None else None)
        if why is not None:
            record = self.load()
            # Noted once per reason, not at every check.
            if record.get("skipped", {}).get("why") != why:
                self.log("profile sync not run", bridge=self.b["kind"], why=why)
                self.save({**record, "skipped": {"at": _iso(now), "why": why}})
            return
        self.log("profile sync", bridge=self.b["kind"], commands=self.conf["commands"])
        self.pending = {"started": now, "room": room, "answers": [], "event": self.owner.send(room, self.conf["commands"][0])}
        self.follow(wait)

    def follow(self, wait: float) -> None:
        """Reads the bot's answer to the command waiting for one (up to `wait` seconds), and goes on or ends."""
        p = self.pending
        while p is not None:
            command = self.conf["commands"][len(p["answers"])]
            answer = wait_notice(self.owner, p["room"], self.b["bot"], p["event"], wait, lambda body: body if re.search(self.conf["answerPattern"], body) else None)
            if answer is None:
                if not self.in_progress():
                    self._end(p, False, p["answers"] + [f"no answer to `{command}` within {self.conf['timeoutSeconds']} s"])
                return
            p["answers"].append(answer)
            if len(p["answers"]) == len(self.conf["commands"]) or not re.search(self.conf["okPattern"], answer):
                self._end(p, all(re.search(self.conf["okPattern"], a) for a in p["answers"]), p["answers"])
                return
            p["event"] = self.owner.send(p["room"], self.conf["commands"][len(p["answers"])])

    def _end(self, p: dict, ok: bool, answers: list) -> None:
        self.pending = None
        seconds = round(time.time() - p["started"], 1)
        self.log("profile sync done" if ok else "profile sync FAILED", bridge=self.b["kind"], answers=answers, seconds=seconds)
        record = {k: v for k, v in self.load().items() if k != "skipped"}
        self.save({**record, "last": {"at": _iso(p["started"]), "ok": ok, "answers": answers, "seconds": seconds}})
