"""Claiming due rows: ``SELECT … FOR UPDATE SKIP LOCKED`` in a short transaction plus a lease.

The lease owner is unique per claim, so every later write of the worker is conditional on it and
a row whose lease expired (its worker crashed) is simply claimed again by someone else.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import Iterable, Iterator, Sequence

from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from mailqueue import conf
from mailqueue.models import Mail, MailState

logger = logging.getLogger(__name__)


# --- claiming -----------------------------------------------------------------------------------
def lease_free_q(now: dt.datetime) -> Q:
    return Q(lease_until__isnull=True) | Q(lease_until__lt=now)


def due_q(now: dt.datetime) -> Q:
    return (
        Q(state=MailState.OUTGOING)
        & (Q(scheduled_date__isnull=True) | Q(scheduled_date__lte=now))
        & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        & lease_free_q(now)
    )


def due_mails(now: dt.datetime | None = None) -> QuerySet[Mail]:
    """Outgoing rows that may be sent now, oldest first by (scheduled date, id) — FIFO and fair."""
    now = now or timezone.now()
    return Mail.objects.filter(due_q(now)).order_by(F("scheduled_date").asc(nulls_first=True), "id")


def lease_owner_for(worker: str) -> str:
    """A unique owner per claim, so a worker's conditional writes only touch its own claim."""
    base = worker or f"{socket.gethostname()}:{os.getpid()}"
    return f"{base[:100]}:{uuid.uuid4().hex[:16]}"


def claim_rows(*, mail_ids: Sequence[int] | None, limit: int | None, owner: str, ignore_schedule: bool) -> list[int]:
    """Lease due rows in one short transaction; other workers skip the locked rows."""
    now = timezone.now()
    if ignore_schedule:
        qs = Mail.objects.filter(lease_free_q(now), state=MailState.OUTGOING).order_by(
            F("scheduled_date").asc(nulls_first=True), "id"
        )
    else:
        qs = due_mails(now)
    if mail_ids is not None:
        qs = qs.filter(pk__in=list(mail_ids))
    with transaction.atomic():
        # SKIP LOCKED: rows another worker is claiming right now are not waited for, just left.
        locked = qs.select_for_update(skip_locked=True).values_list("pk", flat=True)
        ids = list(locked[:limit] if limit else locked)
        if ids:
            Mail.objects.filter(pk__in=ids).update(
                lease_until=now + dt.timedelta(seconds=conf.lease_seconds()), lease_owner=owner
            )
    return ids


def renew_leases(ids: Iterable[int], owner: str) -> set[int]:
    """Extend our leases; returns the rows still ours (a row taken over meanwhile is not)."""
    ids = list(ids)
    Mail.objects.filter(pk__in=ids, lease_owner=owner).update(
        lease_until=timezone.now() + dt.timedelta(seconds=conf.lease_seconds())
    )
    return set(Mail.objects.filter(pk__in=ids, lease_owner=owner).values_list("pk", flat=True))


@contextlib.contextmanager
def asynchronous_commits() -> Iterator[None]:
    """Let this connection's commits return before the WAL reaches the disk, while sending.

    Every accepted message is marked ``sent`` by its own commit; waiting for a disk flush each
    time would make the flush, not SMTP, the bottleneck. PostgreSQL's ``synchronous_commit =
    off`` keeps each commit atomic and ordered, and a crash of the *worker* loses nothing: only a
    crash of the database server itself can lose the last moments of commits (at most three
    ``wal_writer_delay``, 0.6 s by default), so the few recipients served in that instant could be
    sent again. ``MAILQUEUE_ASYNCHRONOUS_COMMIT = False`` keeps every commit synchronous.
    Inside a transaction (tests) nothing is changed.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block or not conf.asynchronous_commit():
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")
        except DatabaseError:  # the connection is gone; the setting went with it
            logger.warning("Could not reset synchronous_commit", exc_info=True)
