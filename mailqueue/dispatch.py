"""Ringing Celery's doorbell after commit (the row is the queue, Celery is the doorbell).

Nothing here sends mail. :func:`send_now_async` asks a worker to send urgent rows at once;
:func:`queue_trigger` asks for a run of the Email Queue Manager at a given time (Odoo
``ir.cron._trigger``). Both act after the surrounding transaction commits, and neither ever
raises because the broker is down: the rows are already in the database, and the beat sweep
(``mailqueue.tasks.queue_sweep_task``) rings again for anything a lost message left behind, so a
broker failure only delays mail.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from celery import current_app
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from mailqueue import conf
from mailqueue.crons import QUEUE_CRON, QUEUE_TASK, SWEEP_CRON, registered_crons
from mailqueue.models import CronState, Mail, MailState
from mailqueue.sender import next_due_at
from mailqueue.sender.claim import due_mails, lease_free_q

logger = logging.getLogger(__name__)

MAIL_SEND_TASK = "mailqueue.tasks.mail_send"
QUEUE_SEND_TASK = "mailqueue.tasks.mail_queue_send"

# A web request that posts a message must not hang on a dead broker: try briefly, then leave the
# row to the sweep.
# The sweep rings a booked run due before its next tick (it runs every minute by default).
SWEEP_LOOKAHEAD = next(spec.interval for spec in registered_crons() if spec.name == SWEEP_CRON)

_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def _publish(task_name: str, *, args: list[object] | None = None, countdown: float | None = None) -> bool:
    try:
        current_app.send_task(
            task_name, args=args or [], countdown=countdown, retry=True, retry_policy=_PUBLISH_RETRY_POLICY
        )
    except Exception:
        # Any broker error (connection refused, full disk…): the sweep rings again later.
        logger.exception("Could not enqueue %s; the sweep will pick the work up", task_name)
        return False
    return True


def send_now_async(mail_ids: Sequence[int]) -> None:
    """Ask a worker to send these (urgent) rows right after the current transaction commits.

    The task is idempotent: rows already sent, cancelled or claimed by another worker are skipped.
    """
    ids = [int(i) for i in mail_ids]
    if not ids:
        return
    transaction.on_commit(lambda: _publish(MAIL_SEND_TASK, args=[ids]))


def _ring_cron(name: str, task: str, at: dt.datetime | None) -> None:
    now = timezone.now()
    when = at if at is not None and at > now else now
    CronState.objects.get_or_create(name=name)
    # Keep the earliest booked run (Odoo's ir.cron.trigger rows): a booked run at or before `when`
    # that has not happened yet will serve this work too, because every run ends by re-triggering
    # itself for the next due work. A booking in the past is stale or being served: replace it.
    booked_later_or_stale = CronState.objects.filter(name=name).filter(
        Q(next_trigger_at__isnull=True) | Q(next_trigger_at__lte=now) | Q(next_trigger_at__gt=when)
    )
    if not booked_later_or_stale.update(next_trigger_at=when):
        return
    delay = (when - now).total_seconds()
    if delay <= conf.trigger_eta_horizon_seconds():
        # Two runs at once are impossible (the cron lease), so ringing twice is harmless.
        _publish(task, countdown=delay if delay > 0 else None)
    # Later bookings stay on the row; the sweep rings them when they fall due.


def cron_trigger(name: str, task: str, at: dt.datetime | None = None) -> None:
    """Ask for a run of the scheduled action ``name`` at ``at`` (or now), after the current
    transaction commits (Odoo ``ir.cron._trigger``). The run takes the cron's lease, so it never
    runs twice at once; a lost broker message is made up for by the sweep."""
    transaction.on_commit(lambda: _ring_cron(name, task, at))


def cron_trigger_consumed(name: str, *, now: dt.datetime) -> None:
    """A run of ``name`` that started at ``now`` serves every booking due by then: forget them."""
    CronState.objects.filter(name=name, next_trigger_at__lte=now).update(next_trigger_at=None)


def queue_trigger(at: dt.datetime | None = None) -> None:
    """Ask for a run of the Email Queue Manager at ``at`` (or now), after the current transaction commits.

    Odoo ``ir.cron._trigger``: queuing bulk or scheduled mail triggers the queue cron at the right
    time. The run itself takes the cron's lease, so it never runs twice at once.
    """
    cron_trigger(QUEUE_CRON, QUEUE_TASK, at)


def queue_trigger_next_due() -> None:
    """Book the queue cron for the next outgoing row that falls due (a retry after a temporary failure).

    Called after a send that left rows waiting for a retry: the run is rung at their next attempt
    time instead of waiting for the sweep (which gives rows a minute's grace).
    """
    due = next_due_at()
    if due is not None:
        queue_trigger(at=due)


def queue_senders_start(*, time_budget: float) -> int:
    """Ask other worker processes to help the Email Queue Manager run that is starting; returns how many.

    One task per batch of due rows beyond the first, up to ``MAILQUEUE_SENDER_TASKS`` senders in
    all (the run itself is one): idle pool processes, on this worker or another, then claim
    batches alongside it, and the claiming keeps them apart.
    """
    due = due_mails().count()
    batches = -(-due // max(conf.claim_batch_size(), 1))
    helpers = max(min(conf.sender_tasks(), batches) - 1, 0)
    return sum(_publish(QUEUE_SEND_TASK, args=[time_budget]) for _ in range(helpers))


def queue_trigger_consumed(*, now: dt.datetime) -> None:
    """A queue-cron run that started at ``now`` serves every booking due by then: forget them."""
    cron_trigger_consumed(QUEUE_CRON, now=now)


def _left_behind(*, urgent: bool, now: dt.datetime) -> QuerySet[Mail]:
    """Outgoing rows due for longer than the grace period and claimed by nobody.

    Their doorbell was lost (broker down, worker killed before acknowledging), or they fell due
    after a retry delay; within the grace period their own doorbell may still be in flight.
    """
    cutoff = now - dt.timedelta(seconds=conf.sweep_grace_seconds())
    return (
        Mail.objects.filter(state=MailState.OUTGOING, urgent=urgent, created_at__lte=cutoff)
        .filter(Q(scheduled_date__isnull=True) | Q(scheduled_date__lte=cutoff))
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=cutoff))
        .filter(lease_free_q(now))
    )


def urgent_rows_left_behind(*, now: dt.datetime | None = None, limit: int = 1000) -> list[int]:
    """Urgent rows the sweep rings again for, oldest first (FIFO by scheduled date, id)."""
    rows = (
        _left_behind(urgent=True, now=now or timezone.now())
        .order_by(F("scheduled_date").asc(nulls_first=True), "id")
        .values_list("id", flat=True)[:limit]
    )
    return list(rows)


def queue_cron_overdue(*, now: dt.datetime | None = None) -> bool:
    """Whether the queue cron should run now and nobody runs it: a booked run fell due, or bulk rows wait."""
    now = now or timezone.now()
    state = CronState.objects.filter(name=QUEUE_CRON).first()
    if state is not None and state.running_until is not None and state.running_until > now:
        return False  # a run is at work; it re-triggers itself when it ends
    booked = state is not None and state.next_trigger_at is not None and state.next_trigger_at <= now
    return booked or _left_behind(urgent=False, now=now).exists()


def queue_sweep() -> dict[str, int]:
    """The beat sweep: ring again for urgent rows and queue-cron runs a lost message left behind."""
    now = timezone.now()
    ids = urgent_rows_left_behind(now=now, limit=conf.claim_batch_size() * 10)
    chunk = max(conf.claim_batch_size(), 1)
    rung = 0
    for start in range(0, len(ids), chunk):
        if _publish(MAIL_SEND_TASK, args=[ids[start : start + chunk]]):
            rung += len(ids[start : start + chunk])
    queue_rung = queue_cron_overdue(now=now) and _publish(QUEUE_TASK)
    if not queue_rung:
        queue_rung = _ring_booked_before_next_sweep(now=now)
    others = 0
    for spec in registered_crons():
        if spec.name != QUEUE_CRON and booked_run_overdue(spec.name, now=now) and _publish(spec.task):
            others += 1
    return {"urgent_rows": rung, "queue_cron": int(queue_rung), "other_crons": others}


def _ring_booked_before_next_sweep(*, now: dt.datetime) -> bool:
    """Ring a queue-cron booking due before the next sweep, with a countdown to its exact time.

    A booking beyond the trigger horizon got no message when it was made; were it rung only once
    overdue, a retry would run up to a sweep period late. A booking inside the horizon may get a
    second message this way: two runs at once are impossible (the cron lease), so that is harmless.
    """
    state = CronState.objects.filter(name=QUEUE_CRON).first()
    if state is None or state.next_trigger_at is None:
        return False
    delay = (state.next_trigger_at - now).total_seconds()
    if not 0 < delay <= SWEEP_LOOKAHEAD.total_seconds():
        return False
    return _publish(QUEUE_TASK, countdown=delay)


def booked_run_overdue(name: str, *, now: dt.datetime) -> bool:
    """A run of ``name`` was booked for a time now past, and no run is at work."""
    state = CronState.objects.filter(name=name).first()
    if state is None or state.next_trigger_at is None or state.next_trigger_at > now:
        return False
    return state.running_until is None or state.running_until <= now
