"""The doorbell itself: what is published to the broker, when, and what the sweep rings again for.

No worker here: the tests read the messages back from the real broker (the session's filesystem
folder, or Redis when CELERY_BROKER_URL says so).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone

from chatter import services
from chatter.tests.factories import LeadFactory, PartnerFactory
from mailqueue import crons, dispatch
from mailqueue.models import CronState, Mail, MailState
from tests.celery_fixtures import _reset_broker_pools

pytestmark = pytest.mark.django_db

Captured = Callable[..., Any]


@dataclass
class Published:
    task: str
    args: list[Any]
    eta: dt.datetime | None


@pytest.fixture
def broker() -> Iterator[Callable[[], list[Published]]]:
    """Purge the default queue, then hand back a function that drains and decodes it."""
    from config.celery_app import app

    app.control.purge()

    def drain() -> list[Published]:
        found: list[Published] = []
        with app.connection_for_write() as conn:
            queue = conn.SimpleQueue("celery", no_ack=True)
            try:
                while True:
                    try:
                        message = queue.get(block=False)
                    except queue.Empty:
                        break
                    eta = message.headers.get("eta")
                    found.append(
                        Published(
                            task=message.headers["task"],
                            args=list(message.decode()[0]),
                            eta=dt.datetime.fromisoformat(eta) if eta else None,
                        )
                    )
            finally:
                queue.close()
        return found

    yield drain
    app.control.purge()


def _state() -> CronState:
    return CronState.objects.get(name=crons.QUEUE_CRON)


def test_send_now_async_publishes_mail_send_after_commit(
    broker: Callable[[], list[Published]], django_capture_on_commit_callbacks: Captured
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        dispatch.send_now_async([3, 1, 2])
        assert broker() == []  # nothing before commit
    for callback in callbacks:
        callback()
    assert broker() == [Published(task=dispatch.MAIL_SEND_TASK, args=[[3, 1, 2]], eta=None)]


def test_posting_urgent_and_bulk_mail_rings_the_right_task(
    broker: Callable[[], list[Published]], django_capture_on_commit_callbacks: Captured
) -> None:
    lead = LeadFactory()
    follower = PartnerFactory()
    services.message_subscribe(record=lead, partners=[follower], subtype_codes=("mt_comment",))
    author = PartnerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        services.message_post(record=lead, body="x", subtype="mt_comment", author=author)
    with django_capture_on_commit_callbacks(execute=True):
        services.message_post(record=lead, body="y", subtype="mt_comment", author=author, urgent=False)
    ids = list(Mail.objects.order_by("id").values_list("id", flat=True))
    assert broker() == [
        Published(task=dispatch.MAIL_SEND_TASK, args=[[ids[0]]], eta=None),
        Published(task=crons.QUEUE_TASK, args=[], eta=None),
    ]


def test_queue_trigger_keeps_the_earliest_booking(
    broker: Callable[[], list[Published]], django_capture_on_commit_callbacks: Captured
) -> None:
    now = timezone.now()
    in_5, in_2, in_9 = (now + dt.timedelta(minutes=m) for m in (5, 2, 9))
    with django_capture_on_commit_callbacks(execute=True):
        dispatch.queue_trigger(at=in_5)
    assert _state().next_trigger_at == in_5
    with django_capture_on_commit_callbacks(execute=True):
        dispatch.queue_trigger(at=in_9)  # the 5-minute run serves it: nothing new
    assert _state().next_trigger_at == in_5
    with django_capture_on_commit_callbacks(execute=True):
        dispatch.queue_trigger(at=in_2)
    assert _state().next_trigger_at == in_2

    published = broker()
    assert [p.task for p in published] == [crons.QUEUE_TASK, crons.QUEUE_TASK]
    etas = [p.eta for p in published]
    assert etas[0] is not None and abs((etas[0] - in_5).total_seconds()) < 2
    assert etas[1] is not None and abs((etas[1] - in_2).total_seconds()) < 2


def test_a_stale_booking_is_replaced_and_now_is_rung_at_once(
    broker: Callable[[], list[Published]], django_capture_on_commit_callbacks: Captured
) -> None:
    CronState.objects.filter(name=crons.QUEUE_CRON).update(next_trigger_at=timezone.now() - dt.timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        dispatch.queue_trigger()
    assert _state().next_trigger_at is not None
    assert _state().next_trigger_at > timezone.now() - dt.timedelta(seconds=5)
    assert broker() == [Published(task=crons.QUEUE_TASK, args=[], eta=None)]


def test_a_far_booking_waits_on_the_row_for_the_sweep(
    broker: Callable[[], list[Published]], django_capture_on_commit_callbacks: Captured, settings: Any
) -> None:
    settings.MAILQUEUE_TRIGGER_ETA_HORIZON_SECONDS = 600
    next_week = timezone.now() + dt.timedelta(days=7)
    with django_capture_on_commit_callbacks(execute=True):
        dispatch.queue_trigger(at=next_week)
    assert _state().next_trigger_at == next_week
    assert broker() == []  # no week-long ETA message held by a worker
    assert not dispatch.queue_cron_overdue()
    CronState.objects.filter(name=crons.QUEUE_CRON).update(next_trigger_at=timezone.now() - dt.timedelta(seconds=1))
    assert dispatch.queue_cron_overdue()  # fallen due: the sweep rings it


def test_a_dead_broker_never_raises(
    django_capture_on_commit_callbacks: Captured, caplog: pytest.LogCaptureFixture
) -> None:
    from config.celery_app import app

    saved = app.conf.broker_write_url, app.conf.broker_transport_options
    app.conf.broker_write_url = "redis://127.0.0.1:1/0"
    app.conf.broker_transport_options = {}
    _reset_broker_pools(app)
    try:
        with caplog.at_level(logging.ERROR, logger="mailqueue.dispatch"):
            with django_capture_on_commit_callbacks(execute=True):
                dispatch.send_now_async([1])
                dispatch.queue_trigger()
    finally:
        app.conf.broker_write_url, app.conf.broker_transport_options = saved
        _reset_broker_pools(app)
    messages = [r.getMessage() for r in caplog.records]
    assert any("Could not enqueue mailqueue.tasks.mail_send" in m for m in messages)
    assert any("Could not enqueue mailqueue.tasks.process_email_queue_task" in m for m in messages)
    assert _state().next_trigger_at is not None  # the booking is on the row for the sweep


def _row(*, urgent: bool = True, age: int = 300, **fields: Any) -> Mail:
    lead = LeadFactory()
    message = services.message_post(record=lead, body="x", subtype="mt_note", author=PartnerFactory())
    return Mail.objects.create(
        message=message, urgent=urgent, created_at=timezone.now() - dt.timedelta(seconds=age), **fields
    )


def test_the_sweep_rings_again_only_for_rows_left_behind(
    broker: Callable[[], list[Published]], settings: Any
) -> None:
    settings.MAILQUEUE_SWEEP_GRACE_SECONDS = 60
    now = timezone.now()
    lost = _row()
    retry_due = _row(next_attempt_at=now - dt.timedelta(minutes=5))
    _row(age=10)  # its own doorbell may be in flight
    _row(scheduled_date=now + dt.timedelta(hours=1))
    _row(next_attempt_at=now + dt.timedelta(minutes=5))
    _row(lease_until=now + dt.timedelta(minutes=5), lease_owner="busy-worker")
    _row(state=MailState.SENT)
    _row(state=MailState.EXCEPTION)
    expired_lease = _row(lease_until=now - dt.timedelta(seconds=1), lease_owner="dead-worker")

    assert dispatch.urgent_rows_left_behind() == [lost.pk, retry_due.pk, expired_lease.pk]
    assert not dispatch.queue_cron_overdue()  # no bulk row waits, no booking is due

    assert dispatch.queue_sweep() == {"urgent_rows": 3, "queue_cron": 0, "other_crons": 0}
    assert broker() == [
        Published(task=dispatch.MAIL_SEND_TASK, args=[[lost.pk, retry_due.pk, expired_lease.pk]], eta=None)
    ]


def test_the_sweep_rings_the_queue_cron_for_bulk_rows_left_behind_unless_a_run_is_at_work(
    broker: Callable[[], list[Published]], settings: Any
) -> None:
    settings.MAILQUEUE_SWEEP_GRACE_SECONDS = 60
    _row(urgent=False)
    assert crons.cron_lease_acquire(crons.QUEUE_CRON, owner="running", seconds=60)
    assert dispatch.queue_sweep() == {"urgent_rows": 0, "queue_cron": 0, "other_crons": 0}
    assert crons.cron_lease_release(crons.QUEUE_CRON, owner="running")
    assert dispatch.queue_sweep() == {"urgent_rows": 0, "queue_cron": 1, "other_crons": 0}
    assert broker() == [Published(task=crons.QUEUE_TASK, args=[], eta=None)]


def test_the_sweep_rings_a_far_booking_with_a_countdown_once_it_is_due_before_the_next_tick(
    broker: Callable[[], list[Published]], settings: Any
) -> None:
    """A retry booked beyond the horizon (the backoff's cap is 30 minutes) runs at its time, not a tick late."""
    settings.MAILQUEUE_TRIGGER_ETA_HORIZON_SECONDS = 600
    now = timezone.now()
    CronState.objects.update_or_create(
        name=crons.QUEUE_CRON, defaults={"next_trigger_at": now + dt.timedelta(minutes=25)}
    )
    assert dispatch.queue_sweep()["queue_cron"] == 0  # not before the next tick: nothing yet
    assert broker() == []

    soon = now + dt.timedelta(seconds=40)
    CronState.objects.filter(name=crons.QUEUE_CRON).update(next_trigger_at=soon)
    assert dispatch.queue_sweep()["queue_cron"] == 1

    (published,) = broker()
    assert published.task == crons.QUEUE_TASK
    assert published.eta is not None and abs((published.eta - soon).total_seconds()) < 2
