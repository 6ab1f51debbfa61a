#!/usr/bin/env python3
"""matrix-kit upkeep job: one run, started by cron through run.sh in a throwaway
container of the Synapse image on the kit's private network.

  1. Media by who uploaded them (Synapse's admin API): media of the bridges' ghosts and bots
     not accessed for `bridgedMediaLifetimeSeconds` are deleted; media of real local users (the
     owner) only when `localUserMediaLifetimeSeconds` is set; protected media never (stickers
     are protected by `npm run stickers`), nor media in use as a profile picture or a bridged
     room's avatar. Remote media expire by Synapse's own
     remote_media_lifetime.
  2. History of bridged rooms (the rooms a bridge bot is in) older than
     `bridgedRoomHistoryLifetimeSeconds`, when set, through the purge history admin API.
  3. Database: Synapse's state tables compressed by synapse_auto_compressor (PyPI, hash-pinned,
     installed into the job's cache on first use), then VACUUM (ANALYZE).
  4. Sizes of the media store and the database before and after, and what was freed: in the
     log and, as JSON, in the last line ("upkeep summary {...}") and last-run.json.

Exit 1 when a step failed (the others still ran); 0 otherwise. Standard library and psycopg2
(both in the Synapse image) only.
"""
import argparse
import json
import os
import re
import sys
import time
from typing import Any, Callable, Optional

from kit_matrix import Matrix, MatrixError, q, register_or_login, wait_ready  # beside this script (templates/python)
from database_upkeep import compress_state, db_size, vacuum  # beside this script


def log(msg: str, **fields: Any) -> None:
    extra = " ".join(f"{k}={json.dumps(v)}" for k, v in fields.items())
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} upkeep: {msg} {extra}".rstrip(), flush=True)


def mib(n: int) -> str:
    return f"{n / 1048576:.1f} MiB"


def admin_login(m: Matrix, cfg: dict) -> None:
    """The kit's admin account (`npm run stickers` uses it too), once Synapse answers (up to 5 minutes after a reboot)."""
    wait_ready(m, 300, log)
    register_or_login(m, cfg["registrationSharedSecret"], cfg["admin"]["localpart"], cfg["admin"]["password"], True, log, cfg["admin"]["tokenFile"])


def tree_bytes(path: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass  # deleted while we walked
    return total


def media_sizes(store: str) -> dict:
    """The media store as Synapse lays it out: local uploads and their thumbnails, the remote cache."""
    local = tree_bytes(os.path.join(store, "local_content")) + tree_bytes(os.path.join(store, "local_thumbnails"))
    remote = tree_bytes(os.path.join(store, "remote_content")) + tree_bytes(os.path.join(store, "remote_thumbnail"))
    return {"local": local, "remote": remote, "total": local + remote}


def sizes(cfg: dict) -> dict:
    return {"media": media_sizes(cfg["mediaStore"]), "database": db_size(cfg)}


class Tally:
    def __init__(self) -> None:
        self.deleted = 0
        self.bytes = 0
        self.protected = 0
        self.kept = 0
        self.avatars = 0  # past the lifetime, kept: in use as a profile picture or room avatar


def media_id_of(mxc: Any, server: str) -> Optional[str]:
    prefix = f"mxc://{server}/"
    return mxc[len(prefix):] if isinstance(mxc, str) and mxc.startswith(prefix) else None


def bridged_rooms(m: Matrix, cfg: dict) -> list:
    """The rooms a bridge bot is in: the portals and the owner's chats with the bots."""
    return sorted({r for bot in cfg["bridgeBots"] for r in m.call("GET", f"/_synapse/admin/v1/users/{q(bot)}/joined_rooms").get("joined_rooms", [])})


def avatars_in_use(m: Matrix, cfg: dict) -> set:
    """Room avatars of the rooms the bridges' bots are in (portals): kept like profile pictures."""
    used = set()
    for room in bridged_rooms(m, cfg):
        for ev in m.call("GET", f"/_synapse/admin/v1/rooms/{q(room)}/state").get("state", []):
            if ev.get("type") == "m.room.avatar":
                mid = media_id_of(ev.get("content", {}).get("url"), cfg["serverName"])
                if mid:
                    used.add(mid)
    return used


def profile_avatar(m: Matrix, cfg: dict, user: str) -> Optional[str]:
    try:
        return media_id_of(m.call("GET", f"/_matrix/client/v3/profile/{q(user)}").get("avatar_url"), cfg["serverName"])
    except MatrixError as e:
        if e.status == 404:
            return None
        raise


def expire_media(m: Matrix, cfg: dict, owner_of: Callable[[str], Optional[str]], lifetimes: dict, now_ms: int) -> dict:
    """
    Delete media of each uploader class whose lifetime is set and that were not accessed within it,
    unless protected or in use as an avatar: a ghost's profile picture or a portal's room avatar
    (the bridges upload those once and do not upload them again while they are unchanged, which
    is also why Synapse's own purge keeps them: keep_profiles).
    """
    tallies = {cls: Tally() for cls in lifetimes}
    room_avatars: Optional[set] = None
    # Every page first: the list is ordered by media size, so deleting while paging through it
    # would move users across page boundaries and skip them (seen: 428 of 500 in the benchmark).
    users = list(m.pages("/_synapse/admin/v1/statistics/users/media?order_by=user_id&dir=f", "users"))
    for u in users:
        cls = owner_of(u["user_id"])
        if cls is None:
            continue
        t = tallies[cls]
        # No lifetime for this class: its media are counted for the log, never deleted.
        cutoff = None if lifetimes.get(cls) is None else now_ms - lifetimes[cls] * 1000
        doomed = []
        for item in m.pages(f"/_synapse/admin/v1/users/{q(u['user_id'])}/media?order_by=created_ts&dir=f", "media"):
            if item.get("safe_from_quarantine"):
                t.protected += 1  # protected media are never deleted (stickers)
            elif cutoff is not None and (item.get("last_access_ts") or item["created_ts"]) < cutoff:
                doomed.append(item)
            else:
                t.kept += 1
        if doomed:
            if room_avatars is None:
                room_avatars = avatars_in_use(m, cfg)
            in_use = room_avatars | {profile_avatar(m, cfg, u["user_id"])}
            t.avatars += sum(1 for i in doomed if i["media_id"] in in_use)
            doomed = [i for i in doomed if i["media_id"] not in in_use]
        # Listed first, deleted after: deleting while paging would shift the pages.
        for item in doomed:
            m.call("DELETE", f"/_synapse/admin/v1/media/{q(cfg['serverName'])}/{q(item['media_id'])}")
            t.deleted += 1
            t.bytes += item.get("media_length") or 0
        if doomed:
            log("expired media", user=u["user_id"], deleted=len(doomed), freed=mib(sum(i.get("media_length") or 0 for i in doomed)))
    return {cls: vars(t) for cls, t in tallies.items()}


def purge_history(m: Matrix, cfg: dict, lifetime_s: int, now_ms: int) -> dict:
    rooms = bridged_rooms(m, cfg)
    purged, nothing = 0, 0
    for room in rooms:
        try:
            pid = m.call("POST", f"/_synapse/admin/v1/purge_history/{q(room)}", {"delete_local_events": True, "purge_up_to_ts": now_ms - lifetime_s * 1000})["purge_id"]
        except MatrixError as e:
            if e.status in (400, 404):  # nothing older than the cut-off in this room
                nothing += 1
                continue
            raise
        for _ in range(600):
            status = m.call("GET", f"/_synapse/admin/v1/purge_history_status/{q(pid)}")["status"]
            if status != "active":
                break
            time.sleep(1)
        if status != "complete":
            raise RuntimeError(f"purging {room} ended {status}")
        purged += 1
    log("bridged rooms' history purged", rooms=len(rooms), purged=purged, nothing_to_purge=nothing)
    return {"rooms": len(rooms), "purged": purged}


def main(argv: list) -> int:
    p = argparse.ArgumentParser(description="matrix-kit upkeep: one run")
    p.add_argument("config")
    p.add_argument("--scheduled", action="store_true", help="started by cron (recorded in the log)")
    # Test-only: lifetimes shorter than a stack may set (its settings take days), so that a test
    # sees media expire within a run.
    p.add_argument("--bridged-media-lifetime-seconds", type=int)
    p.add_argument("--local-user-media-lifetime-seconds", type=int)
    p.add_argument("--history-lifetime-seconds", type=int)
    args = p.parse_args(argv)
    with open(args.config) as f:
        cfg = json.load(f)
    bridged_s = args.bridged_media_lifetime_seconds or cfg["bridgedMediaLifetimeSeconds"]
    local_s = args.local_user_media_lifetime_seconds or cfg["localUserMediaLifetimeSeconds"]
    history_s = args.history_lifetime_seconds or cfg["bridgedRoomHistoryLifetimeSeconds"]
    started = time.time()
    log("run started", by="cron" if args.scheduled else "hand", bridged_media_lifetime_s=bridged_s, local_user_media_lifetime_s=local_s, history_lifetime_s=history_s)

    bridged = [re.compile(r) for r in cfg["bridgedUsers"]]
    kit = set(cfg["kitUsers"])

    def owner_of(user: str) -> Optional[str]:
        if any(r.fullmatch(user) for r in bridged):
            return "bridged"
        return None if user in kit else "localUsers"

    summary: dict = {"by": "cron" if args.scheduled else "hand", "failed": []}
    m = Matrix(cfg["homeserver"])

    def step(name: str, f: Callable[[], Any]) -> None:
        try:
            summary[name] = f()
        except Exception as e:  # one failed step does not keep the others from running
            log(f"{name} FAILED", error=str(e)[-800:])
            summary["failed"].append(name)

    step("before", lambda: sizes(cfg))
    step("login", lambda: admin_login(m, cfg))
    now_ms = int(time.time() * 1000)
    step("media", lambda: expire_media(m, cfg, owner_of, {"bridged": bridged_s, "localUsers": local_s}, now_ms))
    if history_s:
        step("history", lambda: purge_history(m, cfg, history_s, now_ms))
    if cfg["stateCompression"]:
        step("stateCompression", lambda: compress_state(cfg, log))
    step("vacuum", lambda: vacuum(cfg, log))
    step("after", lambda: sizes(cfg))
    summary["seconds"] = round(time.time() - started, 1)

    media = summary.get("media") or {}
    freed = sum(t["bytes"] for t in media.values())
    deleted = sum(t["deleted"] for t in media.values())
    summary["freedBytes"] = freed
    b, a = summary.get("before"), summary.get("after")
    if b and a:
        log(
            "run done",
            deleted_media=deleted,
            freed=mib(freed),
            protected_kept=sum(t["protected"] for t in media.values()),
            avatars_kept=sum(t["avatars"] for t in media.values()),
            media_store=f"{mib(b['media']['total'])} -> {mib(a['media']['total'])}",
            database=f"{mib(b['database'])} -> {mib(a['database'])}",
            failed=summary["failed"],
        )
    try:
        with open(cfg["lastRunFile"], "w") as f:
            json.dump({"finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **summary}, f)
    except OSError as e:
        log("could not write the last run's summary", error=str(e))
    print(f"upkeep summary {json.dumps(summary, sort_keys=True)}", flush=True)
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
