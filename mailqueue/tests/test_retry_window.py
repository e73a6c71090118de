"""The retry window: temporary failures retry with a capped backoff until the window ends, then fail."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from chatter.models import FailureType, NotificationStatus
from chatter.tests.factories import PartnerFactory
from mailcore.models import MailServer
from mailcore.testing.smtp import SmtpSink, free_port
from mailqueue.models import Mail, MailState
from mailqueue.sender import send_mails
from mailqueue.sender.bookkeeping import retry_delay_seconds
from mailqueue.tests.test_sender import make_due, notification, post, row_of
from tests.api_helpers import client_for, make_user

pytestmark = pytest.mark.django_db


def test_backoff_doubles_from_the_base_up_to_the_cap(settings: Any) -> None:
    settings.MAILQUEUE_RETRY_BASE_SECONDS = 60
    settings.MAILQUEUE_RETRY_MAX_DELAY_SECONDS = 1800
    assert [retry_delay_seconds(n) for n in range(1, 8)] == [60, 120, 240, 480, 960, 1800, 1800]
    assert retry_delay_seconds(10_000) == 1800  # no overflow after days of retries


def test_a_long_outage_keeps_retrying_past_the_old_attempt_limit(settings: Any) -> None:
    """Twenty temporary failures in a row (hours of outage at the default delays) fail nothing."""
    settings.MAILQUEUE_RETRY_BASE_SECONDS = 60
    settings.MAILQUEUE_RETRY_MAX_DELAY_SECONDS = 1800
    settings.MAILQUEUE_RETRY_WINDOW_SECONDS = 86400
    MailServer.objects.create(name="Down", smtp_host="127.0.0.1", smtp_port=free_port())
    bob = PartnerFactory()
    message = post(bob)
    row = row_of(message)

    first_failure_at = None
    for attempt in range(1, 21):
        before = timezone.now()
        assert send_mails().retried == 1
        row.refresh_from_db()
        assert (row.state, row.attempt_count, row.failure_type) == (MailState.OUTGOING, attempt, "")
        first_failure_at = first_failure_at or row.first_failure_at
        assert row.first_failure_at == first_failure_at  # the window counts from the first failure
        assert row.next_attempt_at is not None
        assert before + dt.timedelta(seconds=retry_delay_seconds(attempt)) <= row.next_attempt_at
        assert row.retrying and row.retry_gives_up_at == first_failure_at + dt.timedelta(days=1)
        assert "ConnectionRefusedError" in row.failure_reason  # the last temporary reason is kept
        n = notification(message, bob)
        assert (n.notification_status, n.failure_reason) == (NotificationStatus.READY, row.failure_reason)
        make_due(row)


def test_the_last_attempt_is_at_the_window_end_and_its_failure_is_final(settings: Any) -> None:
    settings.MAILQUEUE_RETRY_BASE_SECONDS = 600
    settings.MAILQUEUE_RETRY_WINDOW_SECONDS = 3600
    MailServer.objects.create(name="Down", smtp_host="127.0.0.1", smtp_port=free_port())
    bob = PartnerFactory()
    message = post(bob)
    row = row_of(message)
    assert send_mails().retried == 1
    # 50 minutes later: the next delay (20 min) would pass the window's end, so the last attempt
    # is booked at the end itself.
    started = timezone.now() - dt.timedelta(minutes=50)
    Mail.objects.filter(pk=row.pk).update(first_failure_at=started)
    make_due(row)
    assert send_mails().retried == 1
    row.refresh_from_db()
    assert row.next_attempt_at == started + dt.timedelta(hours=1) == row.retry_gives_up_at

    Mail.objects.filter(pk=row.pk).update(first_failure_at=timezone.now() - dt.timedelta(hours=1))
    make_due(row)
    report = send_mails()

    assert (report.failed, report.retried) == (1, 0)
    row.refresh_from_db()
    assert (row.state, row.failure_type, row.next_attempt_at, row.first_failure_at) == (
        MailState.EXCEPTION,
        FailureType.MAIL_SMTP,
        None,
        None,
    )
    assert row.failure_reason.startswith("Mail delivery failed via SMTP server '127.0.0.1'.\nConnectionRefusedError:")
    n = notification(message, bob)
    assert (n.notification_status, n.failure_type) == (NotificationStatus.EXCEPTION, FailureType.MAIL_SMTP)


def test_a_permanent_failure_still_fails_at_once(smtp_sink: SmtpSink, settings: Any) -> None:
    settings.MAILQUEUE_RETRY_WINDOW_SECONDS = 86400
    bob = PartnerFactory()
    smtp_sink.fail("RCPT", "550 5.1.1 No such user")
    message = post(bob, mail_auto_delete=False)

    assert send_mails().failed == 1
    row = row_of(message)
    assert (row.state, row.attempt_count, row.first_failure_at) == (MailState.EXCEPTION, 1, None)


def test_delivery_ends_the_run_of_retries(smtp_sink: SmtpSink) -> None:
    bob = PartnerFactory()
    smtp_sink.fail("MAIL", "421 4.3.2 Try later", times=1)
    message = post(bob, mail_auto_delete=False)
    assert send_mails().retried == 1
    row = row_of(message)
    assert row.first_failure_at is not None
    make_due(row)

    assert send_mails().sent == 1
    row.refresh_from_db()
    assert (row.state, row.first_failure_at, row.next_attempt_at) == (MailState.SENT, None, None)


def test_a_retrying_mail_says_when_it_tries_again_everywhere_and_is_not_red(settings: Any) -> None:
    settings.MAILQUEUE_RETRY_BASE_SECONDS = 60
    settings.MAILQUEUE_RETRY_WINDOW_SECONDS = 86400
    MailServer.objects.create(name="Down", smtp_host="127.0.0.1", smtp_port=free_port())
    bob = PartnerFactory(name="Bob")
    message = post(bob, mail_auto_delete=False)
    assert send_mails().retried == 1
    make_due(row_of(message))
    assert send_mails().retried == 1  # a second temporary failure: attempt 3 comes next
    row = row_of(message)
    assert row.next_attempt_at is not None and row.retry_gives_up_at is not None
    next_at = f"{row.next_attempt_at:%B} {row.next_attempt_at.day} {row.next_attempt_at:%H:%M:%S}"
    gives_up = f"{row.retry_gives_up_at:%B} {row.retry_gives_up_at.day} {row.retry_gives_up_at:%H:%M}"
    expected = f"next attempt at {next_at} UTC (attempt 3, gives up at {gives_up} UTC)"
    user = make_user("root", staff=True)
    client = client_for(user)

    envelope = client.get(reverse("chatter:envelope", args=[message.pk])).content.decode()
    assert 'data-state="pending"' in envelope and "Resend or ignore" not in envelope  # not red
    assert f"Retrying — {expected}" in envelope
    assert "ConnectionRefusedError" in envelope  # the last temporary reason

    listing = client.get(reverse("mailqueue:list")).content.decode()
    assert f"{next_at} (attempt 3, gives up at {gives_up})" in listing
    assert "Last temporary failure:" in listing and "badge-danger" not in listing

    detail = client.get(reverse("mailqueue:detail", args=[row.pk])).content.decode()
    assert f"Retrying — {expected}" in detail and "callout-danger" not in detail

    api = client.get(f"/api/queue/{row.pk}/").json()
    assert (api["state"], api["retrying"], api["attempt_count"]) == ("outgoing", True, 2)
    assert api["retry_gives_up_at"] is not None and api["first_failure_at"] is not None
    assert "ConnectionRefusedError" in api["failure_reason"]

    # At the window's end it fails, and only then turns red.
    Mail.objects.filter(pk=row.pk).update(first_failure_at=timezone.now() - dt.timedelta(days=1))
    make_due(row)
    assert send_mails().failed == 1
    envelope = client.get(reverse("chatter:envelope", args=[message.pk])).content.decode()
    assert 'data-state="failed"' in envelope and "Retrying" not in envelope
    api = client.get(f"/api/queue/{row.pk}/").json()
    assert (api["state"], api["retrying"], api["retry_gives_up_at"]) == ("exception", False, None)
