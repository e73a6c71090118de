"""The "sent" mark on PostgreSQL (sent without waiting for its answer) against the portable one."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, connection
from django.utils import timezone

from chatter.tests.factories import PartnerFactory
from mailqueue.models import DeliveryLog, MailRecipient, RecipientState, SentContent
from mailqueue.sender.marks import SentMarks, write_mark
from mailqueue.tests.test_sender import post, row_of
from tests.services import require_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _mark(recipient: MailRecipient, content_id: int | None) -> list[Any]:
    now = timezone.now()
    return [
        RecipientState.SENT,
        "250 2.0.0 Ok: queued as 4XyZ",
        now,
        recipient.pk,
        recipient.mail_id,
        recipient.pk,
        recipient.notification_id,
        recipient.mail.message_id,
        "<message@example.com>",
        recipient.partner.email_normalized if recipient.partner else recipient.email,
        "smtp.example.com",
        "250 2.0.0 Ok: queued as 4XyZ",
        True,
        now,
        content_id,
        b"Return-Path: <bounce@example.com>\r\nTo: someone\r\n",
    ]


def _recipients(count: int) -> list[MailRecipient]:
    partners = [PartnerFactory(name=f"M{i}", email=f"m{i}@example.com") for i in range(count)]
    row = row_of(post(*partners))
    return list(MailRecipient.objects.filter(mail=row).select_related("partner", "mail").order_by("pk"))


def _written(recipient: MailRecipient) -> tuple[object, ...]:
    recipient.refresh_from_db()
    (log,) = DeliveryLog.objects.filter(recipient_ref=recipient.pk).values()
    kept = {key: value for key, value in log.items() if key not in {"id", "recipient_ref"}}
    kept["recipient_lines"] = bytes(kept["recipient_lines"])
    return recipient.state, recipient.smtp_response, recipient.failure_type, recipient.failure_reason, kept


def test_the_postgresql_mark_writes_what_the_portable_one_writes() -> None:
    require_postgres()
    first, second = _recipients(2)
    MailRecipient.objects.filter(pk=second.pk).update(failure_type="mail_smtp", failure_reason="421 earlier")
    content = SentContent.compressed(mail_id=first.mail_id, content=b"Subject: hello\r\n\r\nHello\r\n")
    content.save()
    fast = _mark(first, content.pk)
    portable = list(fast)
    portable[3] = portable[5] = second.pk  # the same values but the recipient

    with SentMarks() as marks:
        marks.write(fast)
    write_mark(portable)

    fast_written, portable_written = _written(first), _written(second)
    assert fast_written == portable_written
    assert fast_written[:4] == (RecipientState.SENT, "250 2.0.0 Ok: queued as 4XyZ", "", "")
    assert first.sent_at == second.sent_at == fast[2]


def test_other_queries_on_the_connection_wait_for_the_awaited_mark() -> None:
    require_postgres()
    (recipient,) = _recipients(1)
    with SentMarks() as marks:
        marks.write(_mark(recipient, None))
        # An ORM query right after: the mark's answer is read first, so it sees the mark.
        assert MailRecipient.objects.get(pk=recipient.pk).state == RecipientState.SENT
        assert DeliveryLog.objects.filter(recipient_ref=recipient.pk, success=True).count() == 1


def test_a_statement_deallocated_meanwhile_is_prepared_again() -> None:
    require_postgres()
    first, second = _recipients(2)
    with SentMarks() as marks:
        marks.write(_mark(first, None))
        marks.confirm()
        with connection.cursor() as cursor:
            cursor.execute("DEALLOCATE ALL")
        marks.write(_mark(second, None))
    states = set(MailRecipient.objects.filter(pk__in=[first.pk, second.pk]).values_list("state", flat=True))
    assert states == {RecipientState.SENT}
    assert DeliveryLog.objects.filter(recipient_ref__in=[first.pk, second.pk]).count() == 2


def test_a_failed_mark_raises_djangos_error_when_its_answer_is_read() -> None:
    require_postgres()
    (recipient,) = _recipients(1)
    marks = SentMarks()
    with pytest.raises(IntegrityError), marks:
        marks.write(_mark(recipient, content_id=10**12))  # no such kept content
    # Nothing of it was committed, and the connection is usable.
    assert MailRecipient.objects.get(pk=recipient.pk).state == RecipientState.PENDING
    assert not DeliveryLog.objects.filter(recipient_ref=recipient.pk).exists()
