"""Concurrent quota counting on PostgreSQL: many workers never exceed the limit together."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from mailcore.models import QuotaDay
from mailcore.quota import quota_consume, quota_status
from tests.services import require_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_consumers_never_exceed_the_limit(settings: Any) -> None:
    require_postgres()
    settings.MAILCORE_DAILY_LIMIT = 100
    assert not QuotaDay.objects.exists()  # every thread races to create today's row too
    workers = 8
    barrier = threading.Barrier(workers)
    granted = [0] * workers
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            for attempt in range(40):
                if quota_consume(1 + attempt % 3):
                    granted[index] += 1 + attempt % 3
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    # 8 × 40 requests of 1–3 units ask for ~640: exactly what was granted was counted, ≤ 100.
    assert sum(granted) == quota_status().used
    assert 98 <= quota_status().used <= 100
    assert QuotaDay.objects.count() == 1
