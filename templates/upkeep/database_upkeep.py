"""The upkeep job's work on the database: its size, Synapse's state tables compressed by
synapse_auto_compressor (installed from PyPI into the job's cache on first use, hash-pinned), and
VACUUM (ANALYZE). Standard library and psycopg2 (in the Synapse image) only."""
import os
import subprocess
import sys
import time
from typing import Callable

from kit_matrix import q  # beside this script (templates/python)

# The job's log (upkeep.py's), passed in as kit_matrix's helpers take it.
Log = Callable[..., None]


def db_connect(cfg: dict):
    import psycopg2  # in the Synapse image; imported here so --help works anywhere

    d = cfg["database"]
    return psycopg2.connect(host=d["host"], port=d["port"], user=d["user"], password=d["password"], dbname=d["name"], connect_timeout=30)


def db_size(cfg: dict) -> int:
    with db_connect(cfg) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_database_size(current_database())")
        return int(cur.fetchone()[0])


def ensure_compressor(sc: dict, log: Log) -> None:
    """synapse_auto_compressor in the job's cache: installed once from PyPI, hash-checked."""
    vendor = sc["vendor"]
    # The marker names the pinned version and hash: a kit that pins another one installs afresh.
    marker = os.path.join(vendor, f".installed-{sc['requirement']}-{sc['sha256'][:16]}")
    if os.path.exists(marker):
        return
    req = os.path.join(os.path.dirname(vendor), "requirements.txt")
    with open(req, "w") as f:
        f.write(f"{sc['requirement']} --hash=sha256:{sc['sha256']}\n")
    log("installing the state compressor", requirement=sc["requirement"])
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-cache-dir", "--no-deps", "--only-binary", ":all:", "--require-hashes", "--upgrade", "-r", req, "--target", vendor],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600, text=True,
    )
    if r.returncode != 0:
        raise RuntimeError(f"pip could not install {sc['requirement']} (the VPS needs to reach PyPI once): {r.stdout.strip()[-500:]}")
    open(marker, "w").close()


def compress_state(cfg: dict, log: Log) -> dict:
    sc = cfg["stateCompression"]
    ensure_compressor(sc, log)
    d = cfg["database"]
    db_url = f"postgresql://{q(d['user'])}:{q(d['password'])}@{d['host']}:{d['port']}/{q(d['name'])}"
    # In a child process: the Rust library panics rather than raising, and its memory goes with it.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import synapse_auto_compressor as c; "
        "c.compress_state_events_table(db_url=sys.argv[2], chunk_size=int(sys.argv[3]), default_levels=sys.argv[4], number_of_chunks=int(sys.argv[5]))"
    )
    with db_connect(cfg) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM state_groups_state")
        before = int(cur.fetchone()[0])
    t0 = time.time()
    r = subprocess.run(
        [sys.executable, "-c", code, sc["vendor"], db_url, str(sc["chunkSize"]), sc["defaultLevels"], str(sc["numberOfChunks"])],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=3600, text=True,
    )
    if r.returncode != 0:
        raise RuntimeError(f"synapse_auto_compressor exited {r.returncode}: {r.stdout.strip()[-500:]}")
    with db_connect(cfg) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM state_groups_state")
        after = int(cur.fetchone()[0])
    log("state compressed", state_groups_state_rows_before=before, after=after, seconds=round(time.time() - t0, 1))
    return {"rowsBefore": before, "rowsAfter": after}


def vacuum(cfg: dict, log: Log) -> None:
    conn = db_connect(cfg)
    try:
        conn.autocommit = True  # VACUUM cannot run in a transaction
        with conn.cursor() as cur:
            t0 = time.time()
            cur.execute("VACUUM (ANALYZE)")
        log("database vacuumed and analyzed", seconds=round(time.time() - t0, 1))
    finally:
        conn.close()
