"""The outgoing sender: claim due rows, send one SMTP message per recipient, record each result.

Odoo's ``mail.mail.send``/``_send`` and ``process_email_queue``, rebuilt for
many workers:

* Rows are claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` in a short transaction that sets a
  lease (``lease_until``/``lease_owner``); sending happens outside any transaction and every
  result is written with an update conditional on the lease, so two workers never send a row
  twice and a crashed worker's rows come back when its lease expires.
* Each :class:`~mailqueue.models.MailRecipient` is its own SMTP message and is marked ``sent``
  the moment the server accepted it: a crash mid-row never resends to recipients already
  served, only the pending ones go out on the next claim.
* Rows are grouped by (server, envelope sender); one SMTP session per group is reused across
  messages and quit at the end. With a server offering PIPELINING (RFC 2920) a message costs
  one round trip; on PostgreSQL its "sent" mark is sent to the database at once and its answer
  read while the next message goes out (:mod:`~mailqueue.sender.marks`).
* Failures are classified first: 4xx, lost or refused connections and timeouts retry with a
  capped exponential backoff (``attempt_count``, ``next_attempt_at``) for the retry window from
  the first one (``first_failure_at``), and fail as ``mail_smtp`` when it ends; 5xx replies fail
  at once with the code, enhanced status and server name.
* Mail leaving through the built-in server counts against the daily quota; over the quota it
  waits for the reset with "Daily limit reached" instead of failing.

Call these functions outside ``transaction.atomic``: each result must be committed as soon as
it is known, or a crash would forget what was already sent. On PostgreSQL those commits are
asynchronous (see :func:`~mailqueue.sender.claim.asynchronous_commits`).

Modules: ``claim`` (leases), ``build`` (server choice and message), ``smtp`` (sessions, errors),
``deliver`` (a group through one session, quota), ``marks`` (each recipient's "sent" mark),
``bookkeeping`` (recipients, notifications, delivery log, row state), ``records`` (the data
passed between them).
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import os
import socket
import time
from collections.abc import Sequence

from django.db.models import Min, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from mailqueue import conf
from mailqueue.models import Mail, MailState
from mailqueue.sender.bookkeeping import flush, keep_contents
from mailqueue.sender.build import NO_VALID_RECIPIENT, load_jobs, prepare_jobs
from mailqueue.sender.claim import asynchronous_commits, claim_rows, due_mails, lease_owner_for
from mailqueue.sender.deliver import fail_untouched, queue_flush, send_group
from mailqueue.sender.records import Job, QueueRunResult, Run, SendReport
from mailqueue.sender.smtp import classify

logger = logging.getLogger(__name__)

__all__ = [
    "NO_VALID_RECIPIENT",
    "QueueRunResult",
    "SendReport",
    "classify",
    "due_mails",
    "next_due_at",
    "process_email_queue",
    "send_mails",
    "send_mails_now",
]


# --- entry points -------------------------------------------------------------------------------
def _send(*, mail_ids: Sequence[int] | None, limit: int | None, worker: str, ignore_schedule: bool) -> SendReport:
    owner = lease_owner_for(worker)
    ids = claim_rows(mail_ids=mail_ids, limit=limit, owner=owner, ignore_schedule=ignore_schedule)
    report = SendReport(claimed=len(ids), mail_ids=list(ids))
    if not ids:
        return report
    run = Run(owner=owner, report=report, unfinished=set(ids))
    try:
        with asynchronous_commits():
            jobs = load_jobs(ids, owner)
            prepare_jobs(jobs)
            keep_contents(jobs)
            groups: dict[tuple[int | None, str], list[Job]] = {}
            for job in jobs:
                if job.choice is None:  # the whole row failed before any SMTP (no From, unbuildable)
                    if job.error is not None:
                        fail_untouched(job, job.error)
                    queue_flush(job, run)
                    continue
                groups.setdefault(job.choice.key, []).append(job)
            for group in groups.values():
                send_group(group, run)
            flush(run)
    finally:
        if run.unfinished:
            # Something escaped: hand the rows back now rather than after the lease.
            Mail.objects.filter(pk__in=list(run.unfinished), lease_owner=owner).update(lease_until=None, lease_owner="")
    logger.info(
        "Mail queue: %s rows, %s sent, %s failed, %s to retry, %s waiting for the quota",
        report.claimed,
        report.sent,
        report.failed,
        report.retried,
        report.deferred_quota,
    )
    return report


def send_mails(*, mail_ids: Sequence[int] | None = None, limit: int | None = None, worker: str = "") -> SendReport:
    """Odoo ``mail.mail.send`` for due rows: claim, send one message per recipient, record results.

    Claims the given ``mail_ids`` (those that are due), or the oldest due rows FIFO by
    (scheduled date, id) up to ``limit`` (default ``MAILQUEUE_CLAIM_BATCH_SIZE``). Due means
    outgoing, scheduled date and next attempt time reached, and no live lease. Rows leased by
    another worker are skipped, never waited for. ``worker`` names the lease owner in logs.
    """
    if limit is None and mail_ids is None:
        limit = conf.claim_batch_size()
    return _send(mail_ids=mail_ids, limit=limit, worker=worker, ignore_schedule=False)


def send_mails_now(*, mail_ids: Sequence[int], worker: str = "send-now") -> SendReport:
    """Send these outgoing rows at once, ignoring their scheduled date and next attempt time.

    Used by the Send Now action. Rows in another state are left alone (Odoo), and rows another
    worker is sending right now are skipped (their lease is live).
    """
    return _send(mail_ids=mail_ids, limit=None, worker=worker, ignore_schedule=True)


def process_email_queue(*, time_budget: float | None = None, batch_size: int | None = None) -> QueueRunResult:
    """Odoo ``process_email_queue``: send due rows in batches until none is left or time is up.

    Unlike Odoo 17/18 (newest rows first, one batch per run) this goes oldest first and keeps
    claiming batches within ``time_budget`` seconds (default ``MAILQUEUE_CRON_TIME_BUDGET_SECONDS``);
    ``remaining`` tells the cron whether to run again at once. An error in a batch is logged
    ("Failed processing mail queue") and ends the run; its rows come back when their lease ends.
    """
    budget = conf.cron_time_budget_seconds() if time_budget is None else time_budget
    size = batch_size or conf.claim_batch_size()
    deadline = time.monotonic() + budget
    worker = f"queue:{socket.gethostname()}:{os.getpid()}"
    done = 0
    while True:
        try:
            report = send_mails(limit=size, worker=worker)
        except Exception:
            logger.exception("Failed processing mail queue")
            break
        done += report.claimed
        if not report.claimed or time.monotonic() >= deadline:
            break
        if report.claimed >= size:
            # A full batch, so likely another: its rows, recipients and contacts point at one
            # another (Django's relation caches) and only the cyclic collector frees them. Now,
            # or the next batch is loaded while they wait and a long run holds two at its peak.
            gc.collect()
    return QueueRunResult(done=done, remaining=due_mails().count())


def next_due_at() -> dt.datetime | None:
    """The earliest future moment a waiting outgoing row becomes due (scheduled or retry time).

    For the cron trigger: rows due already are not counted (the caller handles them now).
    """
    now = timezone.now()
    epoch = Value(dt.datetime(1970, 1, 1, tzinfo=dt.UTC))
    due_at = Greatest(Coalesce("scheduled_date", epoch), Coalesce("next_attempt_at", epoch))
    result = (
        Mail.objects.filter(state=MailState.OUTGOING)
        .annotate(due_at=due_at)
        .filter(due_at__gt=now)
        .aggregate(first=Min("due_at"))
    )
    first = result["first"]
    if isinstance(first, str):  # SQLite returns the raw text for an aggregate over an expression
        first = dt.datetime.fromisoformat(first)
    if first is not None and timezone.is_naive(first):
        first = timezone.make_aware(first, dt.UTC)
    return first
