#!/usr/bin/python3
"""The official image's /start.py in "run" mode, which is all the kit uses.

SYNAPSE_CONFIG_PATH (default $SYNAPSE_CONFIG_DIR/homeserver.yaml, i.e. /data/homeserver.yaml)
must exist. Started as root, Synapse runs as UID:GID (default 991:991) through gosu; that
user and group are created if missing so ps, logs and files show a name.
Unlike upstream, a first argument other than "run" is executed as a command, so tests can do
`docker run image python -c ...`. "generate" and "migrate_config" are refused: the kit renders
homeserver.yaml itself.
Written in Python rather than shell because bash hides an environment UID behind its own.
"""
import os
import platform
import subprocess
import sys

VENV_PYTHON = "/opt/synapse/bin/python"


def error(txt: str) -> None:
    print(f"start.py: {txt}", file=sys.stderr, flush=True)
    sys.exit(2)


def ensure_account(uid: int, gid: int) -> None:
    """Create group `gid` and user `uid` if missing, named synapse (or synapse<id> if taken)."""

    def known(db: str, key: object) -> bool:
        return subprocess.run(["getent", db, str(key)], stdout=subprocess.DEVNULL).returncode == 0

    if not known("group", gid):
        name = f"synapse{gid}" if known("group", "synapse") else "synapse"
        subprocess.run(["groupadd", "-r", "-g", str(gid), name], check=True)
    if not known("passwd", uid):
        name = f"synapse{uid}" if known("passwd", "synapse") else "synapse"
        subprocess.run(
            ["useradd", "-r", "-M", "-u", str(uid), "-g", str(gid), "-d", "/data", "-s", "/usr/sbin/nologin", name],
            check=True,
        )


def main(argv: list, environ: dict) -> None:
    mode = argv[1] if len(argv) > 1 else "run"
    if mode in ("generate", "migrate_config"):
        error(f"mode '{mode}' is not supported by this test image (the kit renders homeserver.yaml)")
    if mode != "run":
        os.execvp(argv[1], argv[1:])

    ownership = None
    if "UID" in environ:
        ownership = (int(environ["UID"]), int(environ.get("GID", "991")))
    elif os.getuid() == 0:
        ownership = (991, 991)

    args = argv[2:]
    if "-m" not in args:
        args = ["-m", environ.get("SYNAPSE_WORKER", "synapse.app.homeserver")] + args

    jemalloc = f"/usr/lib/{platform.machine()}-linux-gnu/libjemalloc.so.2"
    if os.path.isfile(jemalloc):
        environ["LD_PRELOAD"] = jemalloc

    if not any(a.startswith(("--config-path", "-c")) for a in args):
        config_dir = environ.get("SYNAPSE_CONFIG_DIR", "/data")
        config_path = environ.get("SYNAPSE_CONFIG_PATH", config_dir + "/homeserver.yaml")
        if not os.path.exists(config_path):
            error(
                f"config file '{config_path}' does not exist. Mount one and point "
                "SYNAPSE_CONFIG_PATH at it (this image never generates a config)."
            )
        args += ["--config-path", config_path]

    print("start.py: starting synapse with args " + " ".join(args), flush=True)
    args = [VENV_PYTHON] + args
    if ownership is not None and os.getuid() == 0:
        uid, gid = ownership
        ensure_account(uid, gid)
        os.execve("/usr/sbin/gosu", ["gosu", f"{uid}:{gid}"] + args, environ)
    os.execve(VENV_PYTHON, args, environ)


if __name__ == "__main__":
    main(sys.argv, dict(os.environ))
