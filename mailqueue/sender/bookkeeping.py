"""Writing what the outcomes mean: recipients, notifications, the delivery log and the row state.

Only ``sent`` recipients are written the moment the server accepted them (that is what prevents a
resend after a crash); the rest is written in batches, and is idempotent, so rows whose worker
died between the two are healed by the next claim.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from chatter.models import FailureType, Message, NotificationStatus
from chatter.notification_status import notification_set_status
from mailcore.quota import quota_window
from mailqueue import conf
from mailqueue.models import (
    DeliveryLog,
    Mail,
    MailRecipient,
    MailState,
    RecipientState,
    SentContent,
    retry_gives_up_at,
)
from mailqueue.registry import DeliveryOutcome, delivery_listeners_notify
from mailqueue.sender.build import NO_VALID_RECIPIENT, recipient_label
from mailqueue.sender.records import Job, Kind, Run

# Failure types that do not keep an auto-delete row (Odoo ``_postprocess_sent_message``):
# the row is deleted and the failure lives on in the notification and the delivery log.
_DELETABLE_FAILURES = frozenset({FailureType.MAIL_EMAIL_INVALID, FailureType.MAIL_EMAIL_MISSING})


# What a final outcome is called for the delivery listeners (retries and quota waits are not final).
_MASS_STATUS = {Kind.SENT: "sent", Kind.FAILED: "failed", Kind.CANCEL: "canceled"}


# --- bookkeeping --------------------------------------------------------------------------------
@dataclass
class _RowUpdate:
    delete: bool = False
    values: dict[str, object] = field(default_factory=dict)


def _settle(job: Job, run: Run) -> _RowUpdate:
    """Decide the row's fate from its recipients (the ones of this run and the earlier ones)."""
    mail = job.mail
    now = timezone.now()
    retries = [o for o in job.outcomes if o.kind == Kind.RETRY]
    # Every SMTP attempt counts (shown in the queue screen), whatever its outcome; waiting for the
    # quota reset is not an attempt.
    attempted = any(o.kind != Kind.QUOTA for o in job.outcomes)
    attempt = mail.attempt_count + (1 if attempted else 0)
    # The retry window counts from the first temporary failure of this run of retries.
    first_failure_at = (mail.first_failure_at or now) if retries else None
    gives_up_at = retry_gives_up_at(first_failure_at)
    if retries and gives_up_at is not None and now >= gives_up_at:
        # The retry window is over: the temporary failure becomes final (Odoo's mail_smtp).
        for outcome in retries:
            outcome.kind = Kind.FAILED
            outcome.failure_type = outcome.final_type or FailureType.MAIL_SMTP
        retries = []
    states = {r.pk: r.state for r in job.recipients}
    for outcome in job.outcomes:
        states[outcome.recipient.pk] = {
            Kind.SENT: RecipientState.SENT,
            Kind.FAILED: RecipientState.EXCEPTION,
            Kind.CANCEL: RecipientState.CANCEL,
        }.get(outcome.kind, RecipientState.PENDING)

    report = run.report
    for outcome in job.outcomes:
        if outcome.kind == Kind.SENT:
            report.sent += 1
        elif outcome.kind == Kind.FAILED:
            report.failed += 1
        elif outcome.kind == Kind.CANCEL:
            report.canceled += 1
        elif outcome.kind == Kind.RETRY:
            report.retried += 1
    if any(o.failure_type == FailureType.MAIL_QUOTA for o in job.outcomes):
        report.deferred_quota += 1

    base: dict[str, object] = {"lease_until": None, "lease_owner": "", "server_used": job.host[:255]}
    if any(state == RecipientState.PENDING for state in states.values()):
        quota_waits = [o for o in job.outcomes if o.kind == Kind.QUOTA]
        if retries and gives_up_at is not None:
            next_at = min(now + dt.timedelta(seconds=retry_delay_seconds(attempt)), gives_up_at)
            last = retries[-1]
            return _RowUpdate(
                values={
                    **base,
                    "attempt_count": attempt,
                    "next_attempt_at": next_at,
                    "first_failure_at": first_failure_at,
                    "failure_type": "",
                    "failure_reason": last.reason,
                }
            )
        if quota_waits:
            _day, reset_at = quota_window(now)
            return _RowUpdate(
                values={
                    **base,
                    "next_attempt_at": reset_at,
                    "failure_type": FailureType.MAIL_QUOTA,
                    "failure_reason": quota_waits[-1].reason,
                }
            )
        # Nothing happened to the pending ones (should not occur): try again after a lease.
        return _RowUpdate(values=base)

    failures = _row_failures(job)
    if not job.recipients:
        # Nobody to send to (Odoo NO_VALID_RECIPIENT), or a row-level error with nobody to carry it.
        error = job.error
        failures = [
            (error.failure_type, error.reason) if error else (FailureType.MAIL_EMAIL_MISSING, NO_VALID_RECIPIENT)
        ]
    if failures:
        failure_type, failure_reason = failures[0]
        values = {
            **base,
            "state": MailState.EXCEPTION,
            "failure_type": failure_type,
            "failure_reason": failure_reason,
            "next_attempt_at": None,
            "first_failure_at": None,
            "attempt_count": attempt,
        }
        delete = mail.auto_delete and all(ftype in _DELETABLE_FAILURES for ftype, _ in failures)
    else:
        values = {
            **base,
            "state": MailState.SENT,
            "failure_type": "",
            "failure_reason": "",
            "next_attempt_at": None,
            "first_failure_at": None,
            "attempt_count": attempt,
        }
        delete = mail.auto_delete
    return _RowUpdate(delete=delete, values=values)


def retry_delay_seconds(attempt: int) -> int:
    """The wait after the ``attempt``-th temporary failure: the base delay doubling each time, capped."""
    cap = conf.retry_max_delay_seconds()
    base = conf.retry_base_seconds()
    # 2**n past the cap is never needed: stop doubling once it is reached (no huge integers).
    return min(base * 2 ** min(max(attempt - 1, 0), 32), cap)


def _row_failures(job: Job) -> list[tuple[str, str]]:
    """(failure type, reason) of every failed recipient, in recipient order."""
    latest = {o.recipient.pk: o for o in job.outcomes}
    failures: list[tuple[str, str]] = []
    for recipient in job.recipients:
        outcome = latest.get(recipient.pk)
        if outcome is not None:
            if outcome.kind == Kind.FAILED:
                failures.append((outcome.failure_type, outcome.reason))
        elif recipient.state == RecipientState.EXCEPTION:
            failures.append((recipient.failure_type, recipient.failure_reason))
    return failures


LOG_FIELDS = (
    "mail_id_ref",
    "recipient_ref",
    "notification",
    "chatter_message",
    "message_id",
    "recipient",
    "server",
    "smtp_response",
    "success",
    "date",
    "content",
    "recipient_lines",
)


def _insert_logs(logs: list[DeliveryLog]) -> None:
    """One delivery-log row per message: ``COPY`` on PostgreSQL, else ``bulk_create``.

    A 10,000-follower post writes 10,000 of them; ``bulk_create`` would spend more CPU on them
    than the SMTP dialogue costs.
    """
    if connection.vendor != "postgresql":
        DeliveryLog.objects.bulk_create(logs)
        return
    # Only PostgreSQL needs psycopg, and its backend has imported it already; SQLite processes
    # (the embedded default) do not load it.
    import psycopg

    connection.ensure_connection()
    raw = connection.connection
    assert raw is not None
    quote = connection.ops.quote_name
    attnames = [DeliveryLog._meta.get_field(name).attname for name in LOG_FIELDS]  # type: ignore[union-attr]
    columns = ", ".join(quote(str(DeliveryLog._meta.get_field(name).column)) for name in LOG_FIELDS)  # type: ignore[union-attr]
    with (
        psycopg.Cursor(raw) as cursor,
        cursor.copy(f"COPY {quote(DeliveryLog._meta.db_table)} ({columns}) FROM STDIN") as copy,
    ):
        for log in logs:
            copy.write_row([getattr(log, attname) for attname in attnames])


def keep_content(job: Job) -> int:
    """The id of the kept copy of the row's shared content, stored on first use (one INSERT per row).

    Each delivery log points at it and keeps only its recipient's own first lines.
    """
    if job.content_id is None:
        kept = SentContent.compressed(mail_id=job.mail.pk, content=job.content)
        kept.save()
        job.content_id = kept.pk
    assert job.content_id is not None
    return job.content_id


def keep_contents(jobs: list[Job]) -> None:
    """Store the kept copies of the rows about to be sent in one INSERT.

    A campaign's rows each have their own content: stored on first use, each would cost a round
    trip per mail. The copies of rows that were not handed to the server after all (no session,
    quota, lease lost) are deleted again by :func:`flush`.
    """
    todo = [job for job in jobs if job.content_id is None and job.targets]
    kept = SentContent.objects.bulk_create(
        [SentContent.compressed(mail_id=job.mail.pk, content=job.content) for job in todo]
    )
    for job, content in zip(todo, kept, strict=True):
        job.content_id = content.pk


def _forget_detached_failures(jobs: list[Job]) -> None:
    """Drop the earlier failures the resend dialog took off a row while it was being sent.

    A row can be sent while an earlier recipient of it has failed for good (the others were
    waiting for a retry); its failure may be ignored or resent from the dialog meanwhile, and the
    row's state must follow. Only rows holding such a failure cost a query.
    """
    earlier = [job for job in jobs if any(r.state == RecipientState.EXCEPTION for r in job.recipients)]
    if not earlier:
        return
    ids = [r.pk for job in earlier for r in job.recipients if r.state == RecipientState.EXCEPTION]
    kept = set(MailRecipient.objects.filter(pk__in=ids, state=RecipientState.EXCEPTION).values_list("pk", flat=True))
    for job in earlier:
        job.recipients = [r for r in job.recipients if r.state != RecipientState.EXCEPTION or r.pk in kept]


def flush(run: Run) -> None:
    """Write what the last mails' outcomes mean for recipients, notifications, log and rows."""
    jobs, run.pending_flush = run.pending_flush, []
    if not jobs:
        return
    now = timezone.now()
    _forget_detached_failures(jobs)
    row_updates = {job.mail.pk: _settle(job, run) for job in jobs}

    mass_outcomes: list[DeliveryOutcome] = []
    recipient_groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    notification_groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    sent_notifications: list[int] = []
    logs: list[DeliveryLog] = []
    for job in jobs:
        latest = {o.recipient.pk: o for o in job.outcomes}
        for recipient in job.recipients:
            outcome = latest.get(recipient.pk)
            if outcome is None or outcome.kind == Kind.SENT:
                # Sent now or in an earlier run (a crash may have left its notification ready).
                if recipient.state == RecipientState.SENT and recipient.notification_id:
                    sent_notifications.append(recipient.notification_id)
                continue
            status: str
            if outcome.kind == Kind.FAILED:
                key = (RecipientState.EXCEPTION, outcome.failure_type, outcome.reason)
                status = NotificationStatus.EXCEPTION
            elif outcome.kind == Kind.CANCEL:
                key = (RecipientState.CANCEL, outcome.failure_type, outcome.reason)
                status = NotificationStatus.CANCELED
            else:  # RETRY / QUOTA: stays pending and ready, carrying the last reason
                key = (RecipientState.PENDING, outcome.failure_type, outcome.reason)
                status = NotificationStatus.READY
            recipient_groups[key].append(recipient.pk)
            if recipient.notification_id:
                notification_groups[(status, outcome.failure_type, outcome.reason)].append(recipient.notification_id)
        if job.mail.is_mass_mail:
            mass_outcomes.extend(
                DeliveryOutcome(o.recipient.pk, _MASS_STATUS[o.kind], o.failure_type, o.reason, now)
                for o in latest.values()
                if o.kind in _MASS_STATUS
            )
        for outcome in job.outcomes:
            # A sent message's log entry was written with its "sent" mark (deliver.record_sent).
            if outcome.kind == Kind.FAILED:
                logs.append(
                    DeliveryLog(
                        mail_id_ref=job.mail.pk,
                        recipient_ref=outcome.recipient.pk,
                        notification_id=outcome.recipient.notification_id,
                        chatter_message_id=job.mail.message_id,
                        message_id=job.message_id,
                        recipient=(outcome.address or recipient_label(outcome.recipient))[:512],
                        server=job.host[:255],
                        smtp_response=outcome.reason,
                        success=False,
                        date=now,
                        content_id=keep_content(job) if outcome.recipient_lines else None,
                        recipient_lines=outcome.recipient_lines,
                    )
                )

    # One commit for all of it: one wait for the disk instead of one per statement, and nobody
    # reads a notification already final while its row is still outgoing.
    with transaction.atomic():
        for (state, failure_type, reason), ids in recipient_groups.items():
            # Conditional on "still pending": a row cancelled meanwhile keeps its cancelled recipients.
            MailRecipient.objects.filter(pk__in=ids, state=RecipientState.PENDING).update(
                state=state, failure_type=failure_type, failure_reason=reason
            )
        # Only notifications still waiting: one the resend dialog, a bounce or a button changed
        # meanwhile keeps its newer status.
        if sent_notifications:
            notification_set_status(
                notifications=sent_notifications, status=NotificationStatus.SENT, only_from=[NotificationStatus.READY]
            )
        for (status, failure_type, reason), ids in notification_groups.items():
            notification_set_status(
                notifications=ids,
                status=status,
                failure_type=failure_type,
                failure_reason=reason,
                only_from=[NotificationStatus.READY],
            )
        if logs:
            _insert_logs(logs)
        delivery_listeners_notify(mass_outcomes)

        mine = Mail.objects.filter(lease_owner=run.owner, state=MailState.OUTGOING)
        to_delete = [pk for pk, update in row_updates.items() if update.delete]
        if to_delete:
            orphans = [job.mail.message_id for job in jobs if job.mail.pk in to_delete and not job.mail.is_notification]
            mine.filter(pk__in=to_delete).delete()
            if orphans:
                # Odoo: a mail that is not a notification takes its message with it.
                Message.objects.filter(pk__in=orphans, mails__isnull=True).delete()
        grouped: dict[tuple[tuple[str, object], ...], list[int]] = defaultdict(list)
        for pk, update in row_updates.items():
            if not update.delete:
                grouped[tuple(sorted(update.values.items()))].append(pk)
        for values, ids in grouped.items():
            mine.filter(pk__in=ids).update(**dict(values))
        # Last: the copies stored by keep_contents for rows that were not handed to the server.
        unused = [job.content_id for job in jobs if job.content_id and not any(o.recipient_lines for o in job.outcomes)]
        if unused:
            SentContent.objects.filter(pk__in=unused).delete()
    run.unfinished.difference_update(row_updates)
