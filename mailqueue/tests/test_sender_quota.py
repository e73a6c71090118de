"""The daily quota seen from the sender: mail through the built-in server waits for the reset."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from chatter.models import FailureType, NotificationStatus
from chatter.tests.factories import PartnerFactory
from mailcore.models import QuotaDay
from mailcore.quota import quota_status, quota_window
from mailcore.testing.smtp import SmtpSink
from mailqueue.actions import mail_retry
from mailqueue.models import Mail, MailState, RecipientState
from mailqueue.sender import next_due_at, send_mails
from mailqueue.tests.test_sender import make_due, notification, post, row_of, sink_server
from tests.services import require_postgres


def _pass_the_reset() -> None:
    """Move time past the reset: today's counter becomes yesterday's, and waiting rows fall due."""
    day, _reset_at = quota_window()
    QuotaDay.objects.filter(day=day).update(day=day - dt.timedelta(days=1))
    make_due(*Mail.objects.filter(state=MailState.OUTGOING))


@pytest.mark.django_db
def test_over_quota_mail_waits_for_the_reset_then_resumes(smtp_sink: SmtpSink, settings: Any) -> None:
    settings.MAILCORE_DAILY_LIMIT = 2
    partners = PartnerFactory.create_batch(3)
    message = post(*partners)

    report = send_mails()

    assert (report.sent, report.deferred_quota, report.failed, report.retried) == (2, 1, 0, 0)
    assert len(smtp_sink.wait_for(2)) == 2
    _day, reset_at = quota_window()
    reason = f"Daily limit reached. Sending resumes after {reset_at:%H:%M} UTC."
    assert reason == "Daily limit reached. Sending resumes after 23:00 UTC."
    row = row_of(message)
    assert (row.state, row.failure_type, row.failure_reason) == (MailState.OUTGOING, FailureType.MAIL_QUOTA, reason)
    assert (row.next_attempt_at, row.attempt_count) == (reset_at, 0)  # waiting is not an attempt
    waiting = row.recipients.get(state=RecipientState.PENDING)
    n = notification(message, waiting.partner)  # type: ignore[arg-type]
    assert (n.notification_status, n.failure_type, n.failure_reason) == (
        NotificationStatus.READY,
        FailureType.MAIL_QUOTA,
        reason,
    )
    assert quota_status().used == 2 and quota_status().reached
    assert send_mails().claimed == 0  # not due before the reset
    assert next_due_at() == reset_at

    _pass_the_reset()
    report = send_mails()

    assert (report.sent, report.deferred_quota) == (1, 0)
    assert len(smtp_sink.wait_for(3)) == 3
    n.refresh_from_db()
    assert (n.notification_status, n.failure_type, n.failure_reason) == (NotificationStatus.SENT, "", "")
    assert not Mail.objects.filter(pk=row.pk).exists()
    assert quota_status().used == 1


@pytest.mark.django_db
def test_whole_rows_wait_once_the_quota_is_used_up(smtp_sink: SmtpSink, settings: Any) -> None:
    settings.MAILCORE_DAILY_LIMIT = 1
    first, second = post(PartnerFactory()), post(PartnerFactory())
    report = send_mails()
    assert (report.sent, report.deferred_quota) == (1, 1)
    assert row_of(second).failure_type == FailureType.MAIL_QUOTA
    assert not Mail.objects.filter(message=first).exists()


@pytest.mark.django_db
def test_retry_after_the_limit_was_raised(smtp_sink: SmtpSink, settings: Any) -> None:
    settings.MAILCORE_DAILY_LIMIT = 1
    message = post(PartnerFactory(), PartnerFactory())
    send_mails()
    row = row_of(message)
    assert row.next_attempt_at is not None

    # Retry while still over the limit: tried at once, and waits again.
    assert mail_retry(mail_ids=[row.pk]) == 1
    row.refresh_from_db()
    assert (row.state, row.next_attempt_at, row.failure_type) == (MailState.OUTGOING, None, "")
    assert send_mails().deferred_quota == 1

    settings.MAILCORE_DAILY_LIMIT = 5  # support granted more
    assert mail_retry(mail_ids=[row.pk]) == 1
    report = send_mails()
    assert (report.sent, report.deferred_quota) == (1, 0)
    assert len(smtp_sink.wait_for(2)) == 2


@pytest.mark.django_db
def test_without_auto_resume_the_mail_fails_until_retry(smtp_sink: SmtpSink, settings: Any) -> None:
    settings.MAILCORE_DAILY_LIMIT = 1
    settings.MAILCORE_QUOTA_AUTO_RESUME = False
    settings.MAILCORE_QUOTA_RESET_HOUR_UTC = 5
    sent_to, held = PartnerFactory(), PartnerFactory()
    message = post(sent_to, held)

    report = send_mails()

    assert (report.sent, report.failed, report.deferred_quota) == (1, 1, 1)
    reason = "Daily limit reached. Click Retry after 05:00 UTC."
    row = row_of(message)
    assert (row.state, row.failure_type, row.failure_reason) == (MailState.EXCEPTION, FailureType.MAIL_QUOTA, reason)
    held_n = notification(message, held)
    assert (held_n.notification_status, held_n.failure_type) == (NotificationStatus.EXCEPTION, FailureType.MAIL_QUOTA)
    assert held_n.format_failure_reason() == "Daily limit reached"

    _pass_the_reset()
    assert send_mails().claimed == 0  # nothing resumes by itself
    assert mail_retry(mail_ids=[row.pk]) == 1
    assert send_mails().sent == 1
    assert [m.rcpt_tos for m in smtp_sink.wait_for(2)] == [[sent_to.email_normalized], [held.email_normalized]]


@pytest.mark.django_db
def test_external_servers_are_independent_of_the_quota(smtp_sink: SmtpSink, settings: Any) -> None:
    settings.MAILCORE_DAILY_LIMIT = 1
    sink_server(smtp_sink)
    post(*PartnerFactory.create_batch(3))
    assert send_mails().sent == 3
    assert quota_status().used == 0


@pytest.mark.django_db
def test_unused_units_are_given_back(smtp_sink: SmtpSink, settings: Any) -> None:
    settings.MAILCORE_DAILY_LIMIT = 10
    bad = PartnerFactory(email="bad@example.com")
    smtp_sink.fail("RCPT", "450 4.2.1 try later", address="bad@example.com")
    post(bad, PartnerFactory(), PartnerFactory(email=""))
    report = send_mails()
    assert (report.sent, report.retried, report.failed) == (1, 1, 1)
    assert quota_status().used == 1  # only the message that left counts


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_senders_never_exceed_the_quota(smtp_sink: SmtpSink, settings: Any) -> None:
    require_postgres()
    settings.MAILCORE_DAILY_LIMIT = 25
    settings.MAILQUEUE_CLAIM_BATCH_SIZE = 3
    for _ in range(60):
        post(PartnerFactory())
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            for _ in range(100):  # bounded: 60 rows, batches of 3
                if not send_mails(worker=f"w{index}").claimed:
                    break
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and not any(t.is_alive() for t in threads)

    assert len(smtp_sink.wait_for(25, timeout=2)) == 25
    assert quota_status().used == 25
    waiting = Mail.objects.filter(state=MailState.OUTGOING, failure_type=FailureType.MAIL_QUOTA)
    assert waiting.count() == 35
    assert all(m.next_attempt_at and m.next_attempt_at > timezone.now() for m in waiting)
