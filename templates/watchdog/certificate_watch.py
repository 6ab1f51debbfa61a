"""matrix-kit watchdog: tells the owner when renewing the HTTPS certificate failed (ACME).

Reads the result file the kit's certificate script writes (templates/acme/certificate.sh.hbs;
mounted read-only): a failed run is told once per run. The certificate in place keeps serving
meanwhile, and `npm run status` warns 14 days before it ends. Standard library only.
"""
import json
from typing import Optional


class CertificateWatch:
    def __init__(self, path: str, log: str):
        self.path, self.log = path, log
        self.told: set = set()

    def check(self) -> Optional[str]:
        """What to tell the owner about the certificate now, or None (nothing new)."""
        try:
            with open(self.path) as f:
                r = json.load(f)
        except (OSError, ValueError):
            return None  # no run yet, or a file being written
        at = r.get("at", "")
        if r.get("ok") or f"failed:{at}" in self.told:
            return None
        self.told.add(f"failed:{at}")
        return (
            f"renewing the HTTPS certificate FAILED at {at}: {r.get('error', '')}. The certificate in place serves until "
            f"{r.get('notAfter', '?')}; the renewal is tried again twice a day (its log on the VPS: {self.log})."
        )
