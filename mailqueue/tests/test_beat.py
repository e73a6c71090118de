"""A real Celery beat (the configured scheduler, in a thread) and a real worker: the heartbeat, the
crons it sends, and what the diagnostics say about them."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest
from celery.beat import Service
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from mailcore.diagnostics import Status
from mailqueue.beat import HEARTBEAT_STALE_AFTER, HeartbeatScheduler, beat_heartbeat_get
from mailqueue.crons import SWEEP_CRON, SWEEP_TASK
from mailqueue.models import CronState
from mailqueue.support import check_beat, check_cron_health, queue_checks
from tests.celery_fixtures import LiveWorker, TaskLog, wait_until


class BeatThread:
    """Celery beat as ``celery -A config beat`` runs it (the settings' scheduler), in a thread."""

    def __init__(self, worker: LiveWorker) -> None:
        # What `celery beat` does: the scheduler class named by the beat_scheduler setting.
        self.service = Service(app=worker.app, scheduler_cls=worker.app.conf.beat_scheduler, max_interval=0.2)
        self.thread = threading.Thread(target=self._run, name="beat", daemon=True)

    def _run(self) -> None:
        try:
            self.service.start(embedded_process=False)
        finally:
            connection.close()

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        if self.thread.is_alive():
            self.service.stop(wait=True)
            self.thread.join(timeout=10)


@pytest.fixture
def beat(celery_worker_live: LiveWorker) -> Iterator[BeatThread]:
    assert settings.CELERY_BEAT_SCHEDULER == "mailqueue.beat:HeartbeatScheduler"
    beat = BeatThread(celery_worker_live)
    try:
        yield beat
    finally:
        beat.stop()


def test_fresh_install_with_beat_running_raises_no_warning(beat: BeatThread, celery_task_log: TaskLog) -> None:
    now = timezone.now()
    # A fresh install: every beat row was just created, except that the every-minute sweep of
    # the queue is due now, so beat sends it and the worker runs it.
    PeriodicTask.objects.update(date_changed=now)
    PeriodicTask.objects.filter(name=SWEEP_CRON).update(date_changed=now - dt.timedelta(minutes=2))
    beat.start()

    assert isinstance(beat.service.scheduler, HeartbeatScheduler)
    assert wait_until(lambda: beat_heartbeat_get() is not None), "beat records a heartbeat as it ticks"
    assert wait_until(lambda: bool(celery_task_log.of(SWEEP_TASK))), "beat sends the due sweep to the worker"
    assert wait_until(lambda: CronState.objects.filter(name=SWEEP_CRON, last_success=True).exists())

    checks = {check.key: check for check in queue_checks()}
    assert checks["beat"].status is Status.OK, checks["beat"]
    assert checks["crons"].status is Status.OK, checks["crons"].items
    assert not any("never ran" in item.text for item in checks["crons"].items)
    # The daily Auto-Vacuum ten minutes after the start: not due, not flagged.
    ten_minutes = check_cron_health(now=now + dt.timedelta(minutes=10))
    vacuum = next(item for item in ten_minutes.items if item.label == "Base: Auto-Vacuum")
    assert vacuum.status is Status.OK, vacuum

    # Beat stops: once its heartbeat is stale, the beat check (and only it) warns.
    beat.stop()
    assert not beat.thread.is_alive()
    heartbeat = beat_heartbeat_get()
    assert heartbeat is not None
    assert check_beat(now=heartbeat.beat_at + dt.timedelta(seconds=10)).status is Status.OK
    stale = check_beat(now=heartbeat.beat_at + HEARTBEAT_STALE_AFTER + dt.timedelta(seconds=1))
    assert stale.status is Status.WARNING
    assert "beat is stopped or stuck" in stale.summary
