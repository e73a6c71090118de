"""Field tracking on the demo records (Odoo ``tracking=True``) and the creation message."""

from __future__ import annotations

from decimal import Decimal
from email import message_from_bytes
from email import policy as email_policy

import pytest

from chatter import services
from chatter.context import acting_as
from chatter.models import Message, MessageType, NotificationKind, NotificationStatus, TrackingValue
from chatter.tests.factories import (
    LeadFactory,
    PartnerFactory,
    QuotationFactory,
    TicketFactory,
    email_user_partner,
    inbox_user_partner,
)
from demo.models import Lead, Quotation, Ticket
from mailcore.testing.smtp import SmtpSink
from mailqueue.models import Mail, MailRecipient
from mailqueue.sender import send_mails

pytestmark = pytest.mark.django_db


def _last(record: object) -> Message:
    return record.message_ids.order_by("-id").first()  # type: ignore[attr-defined]


def test_creation_message_is_logged_by_the_acting_user_and_notifies_nobody() -> None:
    actor = email_user_partner("Creator")
    with acting_as(actor):
        lead = LeadFactory(name="New lead")
    message = lead.message_ids.get()
    assert message.body == "<p>Lead created</p>"
    assert message.message_type == MessageType.NOTIFICATION
    assert message.subtype is not None and message.subtype.code == "mt_note"
    assert message.author == actor
    assert message.notifications.count() == 0
    assert not Mail.objects.exists()
    ticket = TicketFactory()
    assert ticket.message_ids.get().body == "<p>Ticket created</p>"


def test_the_creator_follows_the_new_record_with_default_subtypes() -> None:
    creator = email_user_partner("Creator")
    with acting_as(creator):
        lead = LeadFactory()
    (follower,) = lead.message_follower_ids
    assert follower.partner == creator
    assert set(follower.subtypes.values_list("code", flat=True)) == {"mt_comment", "mt_activities", "demo.mt_lead_won"}
    # Without an acting user (a script, the gateway) nobody is subscribed.
    assert not LeadFactory().message_follower_ids.exists()


def test_stage_change_logs_old_and_new_labels_and_notifies_stage_followers() -> None:
    lead = LeadFactory()
    stage_follower = PartnerFactory(name="Stage watcher")
    inbox_follower = inbox_user_partner("Inbox watcher")
    discussion_follower = PartnerFactory(name="Discussions only")
    lead.message_subscribe([stage_follower, inbox_follower], subtype_codes=["demo.mt_lead_stage"])
    lead.message_subscribe([discussion_follower], subtype_codes=["mt_comment"])

    lead = Lead.objects.get(pk=lead.pk)  # tracking also works from a freshly loaded record
    lead.stage = Lead.Stage.QUALIFIED
    lead.save()

    message = _last(lead)
    assert message.subtype is not None and message.subtype.code == "demo.mt_lead_stage"
    assert message.message_type == MessageType.NOTIFICATION
    assert message.body == "Stage changed"  # the subtype's description
    (value,) = message.tracking_values.all()
    assert (value.field_name, value.field_desc, value.field_type) == ("stage", "Stage", "CharField")
    assert (value.old_value_char, value.new_value_char) == ("New", "Qualified")
    assert str(value) == "Stage: New → Qualified"

    notifications = {n.res_partner_id: n for n in message.notifications.all()}
    assert set(notifications) == {stage_follower.pk, inbox_follower.pk}
    assert notifications[stage_follower.pk].notification_type == NotificationKind.EMAIL
    assert notifications[stage_follower.pk].notification_status == NotificationStatus.READY
    assert notifications[inbox_follower.pk].notification_type == NotificationKind.INBOX
    assert list(MailRecipient.objects.filter(mail__message=message).values_list("partner_id", flat=True)) == [
        stage_follower.pk
    ]


def test_won_stage_uses_its_own_subtype() -> None:
    lead = LeadFactory()
    won_follower = PartnerFactory()
    stage_follower = PartnerFactory()
    lead.message_subscribe([won_follower], subtype_codes=["demo.mt_lead_won"])
    lead.message_subscribe([stage_follower], subtype_codes=["demo.mt_lead_stage"])
    lead.stage = Lead.Stage.WON
    lead.save()
    message = _last(lead)
    assert message.subtype is not None and message.subtype.code == "demo.mt_lead_won"
    assert set(message.notifications.values_list("res_partner_id", flat=True)) == {won_follower.pk}


def test_several_tracked_fields_in_one_message_in_declaration_order() -> None:
    lead = LeadFactory()
    customer = PartnerFactory(name="ACME")
    lead.stage = Lead.Stage.PROPOSITION
    lead.expected_revenue = Decimal("1500.50")
    lead.customer = customer
    lead.save()

    message = _last(lead)
    values = list(message.tracking_values.all())
    assert [v.field_name for v in values] == ["stage", "expected_revenue", "customer"]
    revenue, partner = values[1], values[2]
    assert revenue.field_desc == "Expected revenue"
    assert (revenue.old_value_float, revenue.new_value_float) == (0.0, 1500.5)
    # Many-to-one: the id in the integer columns, the display name in the char ones.
    assert (partner.old_value_integer, partner.new_value_integer) == (None, customer.pk)
    assert (partner.old_value_char, partner.new_value_char) == ("", "ACME")


def test_tracked_change_without_subtype_is_a_silent_log() -> None:
    lead = LeadFactory()
    note_follower = PartnerFactory()
    lead.message_subscribe([note_follower], subtype_codes=["mt_note", "mt_comment"])
    lead.expected_revenue = Decimal("10")
    lead.save()
    message = _last(lead)
    assert message.subtype is not None and message.subtype.code == "mt_note"
    assert message.tracking_values.count() == 1
    # Odoo's _message_log: nobody is notified, not even the followers of notes.
    assert message.notifications.count() == 0
    assert not Mail.objects.exists()


def test_untracked_fields_and_unchanged_values_log_nothing() -> None:
    lead = LeadFactory()
    lead.description = "long text"
    lead.name = "Renamed"
    lead.save()
    lead.stage = Lead.Stage.NEW  # same value as before
    lead.save()
    assert lead.message_ids.count() == 1  # only the creation message
    assert not TrackingValue.objects.exists()


def test_tracking_compares_with_the_last_saved_values() -> None:
    lead = LeadFactory()
    lead.stage = Lead.Stage.QUALIFIED
    lead.save()
    lead.stage = Lead.Stage.PROPOSITION
    lead.save()
    values = list(TrackingValue.objects.filter(field_name="stage").order_by("id"))
    assert [(v.old_value_char, v.new_value_char) for v in values] == [
        ("New", "Qualified"),
        ("Qualified", "Proposition"),
    ]


def test_tracking_is_authored_by_the_acting_user_who_is_not_notified() -> None:
    lead = LeadFactory()
    actor = email_user_partner()
    lead.message_subscribe([actor], subtype_codes=["demo.mt_lead_stage"])
    with acting_as(actor):
        lead.stage = Lead.Stage.QUALIFIED
        lead.save()
    message = _last(lead)
    assert message.author == actor
    assert message.notifications.count() == 0


def test_quotation_confirmation_notifies_order_followers() -> None:
    quotation = QuotationFactory()
    follower = PartnerFactory()
    services.message_subscribe(record=quotation, partners=[follower], subtype_codes=["demo.mt_order_confirmed"])
    quotation.state = Quotation.State.SENT
    quotation.save()
    sent = _last(quotation)
    assert sent.notifications.count() == 0
    assert sent.tracking_values.get().new_value_char == "Quotation Sent"
    quotation.state = Quotation.State.SALE
    quotation.amount_total = Decimal("99.90")
    quotation.save()
    confirmed = _last(quotation)
    assert confirmed.subtype is not None and confirmed.subtype.code == "demo.mt_order_confirmed"
    state = confirmed.tracking_values.get(field_name="state")
    assert (state.old_value_char, state.new_value_char) == ("Quotation Sent", "Sales Order")
    amount = confirmed.tracking_values.get(field_name="amount_total")
    assert (amount.old_value_float, amount.new_value_float) == (0.0, 99.9)
    assert list(confirmed.notifications.values_list("res_partner_id", flat=True)) == [follower.pk]


def test_ticket_priority_and_solved_stage() -> None:
    ticket = TicketFactory()
    follower = PartnerFactory()
    services.message_subscribe(record=ticket, partners=[follower], subtype_codes=["demo.mt_ticket_solved"])
    ticket.priority = Ticket.Priority.URGENT
    ticket.save()
    priority = _last(ticket).tracking_values.get()
    assert (priority.field_desc, priority.old_value_char, priority.new_value_char) == ("Priority", "Normal", "Urgent")
    assert _last(ticket).notifications.count() == 0
    ticket.stage = Ticket.Stage.SOLVED
    ticket.save()
    solved = _last(ticket)
    assert solved.subtype is not None and solved.subtype.code == "demo.mt_ticket_solved"
    assert solved.body == "Ticket solved"
    assert list(solved.notifications.values_list("res_partner_id", flat=True)) == [follower.pk]


def test_tracked_changes_are_in_the_notification_email(smtp_sink: SmtpSink) -> None:
    """As Odoo's notification layout: the e-mail shows each change (label: old → new), both parts."""
    lead = LeadFactory(name="Big deal")
    watcher = PartnerFactory(name="Stage watcher", email="watcher@example.com")
    lead.message_subscribe([watcher], subtype_codes=["demo.mt_lead_stage"])
    lead = Lead.objects.get(pk=lead.pk)
    lead.stage = Lead.Stage.QUALIFIED
    lead.expected_revenue = Decimal("1200.50")
    lead.customer = PartnerFactory(name="Tom <&> Co")
    lead.save()

    assert send_mails().sent == 1
    (got,) = smtp_sink.wait_for(1)
    received = message_from_bytes(got.data, policy=email_policy.default)
    plain = received.get_body(("plain",))
    html = received.get_body(("html",))
    assert plain is not None and html is not None
    text, markup = plain.get_content(), html.get_content()  # type: ignore[attr-defined]
    for part in (text, markup):
        assert "Stage changed" in part  # the subtype's description, the message body
        assert "Stage: New → Qualified" in part
        assert "Expected revenue: 0.00 → 1200.50" in part
    assert "<li>Stage: New → Qualified</li>" in markup
    assert "<li>Customer: None → Tom &lt;&amp;&gt; Co</li>" in markup  # values are text, escaped
    assert "Stage: New → Qualified\r\nExpected revenue: 0.00 → 1200.50\r\nCustomer: None → Tom <&> Co\r\n" in text
    assert text.index("Stage changed") < text.index("Stage: New → Qualified") < text.index("View Big deal")
