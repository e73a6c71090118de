"""The resend wizard (Send & close, Ignore all) and reading inbox notifications."""

from __future__ import annotations

import pytest

from chatter import services
from chatter.models import FailureType, Message, Notification, NotificationKind, NotificationStatus
from chatter.tests.factories import LeadFactory, PartnerFactory, inbox_user_partner
from mailcore.exceptions import InvalidEmailError
from mailcore.models import Partner
from mailqueue.models import Mail, MailRecipient

pytestmark = pytest.mark.django_db


def _fail(message: Message, partner: Partner, status: str, failure_type: str, reason: str = "") -> Notification:
    """Put a notification in the state the sender or the bounce handler leaves it in."""
    notification = Notification.objects.get(message=message, res_partner=partner)
    notification.notification_status = status
    notification.failure_type = failure_type
    notification.failure_reason = reason
    notification.save()
    return notification


@pytest.fixture
def failed_post() -> dict[str, object]:
    lead = LeadFactory()
    author = PartnerFactory(name="Author")
    ok, bounced, broken, inbox = (
        PartnerFactory(name="Delivered"),
        PartnerFactory(name="Bounced", email="typo@exmaple.com"),
        PartnerFactory(name="Broken"),
        inbox_user_partner("Inbox"),
    )
    lead.message_subscribe([ok, bounced, broken, inbox], subtype_codes=["mt_comment"])
    message = lead.message_post(body="hello", subtype="mt_comment", author=author)
    _fail(message, ok, NotificationStatus.SENT, "")
    _fail(message, bounced, NotificationStatus.BOUNCE, FailureType.MAIL_BOUNCE, "550 5.1.1 user unknown")
    _fail(message, broken, NotificationStatus.EXCEPTION, FailureType.MAIL_SMTP, "421 try later")
    return {"message": message, "ok": ok, "bounced": bounced, "broken": broken, "inbox": inbox, "author": author}


def _status(message: object, partner: object) -> str:
    return Notification.objects.get(message=message, res_partner=partner).notification_status


def test_ignore_all_cancels_every_failed_email_notification(failed_post: dict) -> None:
    message = failed_post["message"]
    assert services.message_cancel_failures(message=message) == 2
    assert _status(message, failed_post["bounced"]) == NotificationStatus.CANCELED
    assert _status(message, failed_post["broken"]) == NotificationStatus.CANCELED
    assert _status(message, failed_post["ok"]) == NotificationStatus.SENT
    assert _status(message, failed_post["inbox"]) == NotificationStatus.SENT
    assert not Notification.objects.filter(notification_status__in=["bounce", "exception"]).exists()
    assert services.message_cancel_failures(message=message) == 0


def test_ignore_all_touches_only_this_message(failed_post: dict) -> None:
    lead = LeadFactory()
    other_partner = PartnerFactory()
    other = lead.message_post(body="x", subtype="mt_comment", author=PartnerFactory(), partner_ids=[other_partner.pk])
    _fail(other, other_partner, NotificationStatus.EXCEPTION, FailureType.MAIL_SMTP)
    services.message_cancel_failures(message=failed_post["message"])
    assert _status(other, other_partner) == NotificationStatus.EXCEPTION


def test_send_and_close_resends_toggled_on_and_cancels_toggled_off(failed_post: dict) -> None:
    message, bounced, broken = failed_post["message"], failed_post["bounced"], failed_post["broken"]
    rows_before = set(Mail.objects.values_list("id", flat=True))

    retried = services.message_resend(
        message=message,
        retry_partner_ids=[bounced.pk],
        email_updates={bounced.pk: "Fixed <fixed@example.com>"},
    )

    # The corrected address is written on the contact (normalised too).
    bounced.refresh_from_db()
    assert bounced.email == "Fixed <fixed@example.com>"
    assert bounced.email_normalized == "fixed@example.com"
    # Toggled on: back to ready, failure cleared, the same notification.
    notification = Notification.objects.get(message=message, res_partner=bounced)
    assert [n.pk for n in retried] == [notification.pk]
    assert notification.notification_status == NotificationStatus.READY
    assert (notification.failure_type, notification.failure_reason) == ("", "")
    # Toggled off: cancelled.
    assert _status(message, broken) == NotificationStatus.CANCELED
    assert _status(message, failed_post["ok"]) == NotificationStatus.SENT
    # A new queue row carries the resend, relinked to the existing notification.
    (new_row,) = Mail.objects.exclude(id__in=rows_before)
    assert new_row.message == message and new_row.urgent is True and new_row.state == "outgoing"
    (delivery,) = new_row.recipients.all()
    assert (delivery.partner_id, delivery.notification_id, delivery.state) == (bounced.pk, notification.pk, "pending")
    assert Notification.objects.filter(message=message).count() == 4  # no new notification


@pytest.mark.parametrize(("text", "error"), [("fixed at example", "Invalid email address"), ("  ", "Missing")])
def test_send_and_close_refuses_a_bad_address_and_changes_nothing(failed_post: dict, text: str, error: str) -> None:
    message, bounced = failed_post["message"], failed_post["bounced"]
    rows_before = Mail.objects.count()
    with pytest.raises(InvalidEmailError, match=error):
        services.message_resend(message=message, retry_partner_ids=[bounced.pk], email_updates={bounced.pk: text})
    bounced.refresh_from_db()
    assert (bounced.email, bounced.email_normalized) == ("typo@exmaple.com", "typo@exmaple.com")
    assert _status(message, bounced) == NotificationStatus.BOUNCE
    assert _status(message, failed_post["broken"]) == NotificationStatus.EXCEPTION
    assert Mail.objects.count() == rows_before


def test_send_and_close_with_everything_toggled_off_only_cancels(failed_post: dict) -> None:
    message = failed_post["message"]
    rows_before = Mail.objects.count()
    assert services.message_resend(message=message, retry_partner_ids=[]) == []
    assert Mail.objects.count() == rows_before
    assert set(
        Notification.objects.filter(message=message, notification_type=NotificationKind.EMAIL).values_list(
            "notification_status", flat=True
        )
    ) == {NotificationStatus.SENT, NotificationStatus.CANCELED}


def test_send_and_close_ignores_recipients_that_did_not_fail(failed_post: dict) -> None:
    message, ok = failed_post["message"], failed_post["ok"]
    rows_before = Mail.objects.count()
    retried = services.message_resend(
        message=message, retry_partner_ids=[ok.pk, failed_post["bounced"].pk, failed_post["broken"].pk]
    )
    assert {n.res_partner_id for n in retried} == {failed_post["bounced"].pk, failed_post["broken"].pk}
    assert _status(message, ok) == NotificationStatus.SENT
    assert Mail.objects.count() == rows_before + 1
    new_row = Mail.objects.order_by("-id").first()
    assert new_row is not None
    assert set(new_row.recipients.values_list("partner_id", flat=True)) == {
        failed_post["bounced"].pk,
        failed_post["broken"].pk,
    }
    assert not MailRecipient.objects.filter(mail=new_row, partner=ok).exists()


# --- inbox ---------------------------------------------------------------------------------------
def test_mark_read_some_then_all() -> None:
    lead = LeadFactory()
    reader, other_reader = inbox_user_partner(), inbox_user_partner()
    lead.message_subscribe([reader, other_reader], subtype_codes=["mt_comment"])
    author = PartnerFactory()
    first = lead.message_post(body="1", subtype="mt_comment", author=author)
    second = lead.message_post(body="2", subtype="mt_comment", author=author)
    n1 = Notification.objects.get(message=first, res_partner=reader)
    n2 = Notification.objects.get(message=second, res_partner=reader)
    assert not n1.is_read and not n2.is_read

    assert services.notification_mark_read(partner=reader, notification_ids=[n1.pk]) == 1
    n1.refresh_from_db()
    n2.refresh_from_db()
    assert n1.is_read and n1.read_date is not None
    assert not n2.is_read

    # Someone else's notification ids are never marked.
    other_n = Notification.objects.get(message=first, res_partner=other_reader)
    assert services.notification_mark_read(partner=reader, notification_ids=[other_n.pk]) == 0
    other_n.refresh_from_db()
    assert not other_n.is_read

    assert services.notification_mark_read(partner=reader) == 1
    n2.refresh_from_db()
    assert n2.is_read
    assert services.notification_mark_read(partner=reader) == 0
    assert Notification.objects.filter(res_partner=other_reader, is_read=False).count() == 2
