"""matrix-kit watchdog: heals a wedged bridge without the owner (issue 10).

Runs in its own container (the Synapse image: Python, no extra packages) on the kit's private
network, with the Docker socket to restart bridge containers. Configuration: the JSON file named
on the command line (written by the kit, mode 0600: it holds the registration shared secret).

Every `intervalSeconds`, for each bridge:
  1. its liveness endpoint (/_matrix/mau/live) must answer 200;
  2. the kit's monitoring account (registered with the shared secret; never the owner's) sends
     the bot its status command in their direct chat and waits `answerTimeoutSeconds` for the
     bot's notice. "Not logged in" after the bridge said "logged in" (since its last restart)
     is a regression and counts as a failure at every check until it logs in again; after the
     restart it is not held against the bridge again (a login truly lost is the owner's to redo).
`failuresBeforeRestart` failures in a row restart the bridge's container (at most
`maxRestartsPerHour`; beyond that it only alerts), log why, and tell the owner in a direct
message. `dailyRestart` ("HH:MM", UTC) restarts a bridge once a day, when set.
One line per event on stdout (docker logs).
"""
import http.client
import json
import re
import signal
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Optional

from kit_matrix import Matrix, MatrixError, register_or_login  # beside this script (templates/python)


def log(msg: str, **fields: Any) -> None:
    extra = " ".join(f"{k}={json.dumps(v)}" for k, v in fields.items())
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} watchdog: {msg} {extra}".rstrip(), flush=True)


ROOMS_KEY = "org.matrix-kit.watchdog.rooms"
RETENTION_MS = 24 * 3600 * 1000


def direct_room(m: Matrix, me: str, other: str, rooms: dict, wait_join: bool = False) -> str:
    """The direct chat with `other`, kept in the monitoring account's account data across restarts."""
    if other in rooms:
        return rooms[other]
    # Probes and answers add up to thousands of events a day: Synapse purges them after a day
    # (homeserver.yaml enables retention for rooms that ask for it, as these do).
    retention = {"type": "m.room.retention", "state_key": "", "content": {"max_lifetime": RETENTION_MS}}
    room = m.call("POST", "/_matrix/client/v3/createRoom", {"invite": [other], "is_direct": True, "preset": "trusted_private_chat", "initial_state": [retention]})["room_id"]
    rooms[other] = room
    m.call("PUT", f"/_matrix/client/v3/user/{urllib.parse.quote(me)}/account_data/{ROOMS_KEY}", rooms)
    log("direct chat created", other=other, room=room)
    # A bot hears a room only once it has joined: the first probe must not be lost to that.
    for _ in range(30 if wait_join else 0):
        joined = m.call("GET", f"/_matrix/client/v3/rooms/{urllib.parse.quote(room)}/joined_members").get("joined", {})
        if other in joined:
            break
        time.sleep(1)
    return room


def wait_answer(m: Matrix, room: str, bot: str, after: str, timeout: float) -> Optional[str]:
    """The bot's first notice after our event `after`, or None when none comes in time."""
    until = time.time() + timeout
    ctx = m.call("GET", f"/_matrix/client/v3/rooms/{urllib.parse.quote(room)}/context/{urllib.parse.quote(after)}?limit=0")
    token = ctx["end"]
    while time.time() < until:
        page = m.call("GET", f"/_matrix/client/v3/rooms/{urllib.parse.quote(room)}/messages?dir=f&limit=20&from={urllib.parse.quote(token)}")
        for ev in page.get("chunk", []):
            c = ev.get("content", {})
            if ev.get("sender") == bot and ev.get("type") == "m.room.message" and c.get("msgtype") == "m.notice":
                return c.get("body", "")
        token = page.get("end", token)
        time.sleep(1)
    return None


class DockerSocket(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 120):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def restart_container(sock: str, name: str, grace: int) -> None:
    conn = DockerSocket(sock)
    conn.request("POST", f"/containers/{urllib.parse.quote(name)}/restart?t={grace}")
    res = conn.getresponse()
    body = res.read().decode(errors="replace")
    if res.status != 204:
        raise RuntimeError(f"docker restart {name}: {res.status} {body}")


def live(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as res:
            return res.status == 200
    except (urllib.error.URLError, OSError):
        return False


class Watched:
    def __init__(self, b: dict):
        self.b = b
        self.failures = 0
        # Whether the bridge said "logged in" since it was (re)started.
        self.was_logged_in = False
        self.restarts: list = []
        # When the last check ran: a daily restart is due when its time falls after it.
        self.last_check = time.time()
        self.grace_until = 0.0
        # The owner has been told the bound was reached (told once, until the bridge answers again).
        self.limit_alerted = False


def alert(m: Matrix, me: str, cfg: dict, rooms: dict, text: str) -> None:
    try:
        m.send(direct_room(m, me, cfg["owner"], rooms), f"matrix-kit watchdog: {text}", "m.notice")
    except (MatrixError, OSError) as e:
        log("could not tell the owner", error=str(e), text=text)


def restart(w: Watched, m: Matrix, me: str, cfg: dict, rooms: dict, why: str) -> None:
    b = w.b
    now = time.time()
    w.restarts = [t for t in w.restarts if now - t < 3600]
    if len(w.restarts) >= cfg["maxRestartsPerHour"]:
        log("restart limit reached, alerting only", bridge=b["kind"], why=why, restarts_last_hour=len(w.restarts))
        if not w.limit_alerted:
            w.limit_alerted = True
            alert(m, me, cfg, rooms, f"the {b['kind']} bridge needs attention ({why}); it was restarted {len(w.restarts)} times in the last hour, so it is left alone: restart it by hand (docker restart {b['container']}).")
        w.failures = 0
        return
    log("restarting bridge", bridge=b["kind"], container=b["container"], why=why)
    try:
        restart_container(cfg["dockerSocket"], b["container"], b["stopGraceSeconds"])
    except (RuntimeError, OSError) as e:
        log("restart failed", bridge=b["kind"], error=str(e))
        alert(m, me, cfg, rooms, f"the {b['kind']} bridge needs attention ({why}) and could not be restarted: {e}")
        return
    w.restarts.append(now)
    w.failures = 0
    w.was_logged_in = False
    w.grace_until = time.time() + cfg["startGraceSeconds"]
    log("bridge restarted", bridge=b["kind"], container=b["container"])
    alert(m, me, cfg, rooms, f"the {b['kind']} bridge was restarted: {why}.")


def daily_due(hhmm: str, previous: float, now: float) -> bool:
    """Whether HH:MM (UTC) fell after the previous check and by now: once a day, never on start."""
    hours, minutes = (int(x) for x in hhmm.split(":"))
    day = now - now % 86400
    for at in (day + hours * 3600 + minutes * 60, day - 86400 + hours * 3600 + minutes * 60):
        if previous < at <= now:
            return True
    return False


def check(w: Watched, m: Matrix, me: str, cfg: dict, rooms: dict) -> None:
    b = w.b
    previous, w.last_check = w.last_check, time.time()
    if b.get("dailyRestart") and daily_due(b["dailyRestart"], previous, w.last_check):
        restart(w, m, me, cfg, rooms, f"daily restart at {b['dailyRestart']} UTC")
        return
    if time.time() < w.grace_until:
        return
    problem = None
    if not live(b["liveness"]):
        problem = f"liveness endpoint {b['liveness']} does not answer 200"
    else:
        room = direct_room(m, me, b["bot"], rooms, wait_join=True)
        sent = m.send(room, b["statusCommand"])
        answer = wait_answer(m, room, b["bot"], sent, cfg["answerTimeoutSeconds"])
        if answer is None:
            problem = f"no answer to `{b['statusCommand']}` within {cfg['answerTimeoutSeconds']} s"
        elif b["notLoggedInPattern"]:
            logged_in = not re.search(b["notLoggedInPattern"], answer, re.I)
            if logged_in and not w.was_logged_in:
                log("bridge is logged in", bridge=b["kind"])
                w.was_logged_in = True
            elif not logged_in and w.was_logged_in:
                problem = "the bridge said it was logged in and now says it is not"
    if problem is None:
        if w.failures:
            log("bridge answers again", bridge=b["kind"])
        w.failures = 0
        w.limit_alerted = False
        return
    w.failures += 1
    log("check failed", bridge=b["kind"], failure=w.failures, of=cfg["failuresBeforeRestart"], why=problem)
    if w.failures >= cfg["failuresBeforeRestart"]:
        restart(w, m, me, cfg, rooms, f"{problem} ({w.failures} checks in a row)")


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
    try:
        rooms = m.call("GET", f"/_matrix/client/v3/user/{urllib.parse.quote(me)}/account_data/{ROOMS_KEY}")
    except MatrixError:
        rooms = {}
    watched = [Watched(b) for b in cfg["bridges"]]
    for w in watched:
        w.grace_until = time.time() + cfg["startGraceSeconds"]
    log("watching", bridges=[b["kind"] for b in cfg["bridges"]], interval=cfg["intervalSeconds"])
    while True:
        started = time.time()
        # The container's health check reads this file's age: a loop that hangs turns it unhealthy.
        with open(cfg["aliveFile"], "w") as f:
            f.write(str(started))
        for w in watched:
            try:
                check(w, m, me, cfg, rooms)
            except (MatrixError, OSError) as e:
                # The homeserver itself is down or restarting: not the bridge's fault.
                log("check skipped", bridge=w.b["kind"], error=str(e))
        time.sleep(max(1.0, cfg["intervalSeconds"] - (time.time() - started)))


if __name__ == "__main__":
    main(sys.argv[1])
