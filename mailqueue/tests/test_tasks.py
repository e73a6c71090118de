"""The doorbell, the queue cron and the sweep, with a real Celery worker (never eager mode).

The worker runs in threads of the test process on a filesystem broker in the test's folder (Redis
when CELERY_BROKER_URL says so); the SMTP server is a real aiosmtpd sink.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from celery import Celery
from celery.beat import Service
from django.db import connection, transaction
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from chatter import services
from chatter.models import Message, NotificationStatus
from chatter.tests.factories import LeadFactory, PartnerFactory
from demo.models import Lead
from mailcore.models import Partner
from mailcore.testing.smtp import SmtpSink
from mailqueue import crons, dispatch
from mailqueue.models import CronState, DeliveryLog, Mail, MailState
from tests.celery_fixtures import LiveWorker, TaskLog, _reset_broker_pools, wait_until

TIMEOUT = 30.0


def _lead_with_followers(count: int = 1) -> tuple[Lead, list[Partner], Partner]:
    lead = LeadFactory()
    followers = [PartnerFactory(email=f"follower{i}@example.com") for i in range(count)]
    services.message_subscribe(record=lead, partners=followers, subtype_codes=("mt_comment",))
    return lead, followers, PartnerFactory(name="Author", email="author@example.com")


def _post(lead: Lead, author: Partner, **kwargs: Any) -> Message:
    return services.message_post(record=lead, body="<p>Hello</p>", subtype="mt_comment", author=author, **kwargs)


def _statuses(message: Message) -> set[str]:
    return set(message.notifications.values_list("notification_status", flat=True))


def _recipients(sink: SmtpSink) -> list[str]:
    return sorted(rcpt for m in sink.messages for rcpt in m.rcpt_tos)


def _queue_runs(log: TaskLog) -> list[dict[str, Any]]:
    return [r.retval for r in log.of(crons.QUEUE_TASK) if isinstance(r.retval, dict) and not r.retval.get("skipped")]


# --- urgent mail: the doorbell after commit ----------------------------------------------------------
def test_urgent_mail_is_sent_by_the_worker_right_after_commit(
    smtp_sink: SmtpSink, celery_task_log: TaskLog, celery_worker_live: LiveWorker
) -> None:
    lead, _, author = _lead_with_followers()
    with transaction.atomic():
        message = _post(lead, author)
        # Nothing is enqueued before commit: a worker would not even see the row yet.
        time.sleep(1.0)
        assert smtp_sink.messages == []
        assert celery_task_log.runs == []

    assert len(smtp_sink.wait_for(1, timeout=TIMEOUT)) == 1
    assert _recipients(smtp_sink) == ["follower0@example.com"]
    assert wait_until(lambda: bool(celery_task_log.of(dispatch.MAIL_SEND_TASK)), TIMEOUT)  # the task has finished
    assert _statuses(message) == {NotificationStatus.SENT}
    assert not Mail.objects.filter(message=message).exists()  # auto-deleted once sent
    assert DeliveryLog.objects.filter(chatter_message=message, success=True).count() == 1
    sends = celery_task_log.of(dispatch.MAIL_SEND_TASK)
    assert len(sends) == 1 and sends[0].retval["sent"] == 1
    assert celery_task_log.of(crons.QUEUE_TASK) == []  # not through the queue cron


@contextmanager
def _broker_down(app: Celery) -> Iterator[None]:
    """Point the publisher at a port nobody listens on (the worker keeps its own connection)."""
    good_url, good_options = app.conf.broker_write_url, app.conf.broker_transport_options
    app.conf.broker_write_url = "redis://127.0.0.1:1/0"
    app.conf.broker_transport_options = {}
    _reset_broker_pools(app)
    try:
        yield
    finally:
        app.conf.broker_write_url, app.conf.broker_transport_options = good_url, good_options
        _reset_broker_pools(app)


def test_a_broker_failure_loses_nothing_and_the_sweep_sends_the_mail(
    smtp_sink: SmtpSink, celery_task_log: TaskLog, celery_worker_live: LiveWorker, settings: Any
) -> None:
    settings.MAILQUEUE_SWEEP_GRACE_SECONDS = 0
    lead, _, author = _lead_with_followers()
    with _broker_down(celery_worker_live.app):
        message = _post(lead, author)  # posting still succeeds: the row is the queue
    assert Mail.objects.filter(message=message, state=MailState.OUTGOING).count() == 1
    time.sleep(1.0)
    assert smtp_sink.messages == []

    crons.cron_run_now(crons.SWEEP_CRON)

    assert len(smtp_sink.wait_for(1, timeout=TIMEOUT)) == 1
    assert wait_until(lambda: _statuses(message) == {NotificationStatus.SENT}, TIMEOUT)
    sweep = CronState.objects.get(name=crons.SWEEP_CRON)
    assert sweep.last_success is True and '"urgent_rows": 1' in sweep.last_result


def test_mail_send_is_idempotent(
    smtp_sink: SmtpSink, celery_task_log: TaskLog, celery_worker_live: LiveWorker
) -> None:
    lead, _, author = _lead_with_followers(2)
    with _broker_down(celery_worker_live.app):
        message = _post(lead, author)  # no doorbell yet
    (mail_id,) = Mail.objects.filter(message=message).values_list("pk", flat=True)
    for _ in range(3):  # the same doorbell rung three times (redelivery, sweep, Send Now …)
        celery_worker_live.app.send_task(dispatch.MAIL_SEND_TASK, args=[[mail_id]])

    assert wait_until(lambda: len(celery_task_log.of(dispatch.MAIL_SEND_TASK)) == 3, TIMEOUT)
    assert _recipients(smtp_sink) == ["follower0@example.com", "follower1@example.com"]  # once each
    assert sum(run.retval["sent"] for run in celery_task_log.of(dispatch.MAIL_SEND_TASK)) == 2
    assert _statuses(message) == {NotificationStatus.SENT}


@contextmanager
def _beat(app: Celery) -> Iterator[Service]:
    """A real beat with django-celery-beat's DatabaseScheduler, in a thread."""
    service = Service(app, max_interval=0.5, scheduler_cls="django_celery_beat.schedulers:DatabaseScheduler")

    def run() -> None:
        try:
            service.start()
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield service
    finally:
        service.stop()
        thread.join(10)
        assert not thread.is_alive()


def test_the_beat_runs_the_sweep_which_rings_for_lost_doorbells(
    smtp_sink: SmtpSink, celery_task_log: TaskLog, celery_worker_live: LiveWorker, settings: Any
) -> None:
    settings.MAILQUEUE_SWEEP_GRACE_SECONDS = 0
    lead, _, author = _lead_with_followers(2)
    with _broker_down(celery_worker_live.app):
        urgent = _post(lead, author)
        bulk = _post(lead, author, urgent=False)
    time.sleep(1.0)
    assert smtp_sink.messages == []
    # The sweep is internal (exempt from the 5-minute floor): every second for the test.
    every_second = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.filter(name=crons.SWEEP_CRON).update(interval=every_second)

    with _beat(celery_worker_live.app):
        assert len(smtp_sink.wait_for(4, timeout=TIMEOUT)) == 4
        assert wait_until(lambda: _statuses(urgent) == _statuses(bulk) == {NotificationStatus.SENT}, TIMEOUT)

    assert celery_task_log.of(crons.SWEEP_TASK)
    assert celery_task_log.of(dispatch.MAIL_SEND_TASK)  # the urgent row, rung again
    assert _queue_runs(celery_task_log)  # the bulk row, through the queue cron
    assert _recipients(smtp_sink) == sorted(["follower0@example.com", "follower1@example.com"] * 2)


# --- bulk and scheduled mail: the queue cron -----------------------------------------------------------
def test_bulk_mail_goes_out_with_the_queue_cron(
    smtp_sink: SmtpSink, celery_task_log: TaskLog, celery_worker_live: LiveWorker
) -> None:
    lead, _, author = _lead_with_followers(3)
    message = _post(lead, author, urgent=False)

    assert len(smtp_sink.wait_for(3, timeout=TIMEOUT)) == 3
    assert wait_until(lambda: bool(_queue_runs(celery_task_log)), TIMEOUT)  # the run has finished
    assert _statuses(message) == {NotificationStatus.SENT}
    assert celery_task_log.of(dispatch.MAIL_SEND_TASK) == []  # bulk mail is not rung one by one
    runs = _queue_runs(celery_task_log)
    assert sum(run["done"] for run in runs) == 1  # one row of 3 recipients
    state = CronState.objects.get(name=crons.QUEUE_CRON)
    assert state.last_success is True and state.running_until is None
    assert state.last_run_at is not None and state.last_duration is not None


def test_bulk_mail_waits_while_another_run_holds_the_queue_cron(
    smtp_sink: SmtpSink, celery_task_log: TaskLog, celery_worker_live: LiveWorker
) -> None:
    # Another worker is in a run (and dies): its lease expires in 3 seconds.
    assert crons.cron_lease_acquire(crons.QUEUE_CRON, owner="dying-worker", seconds=3)
    lease_end = CronState.objects.get(name=crons.QUEUE_CRON).running_until
    assert lease_end is not None
    lead, _, author = _lead_with_followers()
    message = _post(lead, author, urgent=False)

    # The trigger reached a worker, which found the lease taken and returned at once …
    assert wait_until(lambda: any(r.retval == {"skipped": True} for r in celery_task_log.of(crons.QUEUE_TASK)), TIMEOUT)
    assert smtp_sink.messages == []
    # … booking the next run for when the lease ends, so the mail still leaves without anyone's help.
    assert len(smtp_sink.wait_for(1, timeout=TIMEOUT)) == 1
    assert timezone.now() >= lease_end
    assert wait_until(lambda: bool(_queue_runs(celery_task_log)), TIMEOUT)
    assert _statuses(message) == {NotificationStatus.SENT}
    runs = _queue_runs(celery_task_log)
    assert runs and all(dt.datetime.fromisoformat(run["started_at"]) >= lease_end for run in runs)


def test_scheduled_mail_is_sent_at_its_time(
    smtp_sink: SmtpSink, celery_task_log: TaskLog, celery_worker_live: LiveWorker
) -> None:
    lead, _, author = _lead_with_followers()
    at = timezone.now() + dt.timedelta(seconds=4)
    message = _post(lead, author, scheduled_date=at)
    # The queue cron is booked for that time (Odoo ir.cron._trigger(at)).
    assert CronState.objects.get(name=crons.QUEUE_CRON).next_trigger_at == at

    time.sleep(2.0)
    assert smtp_sink.messages == []
    assert len(smtp_sink.wait_for(1, timeout=TIMEOUT)) == 1
    arrived = timezone.now()
    assert at <= arrived <= at + dt.timedelta(seconds=TIMEOUT)
    assert wait_until(lambda: any(run["done"] == 1 for run in _queue_runs(celery_task_log)), TIMEOUT)
    assert _statuses(message) == {NotificationStatus.SENT}
    runs = _queue_runs(celery_task_log)
    assert any(run["done"] == 1 and dt.datetime.fromisoformat(run["started_at"]) >= at for run in runs)


def test_the_queue_cron_retriggers_itself_while_rows_remain(
    smtp_sink: SmtpSink, celery_task_log: TaskLog, celery_worker_live: LiveWorker, settings: Any
) -> None:
    settings.MAILQUEUE_RECIPIENTS_PER_MAIL = 1  # one row per recipient
    settings.MAILQUEUE_CLAIM_BATCH_SIZE = 3
    settings.MAILQUEUE_CRON_TIME_BUDGET_SECONDS = 0  # one batch per run
    settings.MAILQUEUE_SENDER_TASKS = 1  # no helpers: every row is sent by a run of the cron itself
    lead, followers, author = _lead_with_followers(20)
    message = _post(lead, author, urgent=False)
    assert Mail.objects.filter(message=message).count() == 20

    assert len(smtp_sink.wait_for(20, timeout=TIMEOUT * 2)) == 20
    assert _recipients(smtp_sink) == sorted(f.email for f in followers)  # each exactly once
    assert wait_until(lambda: sum(run["done"] for run in _queue_runs(celery_task_log)) == 20, TIMEOUT)
    assert _statuses(message) == {NotificationStatus.SENT}
    runs = _queue_runs(celery_task_log)
    assert len(runs) >= 7  # 20 rows, 3 per run: it kept re-triggering itself
    assert all(run["done"] <= 3 for run in runs)
    assert sum(run["done"] for run in runs) == 20


@pytest.mark.parametrize("workers", [1, 2], ids=["one-worker-6-threads", "two-workers-3-threads"])
def test_queue_cron_runs_never_overlap(
    smtp_sink: SmtpSink, celery_task_log: TaskLog, celery_worker_factory: Any, settings: Any, workers: int
) -> None:
    settings.MAILQUEUE_RECIPIENTS_PER_MAIL = 1
    settings.MAILQUEUE_CLAIM_BATCH_SIZE = 20
    if workers == 2 and str(settings.CELERY_BROKER_URL).startswith("redis"):
        # kombu's event loop is a process global: two embedded workers on an asynchronous transport
        # cannot share one process. The one-worker variant covers Redis; the lease lives in the database.
        pytest.skip("two embedded workers in one process need a polling broker (filesystem)")
    first = celery_worker_factory(concurrency=6 // workers)
    if workers == 2:
        celery_worker_factory(concurrency=3)
    lead, followers, author = _lead_with_followers(150)
    # Hold the queue cron while the rows are created (their own trigger bounces off the lease) …
    assert crons.cron_lease_acquire(crons.QUEUE_CRON, owner="test", seconds=60)
    _post(lead, author, urgent=False)
    assert wait_until(lambda: bool(celery_task_log.of(crons.QUEUE_TASK)), TIMEOUT)
    celery_task_log.runs.clear()
    assert crons.cron_lease_release(crons.QUEUE_CRON, owner="test")
    # … then ring it six times at once, for six worker threads.
    for _ in range(6):
        first.app.send_task(crons.QUEUE_TASK)

    assert len(smtp_sink.wait_for(150, timeout=TIMEOUT * 2)) == 150
    assert _recipients(smtp_sink) == sorted(f.email for f in followers)  # no duplicates, nothing lost
    assert wait_until(lambda: len(celery_task_log.of(crons.QUEUE_TASK)) >= 6, TIMEOUT)
    runs = sorted(_queue_runs(celery_task_log), key=lambda run: run["started_at"])
    skipped = [r for r in celery_task_log.of(crons.QUEUE_TASK) if r.retval == {"skipped": True}]
    assert skipped, "six simultaneous triggers and not one found the lease taken"
    for earlier, later in itertools.pairwise(runs):
        assert earlier["finished_at"] <= later["started_at"], (earlier, later)


def test_cron_run_now_runs_the_autovacuum_on_a_worker(celery_task_log: TaskLog, celery_worker_live: LiveWorker) -> None:
    old = timezone.now() - dt.timedelta(days=400)
    DeliveryLog.objects.create(mail_id_ref=1, message_id="<old@x>", recipient="a@x", date=old)
    keep = DeliveryLog.objects.create(mail_id_ref=2, message_id="<new@x>", recipient="b@x")

    crons.cron_run_now(crons.AUTOVACUUM_CRON)

    assert wait_until(lambda: bool(celery_task_log.of(crons.AUTOVACUUM_TASK)), TIMEOUT)
    assert list(DeliveryLog.objects.values_list("pk", flat=True)) == [keep.pk]
    state = CronState.objects.get(name=crons.AUTOVACUUM_CRON)
    assert state.last_success is True and '"delivery_logs": 1' in state.last_result
