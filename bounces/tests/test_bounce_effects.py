"""What a bounce does: attribution (token, Message-ID, references), red envelopes, counters, blacklist."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from bounces import services
from bounces.effects import partner_blacklist_check
from bounces.models import BounceAction, BounceEvent, InboundDecision, InboundMessage, InboundState
from bounces.tests.dsn_builder import make_auto_reply, make_dsn, make_feedback_report
from chatter.models import FailureType, Message, Notification, NotificationStatus
from chatter.services import message_post
from chatter.tests.factories import PartnerFactory
from demo.models import Lead
from mailcore.models import AliasDomain, Partner
from mailcore.signed_addresses import bounce_address
from mailqueue.models import MailRecipient

pytestmark = pytest.mark.django_db
DOMAIN = "mailcore.localhost"


@pytest.fixture
def sent() -> tuple[Message, Partner, Partner]:
    """A message on a lead e-mailed to two followers (Bob, Carol), as the sender would have."""
    lead = Lead.objects.create(name="Bounce target")
    bob = PartnerFactory(name="Bob", email="bob@example.net")
    carol = PartnerFactory(name="Carol", email="carol@example.org")
    lead.message_subscribe([bob, carol])
    message = message_post(
        record=lead, body="<p>Offer</p>", subtype="mt_comment", author=PartnerFactory(), mail_auto_delete=False
    )
    return message, bob, carol


def _notification(message: Message, partner: Partner) -> Notification:
    return Notification.objects.get(message=message, res_partner=partner)


def _token(message: Message, partner: Partner) -> str:
    delivery = MailRecipient.objects.get(notification=_notification(message, partner))
    return bounce_address(alias_domain=AliasDomain.objects.get(name=DOMAIN), recipient_id=delivery.pk)


def bounce(raw: bytes, rcpt: str = f"bounce@{DOMAIN}") -> InboundMessage:
    reception = services.inbound_receive(raw=raw, mail_from="", rcpt_tos=[rcpt])
    assert reception.decision == InboundDecision.BOUNCE
    assert services.message_process(inbound_id=reception.inbound_id).status == "done"
    return InboundMessage.objects.get(pk=reception.inbound_id)


def test_token_attribution_turns_the_envelope_red_and_counts_a_hard_bounce(
    sent: tuple[Message, Partner, Partner],
) -> None:
    message, bob, carol = sent
    row = bounce(make_dsn(recipient="bob@example.net"), rcpt=_token(message, bob))
    assert row.state == InboundState.DONE
    n = _notification(message, bob)
    assert (n.notification_status, n.failure_type) == (NotificationStatus.BOUNCE, FailureType.MAIL_BOUNCE)
    assert n.failure_reason == "550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown"
    assert _notification(message, carol).notification_status == NotificationStatus.READY
    bob.refresh_from_db()
    assert bob.message_bounce == 1
    event = BounceEvent.objects.get()
    assert (event.email, event.status, event.reason, event.hard, event.attributed_by) == (
        "bob@example.net",
        "5.1.1",
        "user_unknown",
        True,
        "token",
    )
    assert event.notification_id == n.pk and event.message_id == message.pk and event.inbound_id == row.pk
    assert "bob@example.net: hard bounce 5.1.1 (user_unknown)" in row.reason


def test_token_wins_over_a_forwarding_address_in_the_report(sent: tuple[Message, Partner, Partner]) -> None:
    message, bob, _carol = sent
    bounce(make_dsn(recipient="bob.forwarded@elsewhere.example"), rcpt=_token(message, bob))
    assert _notification(message, bob).notification_status == NotificationStatus.BOUNCE
    assert BounceEvent.objects.get().email == "bob@example.net"


def test_message_id_attribution_without_token(sent: tuple[Message, Partner, Partner]) -> None:
    message, _bob, carol = sent
    headers = f"From: notifications@{DOMAIN}\nMessage-ID: {message.message_id}\nSubject: Offer"
    bounce(make_dsn(recipient="carol@example.org", original_headers=headers))
    assert _notification(message, carol).notification_status == NotificationStatus.BOUNCE
    assert BounceEvent.objects.get().attributed_by == "message_id"


def test_our_own_header_survives_a_provider_that_rewrote_message_id(sent: tuple[Message, Partner, Partner]) -> None:
    message, _bob, carol = sent
    headers = f"Message-ID: <rewritten@outlook.example>\nX-Mailcore-Message-Id: {message.message_id}"
    bounce(make_dsn(recipient="carol@example.org", original_headers=headers))
    assert _notification(message, carol).notification_status == NotificationStatus.BOUNCE


def test_references_of_the_bounce_itself_as_last_resort(sent: tuple[Message, Partner, Partner]) -> None:
    message, bob, _carol = sent
    bounce(make_dsn(recipient="bob@example.net", extra_headers=f"In-Reply-To: {message.message_id}"))
    assert _notification(message, bob).notification_status == NotificationStatus.BOUNCE
    assert BounceEvent.objects.get().attributed_by == "references"


def test_odoos_single_recipient_fallback() -> None:
    lead = Lead.objects.create(name="Single")
    only = PartnerFactory(email="only@example.net")
    lead.message_subscribe([only])
    message = message_post(record=lead, body="x", subtype="mt_comment", author=PartnerFactory())
    bounce(make_dsn(recipient="alias-of-only@other.example", original_headers=f"Message-ID: {message.message_id}"))
    assert _notification(message, only).notification_status == NotificationStatus.BOUNCE


def test_delay_notice_is_recorded_but_nothing_turns_red(sent: tuple[Message, Partner, Partner]) -> None:
    message, bob, _carol = sent
    row = bounce(
        make_dsn(recipient="bob@example.net", action="delayed", status="4.4.1", diagnostic="smtp; 451 4.4.1 timeout"),
        rcpt=_token(message, bob),
    )
    assert _notification(message, bob).notification_status == NotificationStatus.READY
    bob.refresh_from_db()
    assert bob.message_bounce == 0
    event = BounceEvent.objects.get()
    assert (event.action, event.hard) == (BounceAction.DELAYED, False)
    assert "delayed" in row.reason


def test_soft_bounce_turns_red_but_does_not_count(sent: tuple[Message, Partner, Partner]) -> None:
    message, bob, _carol = sent
    bounce(
        make_dsn(recipient="bob@example.net", status="5.2.2", diagnostic="smtp; 552 5.2.2 mailbox full"),
        rcpt=_token(message, bob),
    )
    n = _notification(message, bob)
    assert n.notification_status == NotificationStatus.BOUNCE
    assert n.failure_reason == "552 5.2.2 mailbox full"
    bob.refresh_from_db()
    assert bob.message_bounce == 0


def test_auto_reply_to_the_return_path_is_not_a_bounce(sent: tuple[Message, Partner, Partner]) -> None:
    message, bob, _carol = sent
    token = _token(message, bob)
    row = bounce(make_auto_reply(to=token), rcpt=token)
    assert _notification(message, bob).notification_status == NotificationStatus.READY
    assert not BounceEvent.objects.exists()
    assert "Auto-reply, not a bounce" in row.reason


def test_unreadable_report_to_a_token_still_names_the_delivery(sent: tuple[Message, Partner, Partner]) -> None:
    message, bob, _carol = sent
    raw = (
        b"From: MAILER-DAEMON@legacy.example\r\nSubject: Returned mail: see transcript for details\r\n"
        b"Message-ID: <legacy-1@legacy.example>\r\n\r\nSomething went wrong, sorry.\r\n"
    )
    bounce(raw, rcpt=_token(message, bob))
    n = _notification(message, bob)
    assert n.notification_status == NotificationStatus.BOUNCE
    assert n.failure_reason == "Undeliverable (unreadable delivery report)."
    event = BounceEvent.objects.get()
    assert (event.email, event.hard, event.attributed_by) == ("bob@example.net", False, "token")


def test_feedback_report_blacklists_the_address(sent: tuple[Message, Partner, Partner]) -> None:
    message, _bob, carol = sent
    row = bounce(
        make_feedback_report(complainant="carol@example.org", original_headers=f"Message-ID: {message.message_id}")
    )
    carol.refresh_from_db()
    assert carol.is_blacklisted
    assert carol.message_bounce == 0
    assert BounceEvent.objects.get().action == BounceAction.COMPLAINT
    assert _notification(message, carol).notification_status == NotificationStatus.READY
    assert "carol@example.org blacklisted" in row.reason


def _hard_events(email: str, ages_in_days: list[float]) -> None:
    now = timezone.now()
    for age in ages_in_days:
        BounceEvent.objects.create(
            email=email, action=BounceAction.FAILED, hard=True, date=now - dt.timedelta(days=age)
        )


@pytest.mark.parametrize(
    ("ages", "blacklisted"),
    [
        ([0, 2, 4, 6, 8], True),  # five, over 8 days
        ([0, 1, 2, 3, 4], False),  # five, but within a week
        ([0, 2, 4, 8], False),  # only four
        ([0, 2, 4, 8, 100], False),  # the oldest is outside 13 weeks
        ([0, 0, 0, 0, 7.5], True),
    ],
)
def test_blacklist_rule(ages: list[float], blacklisted: bool) -> None:
    partner = PartnerFactory(email="dead@example.com")
    _hard_events("dead@example.com", ages)
    assert partner_blacklist_check(email="dead@example.com") is blacklisted
    partner.refresh_from_db()
    assert partner.is_blacklisted is blacklisted


def test_fifth_hard_bounce_through_the_gateway_blacklists(sent: tuple[Message, Partner, Partner]) -> None:
    message, bob, _carol = sent
    _hard_events("bob@example.net", [3, 5, 9, 12])
    bounce(make_dsn(recipient="bob@example.net", original_headers=f"Message-ID: {message.message_id}"))
    bob.refresh_from_db()
    assert bob.is_blacklisted
    assert bob.message_bounce == 1


def test_bounce_counter_reset_then_counted_again(sent: tuple[Message, Partner, Partner]) -> None:
    message, bob, _carol = sent
    headers = f"Message-ID: {message.message_id}"
    bounce(make_dsn(recipient="bob@example.net", original_headers=headers, message_id="<d1@mx>"))
    bounce(make_dsn(recipient="bob@example.net", original_headers=headers, message_id="<d2@mx>"))
    bob.refresh_from_db()
    assert bob.message_bounce == 2
    services.inbound_receive(
        raw=b"From: bob@example.net\r\nSubject: hi\r\nMessage-ID: <hi@x>\r\n\r\nhello\r\n",
        mail_from="bob@example.net",
        rcpt_tos=[f"catchall@{DOMAIN}"],
    )
    bob.refresh_from_db()
    assert bob.message_bounce == 0


def test_unattributed_bounce_names_the_active_contact_and_counts_for_every_contact_of_the_address() -> None:
    archived = PartnerFactory(name="Old Dave", email="dave@example.net", active=False)
    dave = PartnerFactory(name="Dave", email="Dave <DAVE@example.net>")
    bounce(make_dsn(recipient="dave@example.net", message_id="<d1@mx>"))
    event = BounceEvent.objects.get()
    # The archived duplicate is older, but the contact named is the one in use.
    assert (event.email, event.partner_id, event.attributed_by) == ("dave@example.net", dave.pk, "")
    # The counter describes the mailbox: every contact holding the address counts it.
    assert list(Partner.objects.filter(pk__in=[archived.pk, dave.pk]).values_list("message_bounce", flat=True)) == [
        1,
        1,
    ]
    # Only an archived contact: the bounce still counts against it, but names no contact.
    lonely = PartnerFactory(name="Lonely", email="lonely@example.net", active=False)
    bounce(make_dsn(recipient="lonely@example.net", message_id="<d2@mx>"))
    assert BounceEvent.objects.get(email="lonely@example.net").partner_id is None
    lonely.refresh_from_db()
    assert lonely.message_bounce == 1


def test_token_still_names_the_delivery_after_the_row_was_auto_deleted(smtp_sink: object) -> None:
    """Sent rows are auto-deleted with their recipients; the delivery log keeps the link."""
    from mailqueue.models import Mail
    from mailqueue.sender import send_mails

    lead = Lead.objects.create(name="Auto-deleted")
    bob = PartnerFactory(name="Bob", email="bob@example.net")
    lead.message_subscribe([bob])
    message = message_post(record=lead, body="<p>Offer</p>", subtype="mt_comment", author=PartnerFactory())
    send_mails()
    assert not Mail.objects.filter(message=message).exists(), "the sent row should be auto-deleted"
    delivered = smtp_sink.wait_for(1)  # type: ignore[attr-defined]
    return_path = delivered[0].mail_from
    assert return_path.startswith("bounce+")
    # The report names a forwarding address and carries no original headers: only the token can tell.
    row = bounce(make_dsn(recipient="bob.forwarded@elsewhere.example"), rcpt=return_path)
    assert row.state == InboundState.DONE
    n = _notification(message, bob)
    assert (n.notification_status, n.failure_type) == (NotificationStatus.BOUNCE, FailureType.MAIL_BOUNCE)
    assert BounceEvent.objects.get().attributed_by == "token"


def test_a_bounce_leaves_a_cancelled_notification_cancelled(sent: tuple[Message, Partner, Partner]) -> None:
    """The user ignored this recipient's failure in the Delivery failure dialog: a late bounce must
    not turn the envelope red again."""
    message, bob, _carol = sent
    token = _token(message, bob)
    Notification.objects.filter(message=message, res_partner=bob).update(
        notification_status=NotificationStatus.CANCELED, failure_type=FailureType.MAIL_SMTP, failure_reason="421 busy"
    )
    row = bounce(make_dsn(recipient="bob@example.net"), rcpt=token)
    n = _notification(message, bob)
    assert (n.notification_status, n.failure_type, n.failure_reason) == (
        NotificationStatus.CANCELED,
        FailureType.MAIL_SMTP,
        "421 busy",
    )
    assert f"notification {n.pk} left canceled: it was cancelled: a late bounce does not turn it red again." in (
        row.reason
    )
    # The bounce itself still counts against the address.
    bob.refresh_from_db()
    assert bob.message_bounce == 1
    assert BounceEvent.objects.get().notification_id == n.pk
