"""Fixtures of the gateway tests: a real gateway on a free loopback port, seeing the test database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bounces.gateway import GatewayController, make_controller
from bounces.selectors import alias_cache
from mailcore.models import AliasDomain
from mailcore.testing.smtp import free_port


@dataclass
class RunningGateway:
    host: str
    port: int
    controller: GatewayController


@pytest.fixture(autouse=True)
def _fresh_alias_cache() -> Iterator[None]:
    """A flushed database (transactional tests) must not meet aliases cached by an earlier test."""
    alias_cache.clear()
    yield
    alias_cache.clear()


@pytest.fixture
def start_gateway(celery_worker_factory: Callable[..., Any]) -> Iterator[Callable[[], RunningGateway]]:
    """Start gateways on demand (after adjusting settings); all are stopped at the end of the test.

    Depends on ``celery_worker_factory`` (started only if the test asks): it makes the test
    transactional and, on SQLite, puts the test database in a file,
    because the gateway's threads use their own database connections.
    """
    running: list[GatewayController] = []

    def start() -> RunningGateway:
        port = free_port()
        controller = make_controller(host="127.0.0.1", port=port)
        controller.start()
        running.append(controller)
        return RunningGateway("127.0.0.1", port, controller)

    try:
        yield start
    finally:
        for controller in running:
            controller.stop()


@pytest.fixture
def gateway(start_gateway: Callable[[], RunningGateway]) -> RunningGateway:
    """A gateway with the configured limits."""
    return start_gateway()


@pytest.fixture
def alias_domain(db: None) -> AliasDomain:
    """The default alias domain the data migration creates (``mailcore.localhost``)."""
    domain = AliasDomain.objects.order_by("sequence", "id").first()
    assert domain is not None, "the data migration creates the default alias domain"
    return domain
