"""The resend dialog and Retry on the same row, at the same time, on PostgreSQL.

Both lock the queue row first, so one waits for the other and the result is one of the two
decisions, whole: never a cancelled recipient put back in the queue, never a resent one whose
notification says cancelled. SQLite ignores ``SELECT … FOR UPDATE``, hence PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection, transaction

from chatter.models import Message, NotificationStatus
from chatter.services import message_cancel_failures
from chatter.tests.factories import PartnerFactory
from mailcore.models import Partner
from mailcore.testing.smtp import SmtpSink
from mailqueue.actions import mail_retry
from mailqueue.models import MailState
from mailqueue.sender import send_mails
from mailqueue.tests.test_sender import notification, post, row_of
from tests.services import require_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _failed(smtp_sink: SmtpSink) -> tuple[Message, Partner]:
    bob = PartnerFactory(name="Bob", email="bob@example.com")
    smtp_sink.fail("RCPT", "554 5.7.1 Rejected by policy", address=bob.email, times=1)
    message = post(bob, mail_auto_delete=False)
    send_mails()
    assert row_of(message).state == MailState.EXCEPTION
    return message, bob


def _first_holds_the_row(first: Callable[[], object], second: Callable[[], object]) -> list[object]:
    """Run ``first`` in a transaction kept open until ``second`` (another connection) is seen waiting."""
    holding, release = threading.Event(), threading.Event()
    results: list[object] = [None, None]
    errors: list[BaseException] = []

    def run_first() -> None:
        try:
            with transaction.atomic():
                results[0] = first()
                holding.set()
                assert release.wait(timeout=20)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    def run_second() -> None:
        try:
            results[1] = second()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    one, two = threading.Thread(target=run_first), threading.Thread(target=run_second)
    one.start()
    assert holding.wait(timeout=20)
    two.start()
    two.join(timeout=1)
    blocked = two.is_alive()
    release.set()
    one.join(timeout=20)
    two.join(timeout=20)
    assert not errors, errors
    assert blocked, "the second one should wait for the row lock"
    return results


def test_ignore_all_first_then_retry_finds_nothing(smtp_sink: SmtpSink) -> None:
    require_postgres()
    message, bob = _failed(smtp_sink)
    row = row_of(message)

    ignored, retried = _first_holds_the_row(
        lambda: message_cancel_failures(message=message), lambda: mail_retry(mail_ids=[row.pk])
    )

    assert (ignored, retried) == (1, 0)
    assert row_of(message).state == MailState.CANCEL
    send_mails()
    assert notification(message, bob).notification_status == NotificationStatus.CANCELED
    assert [m for m in smtp_sink.messages if bob.email in m.rcpt_tos] == []


def test_retry_first_then_ignore_all_leaves_the_resend_alone(smtp_sink: SmtpSink) -> None:
    require_postgres()
    message, bob = _failed(smtp_sink)
    row = row_of(message)

    retried, ignored = _first_holds_the_row(
        lambda: mail_retry(mail_ids=[row.pk]), lambda: message_cancel_failures(message=message)
    )

    assert (retried, ignored) == (1, 0)
    send_mails()
    assert notification(message, bob).notification_status == NotificationStatus.SENT
    assert len([m for m in smtp_sink.messages if bob.email in m.rcpt_tos]) == 1
