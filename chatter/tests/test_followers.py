"""message_subscribe, message_unsubscribe and follower_set_subtypes."""

from __future__ import annotations

import pytest

from chatter import services
from chatter.models import Follower, MessageSubtype
from chatter.tests.factories import LeadFactory, PartnerFactory, TicketFactory

pytestmark = pytest.mark.django_db


def _codes(follower: Follower) -> set[str]:
    return set(follower.subtypes.values_list("code", flat=True))


def test_subscribe_without_subtypes_gives_the_model_defaults() -> None:
    lead, ticket = LeadFactory(), TicketFactory()
    partner = PartnerFactory()
    (lead_follower,) = lead.message_subscribe([partner])
    (ticket_follower,) = ticket.message_subscribe([partner])
    # Global defaults plus the record model's own default subtypes, never another model's.
    assert _codes(lead_follower) == {"mt_comment", "mt_activities", "demo.mt_lead_won"}
    assert _codes(ticket_follower) == {"mt_comment", "mt_activities", "demo.mt_ticket_solved"}


def test_hidden_subtypes_are_not_defaults() -> None:
    MessageSubtype.objects.filter(code="mt_activities").update(hidden=True)
    (follower,) = LeadFactory().message_subscribe([PartnerFactory()])
    assert "mt_activities" not in _codes(follower)


def test_subscribe_with_subtypes_sets_exactly_those() -> None:
    lead = LeadFactory()
    partner = PartnerFactory()
    (follower,) = lead.message_subscribe([partner], subtype_codes=["mt_note", "demo.mt_lead_stage"])
    assert _codes(follower) == {"mt_note", "demo.mt_lead_stage"}
    # Subscribing again with other subtypes replaces them, on the same follower row.
    (again,) = lead.message_subscribe([partner], subtype_codes=["mt_comment"])
    assert again.pk == follower.pk
    assert _codes(again) == {"mt_comment"}
    assert Follower.objects.count() == 1


def test_resubscribing_without_subtypes_keeps_the_chosen_ones() -> None:
    lead = LeadFactory()
    partner = PartnerFactory()
    lead.message_subscribe([partner], subtype_codes=["demo.mt_lead_stage"])
    (follower,) = lead.message_subscribe([partner])
    assert _codes(follower) == {"demo.mt_lead_stage"}


def test_subscribe_many_partners_and_followers_are_per_record() -> None:
    lead, other = LeadFactory(), LeadFactory()
    partners = PartnerFactory.create_batch(3)
    followers = services.message_subscribe(record=lead, partners=partners)
    assert [f.partner for f in followers] == partners
    assert set(lead.message_follower_ids.values_list("partner_id", flat=True)) == {p.pk for p in partners}
    assert not other.message_follower_ids.exists()


def test_unsubscribe() -> None:
    lead = LeadFactory()
    stay, leave, stranger = PartnerFactory.create_batch(3)
    lead.message_subscribe([stay, leave])
    other = LeadFactory()
    other.message_subscribe([leave])

    assert lead.message_unsubscribe([leave, stranger]) == 1
    assert list(lead.message_follower_ids.values_list("partner_id", flat=True)) == [stay.pk]
    # Following another record is untouched.
    assert other.message_follower_ids.filter(partner=leave).exists()
    assert lead.message_unsubscribe([leave]) == 0


def test_unsubscribed_partner_is_no_longer_notified() -> None:
    lead = LeadFactory()
    partner = PartnerFactory()
    lead.message_subscribe([partner])
    lead.message_unsubscribe([partner])
    message = lead.message_post(body="x", subtype="mt_comment", author=PartnerFactory())
    assert message.notifications.count() == 0


def test_follower_set_subtypes_changes_what_is_notified() -> None:
    lead = LeadFactory()
    partner = PartnerFactory()
    (follower,) = lead.message_subscribe([partner])
    author = PartnerFactory()
    assert lead.message_post(body="1", subtype="mt_comment", author=author).notifications.count() == 1

    note = MessageSubtype.objects.get(code="mt_note")
    services.follower_set_subtypes(follower=follower, subtype_ids=[note.pk])
    assert _codes(follower) == {"mt_note"}
    assert lead.message_post(body="2", subtype="mt_comment", author=author).notifications.count() == 0
    assert lead.message_post(body="3", subtype="mt_note", author=author).notifications.count() == 1

    services.follower_set_subtypes(follower=follower, subtype_ids=[])
    assert _codes(follower) == set()
    assert lead.message_post(body="4", subtype="mt_note", author=author).notifications.count() == 0
    # Still a follower, just notified of nothing.
    assert lead.message_follower_ids.filter(partner=partner).exists()
