"""Retries with a real Celery worker and a real SMTP server: on time, through an outage, to the window's end.

No beat runs here: every retry must be rung by the send that failed (a countdown to its next
attempt time), not by the sweep a minute later.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from chatter import services
from chatter.models import FailureType, Message, NotificationStatus
from chatter.selectors import message_with_envelope
from chatter.tests.factories import LeadFactory, PartnerFactory
from mailcore.models import MailServer
from mailcore.testing.smtp import SmtpSink, free_port
from mailqueue.models import Mail, MailState
from tests.celery_fixtures import LiveWorker, wait_until

TIMEOUT = 30.0
# How late a retry may run: the worker's poll and the SMTP dialogue, not a beat tick.
LATENESS = dt.timedelta(seconds=5)


def _post() -> Message:
    lead = LeadFactory()
    follower = PartnerFactory(email="follower@example.com")
    services.message_subscribe(record=lead, partners=[follower], subtype_codes=("mt_comment",))
    author = PartnerFactory(name="Author", email="author@example.com")
    return services.message_post(record=lead, body="<p>Hello</p>", subtype="mt_comment", author=author)


def _row(message: Message) -> Mail | None:
    return Mail.objects.filter(message=message).first()


def _status(message: Message) -> str:
    return str(message.notifications.get().notification_status)


def test_a_retry_runs_within_seconds_of_its_due_time(
    smtp_sink: SmtpSink, settings: Any, celery_worker_live: LiveWorker
) -> None:
    settings.MAILQUEUE_RETRY_BASE_SECONDS = 2
    smtp_sink.fail("MAIL", "421 4.3.2 Service busy, try later", times=1)
    message = _post()

    assert wait_until(lambda: (row := _row(message)) is not None and row.attempt_count == 1, TIMEOUT)
    row = _row(message)
    assert row is not None and row.state == MailState.OUTGOING and row.next_attempt_at is not None
    due = row.next_attempt_at
    assert _status(message) == NotificationStatus.READY
    assert smtp_sink.messages == []

    assert wait_until(lambda: len(smtp_sink.messages) == 1, TIMEOUT, interval=0.02)
    delivered_at = timezone.now()

    assert due <= delivered_at < due + LATENESS, delivered_at - due
    assert wait_until(lambda: _status(message) == NotificationStatus.SENT, TIMEOUT)
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["follower@example.com"]]


def test_an_outage_over_several_retries_loses_nothing_and_needs_nobody(
    settings: Any, celery_worker_live: LiveWorker
) -> None:
    settings.MAILQUEUE_RETRY_BASE_SECONDS = 1
    settings.MAILQUEUE_RETRY_MAX_DELAY_SECONDS = 2
    settings.MAILQUEUE_RETRY_WINDOW_SECONDS = 600
    port = free_port()  # the server is down: nothing listens there
    MailServer.objects.create(name="Relay", smtp_host="127.0.0.1", smtp_port=port)
    message = _post()

    assert wait_until(lambda: (row := _row(message)) is not None and row.attempt_count >= 4, TIMEOUT)
    row = _row(message)
    assert row is not None and (row.state, row.failure_type) == (MailState.OUTGOING, "")
    assert "ConnectionRefusedError" in row.failure_reason
    assert _status(message) == NotificationStatus.READY
    envelope = message_with_envelope(message.pk).envelope  # type: ignore[attr-defined]
    assert envelope.state == "pending"  # not red while retrying
    (notification,) = envelope.notifications
    assert notification.retry is not None and notification.retry.attempt > row.attempt_count

    with SmtpSink(port=port) as sink:  # the server is back
        assert wait_until(lambda: len(sink.messages) == 1, TIMEOUT)
        assert wait_until(lambda: _status(message) == NotificationStatus.SENT, TIMEOUT)
    assert [m.rcpt_tos for m in sink.messages] == [["follower@example.com"]]
    assert wait_until(lambda: _row(message) is None, TIMEOUT)  # sent and auto-deleted


def test_the_end_of_the_retry_window_fails_the_mail(settings: Any, celery_worker_live: LiveWorker) -> None:
    settings.MAILQUEUE_RETRY_BASE_SECONDS = 1
    settings.MAILQUEUE_RETRY_WINDOW_SECONDS = 3
    MailServer.objects.create(name="Relay", smtp_host="127.0.0.1", smtp_port=free_port())
    message = _post()

    assert wait_until(lambda: _status(message) == NotificationStatus.EXCEPTION, TIMEOUT)
    row = _row(message)
    assert row is not None
    assert (row.state, row.failure_type) == (MailState.EXCEPTION, FailureType.MAIL_SMTP)
    assert row.attempt_count >= 3  # 0 s, 1 s, 3 s (the window's end)
    assert row.failure_reason.startswith("Mail delivery failed via SMTP server '127.0.0.1'.\nConnectionRefusedError:")
    assert message_with_envelope(message.pk).envelope.state == "failed"  # type: ignore[attr-defined]
