"""What the benchmarks share: a scratch database (PostgreSQL when it answers, else SQLite) and
their progress log on stderr (stdout carries only the result lines)."""

from __future__ import annotations

import sys
from pathlib import Path

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


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
