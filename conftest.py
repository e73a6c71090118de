"""Fixtures shared by every test: a real SMTP sink on a free loopback port, wired as the
built-in outgoing server, and a DNS stand-in on loopback for the diagnostics and DKIM checks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mailcore.testing.dns import DnsStandIn
from mailcore.testing.smtp import SmtpSink

pytest_plugins = ["tests.celery_fixtures"]


@pytest.fixture
def smtp_sink(settings: pytest.FixtureRequest) -> Iterator[SmtpSink]:
    """A real aiosmtpd server; the built-in outgoing server (settings) points at it."""
    sink = SmtpSink().start()
    settings.MAILCORE_SMTP_HOST = sink.host  # type: ignore[attr-defined]
    settings.MAILCORE_SMTP_PORT = sink.port  # type: ignore[attr-defined]
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def dns_server(settings: Any) -> Iterator[DnsStandIn]:
    """Every DNS lookup of the test goes to a stand-in on 127.0.0.1, never to the network."""
    with DnsStandIn() as server:
        settings.MAILCORE_DNS_NAMESERVER = server.host
        settings.MAILCORE_DNS_PORT = server.port
        settings.MAILCORE_DNS_TIMEOUT = 0.5
        yield server


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    """Each test starts with an empty cache: the login and API throttles count in it, and user ids
    are reused from one test to the next."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _default_language_after() -> Iterator[None]:
    """A request through LocaleMiddleware leaves its language active in the thread: the next test
    starts in the default language."""
    from django.utils import translation

    yield
    translation.deactivate()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``nodb`` the tests that cannot reach the database (pytest-django blocks it for them):
    the second pass of ``make test`` (PostgreSQL and Redis) leaves them out, since they would
    only repeat the first pass."""
    for item in items:
        uses_db = item.get_closest_marker("django_db") is not None or "django_db_setup" in getattr(
            item, "fixturenames", ()
        )
        if not uses_db:
            item.add_marker(pytest.mark.nodb)
