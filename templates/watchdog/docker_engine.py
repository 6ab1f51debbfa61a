"""The watchdog's calls outside Matrix: the Docker Engine API through the kit's Docker filter
(inspect and restart of the bridges, nothing else passes it), and a bridge's liveness endpoint."""
import calendar
import http.client
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


def docker(host: str, method: str, path: str, ok: int) -> Any:
    """One Engine API call to `host` ("tcp://name:port", DOCKER_HOST's form)."""
    where = urllib.parse.urlsplit(host.replace("tcp://", "http://", 1))
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=120)
    conn.request(method, path)
    res = conn.getresponse()
    body = res.read().decode(errors="replace")
    if res.status != ok:
        raise RuntimeError(f"docker {method} {path}: {res.status} {body}")
    return json.loads(body) if body else None


def started_at(host: str, name: str) -> float:
    """When the container last started (Docker's State.StartedAt, UTC), as a Unix time."""
    return parse_started_at(docker(host, "GET", f"/containers/{urllib.parse.quote(name)}/json", 200)["State"]["StartedAt"])


def parse_started_at(iso: str) -> float:
    """Docker's "2026-11-30T07:03:16.878276218Z", fraction kept: a bridge restarted in the second of its last answer
    must still count as not answered since its start (truncated, the answer looked newer than the start)."""
    fraction = re.match(r"\.(\d+)", iso[19:])
    return calendar.timegm(time.strptime(iso[:19], "%Y-%m-%dT%H:%M:%S")) + (float("0." + fraction.group(1)) if fraction else 0.0)


def live(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as res:
            return res.status == 200
    except (urllib.error.URLError, OSError):
        return False
