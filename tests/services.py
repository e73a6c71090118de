"""Real services a test may need (PostgreSQL, Redis): skip with the reason, or fail in CI.

Tests that need PostgreSQL or Redis call these first. Outside CI a missing service skips the
test with a clear reason; with ``CI=true`` and ``MAILCORE_REQUIRE_SERVICES=1`` it fails instead,
so CI can never go green by skipping what it was meant to prove.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest
from django.db import connection


def _services_required() -> bool:
    return os.environ.get("CI", "").lower() == "true" and os.environ.get("MAILCORE_REQUIRE_SERVICES") == "1"


def _missing(reason: str) -> None:
    if _services_required():
        pytest.fail(f"{reason} (CI=true and MAILCORE_REQUIRE_SERVICES=1: the service is required)")
    pytest.skip(reason)


def require_postgres() -> None:
    """Skip (or fail in CI) unless the test database is PostgreSQL."""
    if connection.vendor != "postgresql":
        _missing(
            f"needs PostgreSQL: the test database is {connection.vendor}; "
            "set DATABASE_URL=postgres://postgres@127.0.0.1:5432/<name>"
        )


def require_redis() -> str:
    """The Redis URL to use (``REDIS_URL``, else a redis:// ``CELERY_BROKER_URL``); skip or fail without one."""
    url = os.environ.get("REDIS_URL") or os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith(("redis://", "rediss://")):
        _missing("needs Redis: set REDIS_URL=redis://127.0.0.1:6379/<db>")
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError as exc:
        _missing(f"needs Redis: {url} is not reachable ({exc})")
        raise AssertionError("unreachable") from exc  # pragma: no cover - _missing always raises
    if not reply.startswith((b"+PONG", b"-NOAUTH")):
        _missing(f"needs Redis: {url} did not answer PING ({reply!r})")
    return url
