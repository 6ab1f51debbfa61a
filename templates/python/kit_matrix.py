"""matrix-kit: the Matrix client its Python jobs share (the watchdog, the upkeep job).

Written next to each job's script on the host (it is imported from the script's own directory)
and run by the Synapse image's Python: standard library only.
"""
import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Iterator, Optional


class MatrixError(Exception):
    def __init__(self, status: int, body: str):
        super().__init__(f"{status} {body[:300]}")
        self.status = status
        self.body = body


def q(v: str) -> str:
    """A path segment: user ids, room ids and media ids quoted whole."""
    return urllib.parse.quote(v, safe="")


class Matrix:
    def __init__(self, base: str, token: Optional[str] = None, as_user: Optional[str] = None):
        """`as_user` with an app service's token: every call acts as that user (?user_id=)."""
        self.base = base.rstrip("/")
        self.token = token
        self.as_user = as_user
        self.txn = int(time.time() * 1000)

    def call(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        data = None if body is None else json.dumps(body).encode()
        if self.as_user:
            path += ("&" if "?" in path else "?") + "user_id=" + q(self.as_user)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as res:
                return json.loads(res.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise MatrixError(e.code, e.read().decode(errors="replace")) from None

    def pages(self, path: str, key: str) -> Iterator[Any]:
        """Every item of a paginated admin API list (from / next_token)."""
        start: Any = 0
        sep = "&" if "?" in path else "?"
        while True:
            page = self.call("GET", f"{path}{sep}from={start}&limit=100", timeout=120)
            yield from page.get(key, [])
            start = page.get("next_token")
            if start is None:
                return

    def send(self, room: str, body: str, msgtype: str = "m.text") -> str:
        self.txn += 1
        path = f"/_matrix/client/v3/rooms/{q(room)}/send/m.room.message/kit-{self.txn}"
        return self.call("PUT", path, {"msgtype": msgtype, "body": body})["event_id"]


def wait_ready(m: Matrix, seconds: float, log: Callable[..., None]) -> None:
    """
    Waits for Synapse's /health: a job cron starts right after a reboot finds it still starting
    (connection refused), which is no reason to fail. Raises the last error after `seconds`.
    """
    until = time.time() + seconds
    told = False
    while True:
        try:
            with urllib.request.urlopen(m.base + "/health", timeout=10) as res:
                if res.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            if time.time() >= until:
                raise
        if not told:
            log("waiting for the homeserver to answer", url=m.base + "/health", up_to_s=seconds)
            told = True
        time.sleep(2)


def register_or_login(m: Matrix, shared_secret: str, user: str, password: str, admin: bool, log: Callable[..., None], token_file: Optional[str] = None) -> str:
    """
    One of the kit's own accounts: registered with the shared secret on first use, else logged in.
    With `token_file`, a token kept there is used while it is valid, and a new one is kept there:
    Synapse limits logins per account (rc_login.account: a burst of 3, then one per ~5 minutes),
    so a job or command that logged in on every run would soon be refused with 429.
    """
    if token_file and os.path.exists(token_file):
        with open(token_file) as f:
            m.token = f.read().strip()
        try:
            return m.call("GET", "/_matrix/client/v3/account/whoami")["user_id"]
        except MatrixError as e:
            if e.status != 401:
                raise
            m.token = None  # logged out or expired: log in again
    user_id = _register_or_login(m, shared_secret, user, password, admin, log)
    if token_file:
        fd = os.open(f"{token_file}.tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(m.token or "")
        os.replace(f"{token_file}.tmp", token_file)
    return user_id


def register(m: Matrix, shared_secret: str, user: str, password: str, admin: bool) -> Optional[dict]:
    """Registers an account with Synapse's shared secret; None when the name is taken (the account is left as it is)."""
    nonce = m.call("GET", "/_synapse/admin/v1/register")["nonce"]
    mac = hmac.new(shared_secret.encode(), digestmod=hashlib.sha1)
    mac.update(b"\x00".join([nonce.encode(), user.encode(), password.encode(), b"admin" if admin else b"notadmin"]))
    try:
        return m.call("POST", "/_synapse/admin/v1/register", {"nonce": nonce, "username": user, "password": password, "admin": admin, "mac": mac.hexdigest()})
    except MatrixError as e:
        if "M_USER_IN_USE" not in e.body:
            raise
    return None


def _register_or_login(m: Matrix, shared_secret: str, user: str, password: str, admin: bool, log: Callable[..., None]) -> str:
    res = register(m, shared_secret, user, password, admin)
    if res is not None:
        log("account registered", user=res["user_id"], admin=admin)
        m.token = res["access_token"]
        return res["user_id"]
    res = m.call("POST", "/_matrix/client/v3/login", {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user}, "password": password})
    m.token = res["access_token"]
    return res["user_id"]
