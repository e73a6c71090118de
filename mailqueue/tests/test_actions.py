"""Retry, Send Now and Cancel Email (Odoo's queue buttons) as services."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from chatter.models import FailureType, NotificationStatus
from chatter.tests.factories import PartnerFactory
from mailcore.testing.smtp import SmtpSink
from mailqueue.actions import mail_cancel, mail_retry, mail_send_now
from mailqueue.crons import QUEUE_CRON
from mailqueue.models import CronState, Mail, MailState, RecipientState
from mailqueue.sender import send_mails
from mailqueue.tests.test_sender import notification, post, row_of

pytestmark = pytest.mark.django_db


def test_retry_resends_only_to_recipients_not_served(smtp_sink: SmtpSink) -> None:
    bob, carl = PartnerFactory(email="bob@example.com"), PartnerFactory(email="carl@example.com")
    smtp_sink.fail("RCPT", "554 5.7.1 Rejected by policy", address="bob@example.com", times=1)
    message = post(bob, carl)
    send_mails()
    row = row_of(message)
    assert row.state == MailState.EXCEPTION
    assert notification(message, bob).notification_status == NotificationStatus.EXCEPTION

    assert mail_retry(mail_ids=[row.pk]) == 1

    row.refresh_from_db()
    assert (row.state, row.failure_type, row.failure_reason, row.attempt_count) == (MailState.OUTGOING, "", "", 0)
    states = dict(row.recipients.values_list("partner_id", "state"))
    assert states == {bob.pk: RecipientState.PENDING, carl.pk: RecipientState.SENT}
    n = notification(message, bob)
    assert (n.notification_status, n.failure_type, n.failure_reason) == (NotificationStatus.READY, "", "")

    assert send_mails().sent == 1
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["carl@example.com"], ["bob@example.com"]]
    assert notification(message, bob).notification_status == NotificationStatus.SENT
    assert not Mail.objects.filter(pk=row.pk).exists()


def test_retry_ignores_rows_that_are_sent_or_being_sent(smtp_sink: SmtpSink) -> None:
    kept = post(PartnerFactory(), mail_auto_delete=False)
    send_mails()
    leased = post(PartnerFactory())
    Mail.objects.filter(message=leased).update(
        next_attempt_at=timezone.now() + dt.timedelta(minutes=1),
        lease_owner="busy",
        lease_until=timezone.now() + dt.timedelta(minutes=5),
    )
    assert mail_retry(mail_ids=[row_of(kept).pk, row_of(leased).pk]) == 0
    assert row_of(kept).state == MailState.SENT


def test_retry_rings_the_queue_after_commit(django_capture_on_commit_callbacks: Any) -> None:
    message = post(PartnerFactory())
    Mail.objects.filter(message=message).update(state=MailState.EXCEPTION)
    CronState.objects.filter(name=QUEUE_CRON).delete()
    with django_capture_on_commit_callbacks(execute=True):
        mail_retry(mail_ids=[row_of(message).pk])
    # The Email Queue Manager is booked for now (dispatch.queue_trigger), not in an hour.
    booked = CronState.objects.get(name=QUEUE_CRON).next_trigger_at
    assert booked is not None and booked <= timezone.now()


def test_cancel_then_retry(smtp_sink: SmtpSink) -> None:
    bob = PartnerFactory()
    message = post(bob, PartnerFactory())
    row = row_of(message)

    assert mail_cancel(mail_ids=[row.pk]) == 1

    row.refresh_from_db()
    assert row.state == MailState.CANCEL
    assert set(row.recipients.values_list("state", flat=True)) == {RecipientState.CANCEL}
    assert notification(message, bob).notification_status == NotificationStatus.CANCELED
    assert send_mails().claimed == 0
    assert mail_cancel(mail_ids=[row.pk]) == 0  # only outgoing rows can be cancelled

    assert mail_retry(mail_ids=[row.pk]) == 1
    assert notification(message, bob).notification_status == NotificationStatus.READY
    assert send_mails().sent == 2
    assert len(smtp_sink.messages) == 2


def test_cancel_keeps_what_was_already_sent(smtp_sink: SmtpSink) -> None:
    smtp_sink.fail("RCPT", "450 4.2.1 busy", times=1)
    first, second = PartnerFactory(), PartnerFactory()
    message = post(first, second)
    send_mails()  # first waits for a retry, second was served
    row = row_of(message)
    assert mail_cancel(mail_ids=[row.pk]) == 1
    assert notification(message, second).notification_status == NotificationStatus.SENT
    assert notification(message, first).notification_status == NotificationStatus.CANCELED
    row.refresh_from_db()
    assert row.next_attempt_at is None


def test_cancel_leaves_a_row_being_sent_alone(smtp_sink: SmtpSink) -> None:
    # A worker holding the lease sends every pending recipient it loaded: cancelling underneath it
    # would leave notifications "canceled" for mail that was delivered.
    bob = PartnerFactory()
    message = post(bob)
    Mail.objects.filter(message=message).update(
        lease_owner="busy", lease_until=timezone.now() + dt.timedelta(minutes=5)
    )
    assert mail_cancel(mail_ids=[row_of(message).pk]) == 0
    assert row_of(message).state == MailState.OUTGOING
    assert set(row_of(message).recipients.values_list("state", flat=True)) == {RecipientState.PENDING}
    assert notification(message, bob).notification_status == NotificationStatus.READY
    # Once the lease is over (the worker finished or died), Cancel applies.
    Mail.objects.filter(message=message).update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    assert mail_cancel(mail_ids=[row_of(message).pk]) == 1
    assert notification(message, bob).notification_status == NotificationStatus.CANCELED


def test_send_now_ignores_schedule_and_backoff(smtp_sink: SmtpSink) -> None:
    later = timezone.now() + dt.timedelta(days=1)
    scheduled = post(PartnerFactory())
    waiting = post(PartnerFactory())
    Mail.objects.filter(message=scheduled).update(scheduled_date=later)
    Mail.objects.filter(message=waiting).update(next_attempt_at=later, attempt_count=2)
    ids = [row_of(scheduled).pk, row_of(waiting).pk]
    assert send_mails().claimed == 0

    report = mail_send_now(mail_ids=ids)

    assert (report.claimed, report.sent) == (2, 2)
    assert len(smtp_sink.wait_for(2)) == 2
    assert not Mail.objects.filter(pk__in=ids).exists()


def test_send_now_does_nothing_for_failed_rows(smtp_sink: SmtpSink) -> None:
    # Odoo: a failed row must be put back with Retry before Send Now does anything.
    message = post(PartnerFactory())
    Mail.objects.filter(message=message).update(state=MailState.EXCEPTION, failure_type=FailureType.MAIL_SMTP)
    report = mail_send_now(mail_ids=[row_of(message).pk])
    assert (report.claimed, report.sent) == (0, 0)
    assert smtp_sink.messages == []


# --- the Django admin calls the same services ----------------------------------------------------
def _admin_action(client: Any, action: str, ids: list[int]) -> str:
    response = client.post(
        "/admin/mailqueue/mail/", {"action": action, "_selected_action": [str(i) for i in ids]}, follow=True
    )
    assert response.status_code == 200
    return " ".join(str(m) for m in response.context["messages"])


def test_admin_queue_actions(admin_client: Any, smtp_sink: SmtpSink) -> None:
    message = post(PartnerFactory(), subject="Quarterly offer", mail_auto_delete=False)
    row = row_of(message)

    listing = admin_client.get("/admin/mailqueue/mail/", {"state__exact": "outgoing"})
    assert listing.status_code == 200 and "Quarterly offer" in listing.content.decode()
    assert (
        "Quarterly offer" not in admin_client.get("/admin/mailqueue/mail/", {"state__exact": "sent"}).content.decode()
    )

    assert _admin_action(admin_client, "action_cancel", [row.pk]) == "1 e-mail cancelled."
    assert "only outgoing e-mails" in _admin_action(admin_client, "action_send_now", [row.pk])
    assert _admin_action(admin_client, "action_retry", [row.pk]) == "1 e-mail put back in the queue."
    assert _admin_action(admin_client, "action_send_now", [row.pk]) == (
        "1 e-mail processed: 1 sent, 0 failed, 0 will be retried, 0 waiting for the daily limit."
    )
    assert len(smtp_sink.wait_for(1)) == 1

    detail = admin_client.get(f"/admin/mailqueue/mail/{row.pk}/change/")
    assert detail.status_code == 200 and "250 " in detail.content.decode()  # the recipient's SMTP answer
    assert admin_client.get("/admin/mailqueue/deliverylog/").status_code == 200
    assert admin_client.get(f"/admin/chatter/message/{message.pk}/change/").status_code == 200
    assert admin_client.get("/admin/chatter/follower/").status_code == 200
    assert admin_client.get("/admin/chatter/messagesubtype/").status_code == 200


def test_send_and_close_moves_the_failed_delivery_so_retry_on_the_old_row_cannot_resend(
    smtp_sink: SmtpSink,
) -> None:
    """Odoo's resend_existing: after Send & close, the old failed row no longer holds the recipient."""
    from chatter.services import message_resend

    bob, carl = PartnerFactory(email="bob@example.com"), PartnerFactory(email="carl@example.com")
    smtp_sink.fail("RCPT", "554 5.7.1 Rejected by policy", address="bob@example.com", times=1)
    message = post(bob, carl)
    send_mails()
    old_row = row_of(message)
    assert old_row.state == MailState.EXCEPTION

    message_resend(message=message, retry_partner_ids=[bob.pk])
    assert mail_retry(mail_ids=[old_row.pk]) == 0, "the old row has no failure left to retry"
    send_mails()

    to_bob = [m for m in smtp_sink.messages if m.rcpt_tos == ["bob@example.com"]]
    assert len(to_bob) == 1
    assert notification(message, bob).notification_status == NotificationStatus.SENT
    assert not Mail.objects.filter(pk=old_row.pk).exists()


def test_send_and_close_settles_a_kept_row_whose_only_failure_moved(smtp_sink: SmtpSink) -> None:
    from chatter.services import message_resend

    bob, carl = PartnerFactory(email="bob@example.com"), PartnerFactory(email="carl@example.com")
    smtp_sink.fail("RCPT", "554 5.7.1 Rejected by policy", address="bob@example.com", times=1)
    message = post(bob, carl, mail_auto_delete=False)
    send_mails()
    old_row = row_of(message)
    message_resend(message=message, retry_partner_ids=[bob.pk])
    old_row.refresh_from_db()
    assert (old_row.state, old_row.failure_type) == (MailState.SENT, "")
    assert list(old_row.recipients.values_list("partner_id", flat=True)) == [carl.pk]
