"""The resend dialog's outcome holds everywhere: no queue action reaches a recipient it settled.

After *Send & close* with a recipient toggled off, or *Ignore all*, the old rows no longer carry
the failed deliveries; a row follows its recipients (no "Delivery Failed" left behind), and
Retry, bulk Retry, Send Now, the API and the Email Queue Manager cron send nothing to the
recipients the user excluded. Each test failed on the code before the dialog settled the rows.
"""

from __future__ import annotations

from typing import Any

import pytest

from chatter.models import FailureType, Message, NotificationStatus
from chatter.notification_status import notification_set_status
from chatter.selectors import envelope_for, message_with_envelope
from chatter.services import message_cancel_failures, message_resend
from chatter.tests.factories import PartnerFactory
from mailcore.models import Partner
from mailcore.testing.smtp import SmtpSink
from mailqueue.actions import mail_retry, mail_send_now
from mailqueue.models import DeliveryLog, Mail, MailState, RecipientState
from mailqueue.sender import process_email_queue, send_mails
from mailqueue.tests.test_sender import make_due, notification, post, row_of
from tests.api_helpers import client_for, make_user

pytestmark = pytest.mark.django_db

REFUSED = "554 5.7.1 Rejected by policy"
BUSY = "450 4.2.1 Mailbox busy, try again later"


def _received_by(sink: SmtpSink, partner: Partner) -> list[Any]:
    return [m for m in sink.messages if partner.email_normalized in m.rcpt_tos]


def _envelope(message: Message) -> dict[str, str]:
    envelope = envelope_for(message_with_envelope(message.pk).email_notifications)  # type: ignore[attr-defined]
    assert envelope is not None
    return {"state": envelope.state, **{n.res_partner.name: n.notification_status for n in envelope.notifications}}


def _everything_is_retried_and_sent() -> None:
    """Whatever a user could still click in the queue: bulk Retry on every row, then the cron."""
    mail_retry(mail_ids=list(Mail.objects.values_list("pk", flat=True)))
    process_email_queue(time_budget=5)


@pytest.fixture
def partners() -> tuple[Partner, Partner, Partner]:
    return (
        PartnerFactory(name="Bob", email="bob@example.com"),
        PartnerFactory(name="Carl", email="carl@example.com"),
        PartnerFactory(name="Dan", email="dan@example.com"),
    )


@pytest.mark.parametrize("auto_delete", [True, False], ids=["auto-delete", "kept"])
def test_retry_after_send_and_close_never_reaches_the_recipient_toggled_off(
    smtp_sink: SmtpSink, partners: tuple[Partner, Partner, Partner], auto_delete: bool
) -> None:
    bob, carl, dan = partners
    smtp_sink.fail("RCPT", REFUSED, address=bob.email, times=1)
    smtp_sink.fail("RCPT", REFUSED, address=dan.email, times=1)
    message = post(bob, carl, dan, mail_auto_delete=auto_delete)
    send_mails()
    old = row_of(message)
    assert old.state == MailState.EXCEPTION

    # The dialog: Bob toggled off, Dan resent.
    message_resend(message=message, retry_partner_ids=[dan.pk])

    assert mail_retry(mail_ids=[old.pk]) == 0, "nothing on the old row is left to retry"
    send_mails()
    assert not _received_by(smtp_sink, bob)
    assert len(_received_by(smtp_sink, dan)) == 1
    if auto_delete:
        assert not Mail.objects.filter(pk=old.pk).exists()
    else:
        old.refresh_from_db()
        # The row follows its recipients: Carl was served, the failures were settled by the dialog.
        assert (old.state, old.failure_type, old.failure_reason) == (MailState.SENT, "", "")
        assert list(old.recipients.values_list("partner_id", "state")) == [(carl.pk, RecipientState.SENT)]
    _everything_is_retried_and_sent()
    assert not _received_by(smtp_sink, bob)
    assert _envelope(message) == {
        "state": "sent",
        "Bob": NotificationStatus.CANCELED,
        "Carl": NotificationStatus.SENT,
        "Dan": NotificationStatus.SENT,
    }
    # The refused attempt stays in the delivery log.
    assert DeliveryLog.objects.filter(recipient__contains=bob.email, success=False).count() == 1


def test_bulk_retry_after_ignore_all_never_reaches_the_ignored(
    smtp_sink: SmtpSink, partners: tuple[Partner, Partner, Partner]
) -> None:
    bob, carl, _dan = partners
    smtp_sink.fail("RCPT", REFUSED, address=bob.email, times=2)
    kept = post(bob, carl, mail_auto_delete=False)
    only_bob = post(bob, mail_auto_delete=False)
    send_mails()
    assert {row_of(kept).state, row_of(only_bob).state} == {MailState.EXCEPTION}
    for message in (kept, only_bob):
        assert message_cancel_failures(message=message) == 1

    # No "Delivery Failed" left: Carl was served on one row, nobody on the other.
    assert (row_of(kept).state, row_of(only_bob).state) == (MailState.SENT, MailState.CANCEL)
    assert mail_retry(mail_ids=[row_of(kept).pk, row_of(only_bob).pk]) == 0
    _everything_is_retried_and_sent()
    assert not _received_by(smtp_sink, bob)
    assert _envelope(only_bob) == {"state": "sent", "Bob": NotificationStatus.CANCELED}


def _failed_and_waiting(smtp_sink: SmtpSink, bob: Partner, carl: Partner) -> Message:
    """Bob refused for good, Carl waiting for a retry after a temporary failure: the row is still
    outgoing, the envelope red for Bob."""
    smtp_sink.fail("RCPT", REFUSED, address=bob.email, times=1)
    smtp_sink.fail("RCPT", BUSY, address=carl.email, times=1)
    message = post(bob, carl, mail_auto_delete=False)
    send_mails()
    row = row_of(message)
    assert row.state == MailState.OUTGOING and row.next_attempt_at is not None
    assert notification(message, bob).notification_status == NotificationStatus.EXCEPTION
    assert notification(message, carl).notification_status == NotificationStatus.READY
    return message


def test_send_now_after_ignore_all_leaves_no_failure_on_the_row(
    smtp_sink: SmtpSink, partners: tuple[Partner, Partner, Partner]
) -> None:
    bob, carl, _dan = partners
    message = _failed_and_waiting(smtp_sink, bob, carl)
    message_cancel_failures(message=message)

    report = mail_send_now(mail_ids=[row_of(message).pk])

    assert (report.claimed, report.sent, report.failed) == (1, 1, 0)
    row = row_of(message)
    assert (row.state, row.failure_type) == (MailState.SENT, "")
    assert mail_retry(mail_ids=[row.pk]) == 0
    _everything_is_retried_and_sent()
    assert not _received_by(smtp_sink, bob) and len(_received_by(smtp_sink, carl)) == 1
    assert _envelope(message) == {"state": "sent", "Bob": NotificationStatus.CANCELED, "Carl": NotificationStatus.SENT}


def test_cron_after_ignore_all_leaves_no_failure_on_the_row(
    smtp_sink: SmtpSink, partners: tuple[Partner, Partner, Partner]
) -> None:
    bob, carl, _dan = partners
    message = _failed_and_waiting(smtp_sink, bob, carl)
    message_cancel_failures(message=message)
    make_due(row_of(message))

    result = process_email_queue(time_budget=5)

    assert result.done == 1
    row = row_of(message)
    assert (row.state, row.failure_type) == (MailState.SENT, "")
    _everything_is_retried_and_sent()
    assert not _received_by(smtp_sink, bob) and len(_received_by(smtp_sink, carl)) == 1


def test_the_row_being_sent_follows_a_failure_ignored_meanwhile(
    smtp_sink: SmtpSink, partners: tuple[Partner, Partner, Partner], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dialog can settle a failure while a worker sends the row's other recipients: the
    worker's bookkeeping must not put the ignored failure back on the row."""
    from mailqueue import sender
    from mailqueue.sender import bookkeeping, deliver

    bob, carl, _dan = partners
    message = _failed_and_waiting(smtp_sink, bob, carl)
    make_due(row_of(message))
    original = bookkeeping.flush

    def ignore_then_flush(run: Any) -> None:
        if run.pending_flush:
            message_cancel_failures(message=message)  # the row is leased, its results not written yet
        original(run)

    monkeypatch.setattr(sender, "flush", ignore_then_flush)
    monkeypatch.setattr(deliver, "flush", ignore_then_flush)
    assert send_mails().sent == 1

    row = row_of(message)
    assert (row.state, row.failure_type) == (MailState.SENT, "")
    assert notification(message, bob).notification_status == NotificationStatus.CANCELED
    assert notification(message, carl).notification_status == NotificationStatus.SENT


# --- the API's buttons ---------------------------------------------------------------------------
def test_api_retry_after_ignore_all_is_refused_and_says_why(
    smtp_sink: SmtpSink, partners: tuple[Partner, Partner, Partner]
) -> None:
    bob, _carl, _dan = partners
    smtp_sink.fail("RCPT", REFUSED, address=bob.email, times=1)
    message = post(bob, mail_auto_delete=False)
    send_mails()
    row = row_of(message)
    message_cancel_failures(message=message)
    client = client_for(make_user("root", staff=True))

    response = client.post(f"/api/queue/{row.pk}/retry/")

    assert response.status_code == 400
    assert response.json() == {
        "detail": f"Mail {row.pk} cannot be retried: it has no recipient left to send to "
        "(its failures were ignored or resent from the Delivery failure dialog)."
    }
    assert client.post("/api/queue/retry/", {"ids": [row.pk]}, format="json").json() == {"count": 0}
    process_email_queue(time_budget=5)
    assert not _received_by(smtp_sink, bob)
    assert notification(message, bob).notification_status == NotificationStatus.CANCELED


def test_api_send_now_after_ignore_all_leaves_no_failure_on_the_row(
    smtp_sink: SmtpSink, partners: tuple[Partner, Partner, Partner]
) -> None:
    bob, carl, _dan = partners
    message = _failed_and_waiting(smtp_sink, bob, carl)
    message_cancel_failures(message=message)
    client = client_for(make_user("root", staff=True))

    response = client.post(f"/api/queue/{row_of(message).pk}/send_now/")

    assert response.status_code == 200, response.json()
    assert (response.json()["sent"], response.json()["failed"]) == (1, 0)
    assert client.get(f"/api/queue/{row_of(message).pk}/").json()["state"] == MailState.SENT
    assert client.post(f"/api/queue/{row_of(message).pk}/retry/").status_code == 400
    process_email_queue(time_budget=5)
    assert not _received_by(smtp_sink, bob)


def test_a_bounce_then_ignore_keeps_the_sent_row_as_it_is(
    smtp_sink: SmtpSink, partners: tuple[Partner, Partner, Partner]
) -> None:
    """A bounced recipient's delivery was accepted: its row stays sent, Retry has nothing for it."""
    bob, _carl, _dan = partners
    message = post(bob, mail_auto_delete=False)
    send_mails()
    notification_set_status(
        notifications=[notification(message, bob).pk],
        status=NotificationStatus.BOUNCE,
        failure_type=FailureType.MAIL_BOUNCE,
    )
    message_cancel_failures(message=message)
    assert row_of(message).state == MailState.SENT
    assert mail_retry(mail_ids=[row_of(message).pk]) == 0
    assert len(_received_by(smtp_sink, bob)) == 1


def test_retry_never_resends_a_failure_ignored_before_the_rows_were_settled(
    smtp_sink: SmtpSink, partners: tuple[Partner, Partner, Partner]
) -> None:
    """Rows from before the dialog settled them still hold the ignored failure: Retry skips it."""
    bob, _carl, _dan = partners
    smtp_sink.fail("RCPT", REFUSED, address=bob.email, times=1)
    message = post(bob, mail_auto_delete=False)
    send_mails()
    # What Ignore all used to leave: the notification cancelled, the failed delivery on the row.
    notification_set_status(notifications=[notification(message, bob).pk], status=NotificationStatus.CANCELED)
    assert row_of(message).state == MailState.EXCEPTION

    assert mail_retry(mail_ids=[row_of(message).pk]) == 0
    process_email_queue(time_budget=5)
    assert not _received_by(smtp_sink, bob)
    assert notification(message, bob).notification_status == NotificationStatus.CANCELED
