"""matrix-kit watchdog: tells the owner when the backup failed or stopped running.

Reads the result file the backup script writes (templates/backup/backup.sh.hbs; mounted
read-only): a failed run is told once per run, a last success older than two days once until a
newer one. Standard library only, beside watchdog.py on the host.
"""
import calendar
import json
import time
from typing import Optional

STALE_SECONDS = 2 * 86400


class BackupWatch:
    def __init__(self, path: str, log: str):
        self.path, self.log = path, log
        self.told: set = set()

    def check(self, now: Optional[float] = None) -> Optional[str]:
        """What to tell the owner about the backups now, or None (nothing new)."""
        now = time.time() if now is None else now
        try:
            with open(self.path) as f:
                r = json.load(f)
        except (OSError, ValueError):
            return None  # no backup yet (npm run status says so), or a file being written
        at = r.get("at", "")
        if not r.get("ok"):
            key = f"failed:{at}"
            text = f"the {r.get('reason', '')} backup at {at} FAILED: {r.get('error', '')}. Nothing new is saved off the VPS until it works again: run npm run backup to see why."
        else:
            try:
                age = now - calendar.timegm(time.strptime(at, "%Y-%m-%dT%H:%M:%SZ"))
            except ValueError:
                return None
            if age <= STALE_SECONDS:
                return None
            key = f"stale:{at}"
            text = f"the last backup is from {at}, {int(age // 86400)} days ago: the nightly backup is not running (its log on the VPS: {self.log})."
        if key in self.told:
            return None
        self.told.add(key)
        return text
