"""What the benchmarks share: a scratch database (PostgreSQL when it answers, else SQLite),
their progress log on stderr (stdout carries only the result lines) and a process's peak memory."""

from __future__ import annotations

import sys
from pathlib import Path

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def peak_rss_kb(status: str) -> int:
    """``VmHWM`` (the peak resident set size, in kB) from the text of ``/proc/<pid>/status``."""
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise ValueError("no VmHWM line in the process status")


def own_peak_rss_kb() -> int:
    """This process's peak resident set size so far, in kB."""
    return peak_rss_kb(Path("/proc/self/status").read_text(encoding="ascii"))


def log(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def choose_database(requested: str, scratch: Path, name: str) -> tuple[str, str]:
    """(DATABASE_URL, "postgresql" | "sqlite"): a fresh PostgreSQL database ``name``, or SQLite."""
    if requested == "sqlite":
        return f"sqlite:///{scratch / 'bench.sqlite3'}", "sqlite"
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        if requested == "postgresql":
            raise
        log(f"PostgreSQL at 127.0.0.1:5432 does not answer ({exc}); using SQLite")
        return f"sqlite:///{scratch / 'bench.sqlite3'}", "sqlite"
    return f"postgres://postgres@127.0.0.1:5432/{name}", "postgresql"


def drop_database(kind: str, name: str) -> None:
    if kind != "postgresql":
        return
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
