"""matrix-kit watchdog: what it keeps about each bridge it watches, and when a daily restart is due.
Standard library only, beside watchdog.py."""
import time
from typing import Optional

from profile_sync import ProfileSync


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
        # When the bot last answered a probe: an answer since the container's start tells a wedge from an ignored probe.
        self.last_answer = 0.0
        # What the owner has been told, once each until the bridge answers again.
        self.told: set = set()
        # A daily restart held back by the owner's login, still to do.
        self.daily_pending = False
        # What the bot's latest answer said of the owner's login.
        self.logged_in = False
        # The scheduled profile sync, for a bridge that has one (WeChat).
        self.sync: Optional[ProfileSync] = None


def daily_due(hhmm: str, previous: float, now: float) -> bool:
    """Whether HH:MM (UTC) fell after the previous check and by now: once a day, never on start."""
    hours, minutes = (int(x) for x in hhmm.split(":"))
    day = now - now % 86400
    for at in (day + hours * 3600 + minutes * 60, day - 86400 + hours * 3600 + minutes * 60):
        if previous < at <= now:
            return True
    return False
