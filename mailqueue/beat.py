"""Celery beat's heartbeat: the scheduler writes a timestamp as it ticks, diagnostics read it.

``CELERY_BEAT_SCHEDULER`` points at :class:`HeartbeatScheduler`, django-celery-beat's
``DatabaseScheduler`` (crons an admin edits) plus one write every :data:`HEARTBEAT_EVERY`. Beat
ticks at least every 5 seconds (the database scheduler's maximum loop interval), so a heartbeat
older than :data:`HEARTBEAT_STALE_AFTER` means beat is stopped or stuck: then, and only then, the
diagnostics warn about beat.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
from typing import Any

from django.db import DatabaseError, close_old_connections
from django.utils import timezone
from django_celery_beat.schedulers import DatabaseScheduler

from mailqueue.models import BeatHeartbeat

logger = logging.getLogger(__name__)

HEARTBEAT_EVERY = dt.timedelta(seconds=30)
# Four missed heartbeats: long enough for a busy database, short enough to be noticed.
HEARTBEAT_STALE_AFTER = dt.timedelta(minutes=2)


def beat_heartbeat_record(*, started_at: dt.datetime, now: dt.datetime | None = None) -> None:
    """Record that beat is alive (one row, whichever beat process wrote last)."""
    BeatHeartbeat.objects.update_or_create(
        pk=1,
        defaults={
            "hostname": socket.gethostname()[:255],
            "pid": os.getpid(),
            "started_at": started_at,
            "beat_at": now or timezone.now(),
        },
    )


def beat_heartbeat_get() -> BeatHeartbeat | None:
    """The last heartbeat of beat, or None when beat never ran against this database."""
    return BeatHeartbeat.objects.filter(pk=1).first()


class HeartbeatScheduler(DatabaseScheduler):
    """django-celery-beat's ``DatabaseScheduler`` that also records a heartbeat while it ticks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._started_at = timezone.now()
        self._last_heartbeat: float | None = None
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        interval: float = super().tick(*args, **kwargs)
        if self._last_heartbeat is None or time.monotonic() - self._last_heartbeat >= HEARTBEAT_EVERY.total_seconds():
            try:
                close_old_connections()
                beat_heartbeat_record(started_at=self._started_at)
            except DatabaseError:
                # The database may be restarting: beat keeps sending tasks; the stale heartbeat
                # shows on the diagnostics page if this lasts.
                logger.warning("Cannot record beat's heartbeat", exc_info=True)
            else:
                self._last_heartbeat = time.monotonic()
        return interval
