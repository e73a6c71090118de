"""Celery tasks of the mail queue. They take ids, are idempotent, and call the sender.

The database row is the queue and Celery only the doorbell: a task that runs twice,
late, or never (the beat sweep rings again) loses or duplicates nothing, because rows are claimed
with a lease and each recipient's delivery is recorded.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from typing import Any

from celery import shared_task
from django.utils import timezone

from mailqueue import conf, crons, dispatch, sender, vacuum

# A run that achieved nothing never re-triggers itself sooner than this: rows that are due but
# not claimable (leased by a mail_send in flight, say) must not spin the queue cron.
IDLE_RETRIGGER_SECONDS = 60


def _as_dict(value: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: v for k, v in dataclasses.asdict(value).items() if isinstance(v, int | float | str | bool)}
    if isinstance(value, dict):
        return value
    return {"result": str(value)}


def _summary(value: Any) -> str:
    return json.dumps(_as_dict(value), sort_keys=True, default=str)


def _owner(task: Any) -> str:
    request = getattr(task, "request", None)
    hostname = getattr(request, "hostname", None) or "worker"
    # A redelivered message keeps its task id: the suffix keeps two deliveries' leases apart.
    return f"{hostname}:{getattr(request, 'id', None)}:{uuid.uuid4().hex[:8]}"


@shared_task(bind=True, name=dispatch.MAIL_SEND_TASK, ignore_result=True)
def mail_send(self: Any, mail_ids: list[int]) -> dict[str, Any]:
    """Send these rows now (urgent, person-to-person mail), enqueued after commit.

    Idempotent: the sender skips rows already sent, cancelled, not yet due or claimed by another
    worker, and never resends to a recipient already served.
    """
    report = sender.send_mails(mail_ids=[int(i) for i in mail_ids], worker=_owner(self))
    if report.retried:
        # A temporary failure: the queue cron sends the row again at its next attempt time.
        dispatch.queue_trigger_next_due()
    return _as_dict(report)


def _queue_retrigger(*, done: int, remaining: int) -> None:
    """End of a queue-cron run: book the next run, at once while rows remain, else at the next due row.

    Called after the lease is released. Rows committed near the end of the run (their own
    trigger hit the lease) are due now even if ``remaining`` missed them: look again.
    """
    due_now = bool(remaining) or sender.due_mails().exists()
    if due_now and done:
        dispatch.queue_trigger()  # Odoo 18 ir.cron progress: remaining work => reschedule at once
        return
    due = sender.next_due_at()  # the next scheduled or retry time still to come
    if due_now:
        # Due rows a run that achieved nothing could not take (a failing batch, say): look again
        # soon, but never spin.
        soon = timezone.now() + dt.timedelta(seconds=IDLE_RETRIGGER_SECONDS)
        due = min(due, soon) if due is not None else soon
    if due is not None:
        dispatch.queue_trigger(at=due)


@shared_task(bind=True, name=crons.QUEUE_TASK, ignore_result=True)
def process_email_queue_task(self: Any) -> dict[str, Any]:
    """Odoo "Mail: Email Queue Manager": send due outgoing rows in batches within a time budget.

    Takes the cron's lease (a second run, on any worker, returns at once), asks other pool
    processes to help (:func:`~mailqueue.dispatch.queue_senders_start`), works until the queue is
    empty or the budget is spent, records the run, and re-triggers itself at once while rows
    remain, or for the next row that falls due (scheduled mail, retries, quota reset).
    """
    budget = conf.cron_time_budget_seconds()

    def job() -> Any:
        dispatch.queue_trigger_consumed(now=timezone.now())
        # One task would keep one pool process busy while the others idle: fan out first.
        dispatch.queue_senders_start(time_budget=budget)
        return sender.process_email_queue(time_budget=budget)

    outcome = crons.cron_run(
        crons.QUEUE_CRON,
        job,
        lease_seconds=budget + conf.lease_seconds(),
        summarize=_summary,
        owner=_owner(self),
    )
    if not outcome.ran:
        # The run holding the lease re-triggers itself when it ends; should its worker die, this
        # booking at the lease's expiry lets the sweep start the next run.
        dispatch.queue_trigger(at=crons.cron_lease_expiry(crons.QUEUE_CRON))
        return {"skipped": True}
    done = int(getattr(outcome.result, "done", 0) or 0)
    remaining = int(getattr(outcome.result, "remaining", 0) or 0)
    _queue_retrigger(done=done, remaining=remaining)
    return {
        "skipped": False,
        "done": done,
        "remaining": remaining,
        "error": outcome.error,
        "started_at": outcome.started_at.isoformat() if outcome.started_at else None,
        "finished_at": outcome.finished_at.isoformat() if outcome.finished_at else None,
    }


@shared_task(bind=True, name=dispatch.QUEUE_SEND_TASK, ignore_result=True)
def mail_queue_send(self: Any, time_budget: float) -> dict[str, Any]:
    """A helper of the Email Queue Manager run that enqueued it: send due rows in batches, as it does.

    Idempotent: rows are claimed with ``SKIP LOCKED`` and a lease, so it and the run never take the
    same row, and a helper that starts late (or twice) finds nothing left and returns.
    """
    return _as_dict(sender.process_email_queue(time_budget=float(time_budget)))


@shared_task(bind=True, name=crons.AUTOVACUUM_TASK, ignore_result=True)
def autovacuum_task(self: Any) -> dict[str, Any]:
    """Odoo "Base: Auto-Vacuum": run every registered cleaner (sent rows, old notifications, logs…)."""
    outcome = crons.cron_run(
        crons.AUTOVACUUM_CRON, vacuum.autovacuum, lease_seconds=3600, summarize=_summary, owner=_owner(self)
    )
    return {"skipped": not outcome.ran, "result": outcome.result or {}, "error": outcome.error}


@shared_task(bind=True, name=crons.SWEEP_TASK, ignore_result=True)
def queue_sweep_task(self: Any) -> dict[str, Any]:
    """Internal beat sweep: ring again for urgent rows and queue-cron bookings a lost message left behind."""
    outcome = crons.cron_run(
        crons.SWEEP_CRON, dispatch.queue_sweep, lease_seconds=60, summarize=_summary, owner=_owner(self)
    )
    return {"skipped": not outcome.ran, "result": outcome.result or {}, "error": outcome.error}
