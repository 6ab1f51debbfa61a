"""matrix-kit watchdog: the Matrix side of a probe (watchdog.py's docstring says why it is so).

The monitoring account's rooms, kept in its account data: its direct chat with the owner (for
alerts) and one probe room per bridge, made as the owner; and reading the bot's answer there.
Standard library only, beside watchdog.py and kit_matrix.py on the host.
"""
import re
import time
from typing import Any, Callable, Optional

from kit_matrix import Matrix, MatrixError, q


RETENTION_MS = 24 * 3600 * 1000
RETENTION = {"type": "m.room.retention", "state_key": "", "content": {"max_lifetime": RETENTION_MS}}


def wait_joined(m: Matrix, room: str, user: str, seconds: int = 30) -> None:
    """A bot hears a room only once it has joined: the first probe must not be lost to that."""
    for _ in range(seconds):
        if user in m.call("GET", f"/_matrix/client/v3/rooms/{q(room)}/joined_members").get("joined", {}):
            return
        time.sleep(1)


class Rooms:
    """The monitoring account's rooms (its direct chat with the owner, each probe room), kept in its account data."""

    def __init__(self, m: Matrix, me: str, owner: Matrix, owner_id: str, key: str, log: Callable[..., None]):
        # key: the account data type (render/names.ts); a restore reads the same list.
        self.m, self.me, self.owner, self.owner_id, self.key, self.log = m, me, owner, owner_id, key, log
        try:
            self.ids = m.call("GET", f"/_matrix/client/v3/user/{q(me)}/account_data/{key}")
        except MatrixError:
            self.ids = {}

    def _keep(self, key: str, room: str) -> str:
        self.ids[key] = room
        self.m.call("PUT", f"/_matrix/client/v3/user/{q(self.me)}/account_data/{self.key}", self.ids)
        return room

    def owner_chat(self) -> str:
        """The monitoring account's direct chat with the owner, for alerts (no bot is in it)."""
        if self.owner_id in self.ids:
            return self.ids[self.owner_id]
        # Alerts add up to events nobody needs after a day: Synapse purges them (retention).
        room = self.m.call("POST", "/_matrix/client/v3/createRoom", {"invite": [self.owner_id], "is_direct": True, "preset": "trusted_private_chat", "initial_state": [RETENTION]})["room_id"]
        self.log("direct chat with the owner created", room=room)
        return self._keep(self.owner_id, room)

    def probe_room(self, b: dict) -> str:
        """The owner's probe room with this bridge's bot, made once (see the module's docstring)."""
        key = f"probe:{b['bot']}"
        if key in self.ids:
            return self.ids[key]
        room = self.owner.call("POST", "/_matrix/client/v3/createRoom", {
            "name": f"matrix-kit watchdog: {b['kind']} bridge probe (please leave it be)",
            "topic": "The kit's watchdog checks the bridge here as you, every few seconds; your chat with the bot is elsewhere.",
            "preset": "private_chat",
            "invite": [self.me],
            "initial_state": [RETENTION],
        })["room_id"]
        self.m.call("POST", f"/_matrix/client/v3/rooms/{q(room)}/join", {})
        self.owner.call("PUT", f"/_matrix/client/v3/user/{q(self.owner_id)}/rooms/{q(room)}/tags/m.lowpriority", {"order": 1})
        # The third member is in before the bot: neither bridge makes a room of three a management room.
        self.owner.call("POST", f"/_matrix/client/v3/rooms/{q(room)}/invite", {"user_id": b["bot"]})
        wait_joined(self.owner, room, b["bot"])
        self.log("probe room created", bridge=b["kind"], room=room)
        return self._keep(key, room)


def bot_joined(owner: Matrix, room: str, bot: str) -> bool:
    return bot in owner.call("GET", f"/_matrix/client/v3/rooms/{q(room)}/joined_members").get("joined", {})


def invite_again(owner: Matrix, room: str, bot: str) -> None:
    """A bot that never joined (its bridge was down or stuck at the invite) gets a fresh invite: a bridge handles an invite once."""
    try:
        owner.call("POST", f"/_matrix/client/v3/rooms/{q(room)}/kick", {"user_id": bot, "reason": "invited again"})
    except MatrixError:
        pass  # no invite left to take back
    owner.call("POST", f"/_matrix/client/v3/rooms/{q(room)}/invite", {"user_id": bot})
    wait_joined(owner, room, bot)


def _after(owner: Matrix, room: str, event_id: str) -> str:
    """The pagination token just after an event: what came after it is read forwards from there."""
    return owner.call("GET", f"/_matrix/client/v3/rooms/{q(room)}/context/{q(event_id)}?limit=0")["end"]


def _notices(page: dict, bot: str) -> list:
    """The bodies of the bot's notices in a page of /messages, in order."""
    return [
        ev.get("content", {}).get("body", "")
        for ev in page.get("chunk", [])
        if ev.get("sender") == bot and ev.get("type") == "m.room.message" and ev.get("content", {}).get("msgtype") == "m.notice"
    ]


def read_state(body: str, b: dict) -> Optional[bool]:
    """The login state an answer gives (True: logged in), or None when it is no answer to the status command.

    Logged in is read first: QQ lists every login with its state, and one that works is enough."""
    if re.search(b["loggedInPattern"], body):
        return True
    if re.search(b["loggedOutPattern"], body):
        return False
    return None


def wait_notice(owner: Matrix, room: str, bot: str, after: str, timeout: float, answer: Callable[[str], Any], limit: int = 20) -> Any:
    """The first of the bot's notices after our event `after` that `answer` makes something of (not None), or None when none came in time.

    A timeout of 0 reads what is there once (`limit` events)."""
    until = time.time() + timeout
    token = _after(owner, room, after)
    while True:
        page = owner.call("GET", f"/_matrix/client/v3/rooms/{q(room)}/messages?dir=f&limit={limit}&from={q(token)}")
        for body in _notices(page, bot):
            found = answer(body)
            if found is not None:
                return found
        token = page.get("end", token)
        if time.time() >= until:
            return None
        time.sleep(1)


def wait_answer(owner: Matrix, room: str, b: dict, after: str, timeout: float) -> Optional[bool]:
    """The login state in the bot's answer to our probe `after` (True: logged in), or None when none came in time."""
    # Only an answer to the status command counts: a greeting or any other notice is not one.
    return wait_notice(owner, room, b["bot"], after, timeout, lambda body: read_state(body, b))


def login_ended(owner: Matrix, room: str, login_event: str, b: dict) -> Optional[str]:
    """What the bot said to end the login `login_event` started (success or failure), or None while it goes on."""
    return wait_notice(owner, room, b["bot"], login_event, 0, lambda body: body if re.search(b["loginEndedPattern"], body) else None, limit=100)
