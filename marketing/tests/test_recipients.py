"""Who a campaign reaches and who it leaves out, in Odoo's order."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType

from chatter.tests.factories import LeadFactory
from demo.models import Lead, Ticket
from mailcore.models import Partner
from marketing.models import Mailing, MailingSubscription, MailingTrace, TraceFailure
from marketing.recipients import (
    TargetFilterError,
    candidates,
    exclusion,
    opt_out_emails,
    seen_emails,
    target_queryset,
)
from marketing.services import mailing_list_create, mailing_list_subscribe

pytestmark = pytest.mark.django_db


def campaign(**fields: object) -> Mailing:
    return Mailing.objects.create(subject="Spring offers", email_from="news@example.com", **fields)


def decide(mailing: Mailing) -> list[tuple[str, TraceFailure | None]]:
    opted_out, seen = opt_out_emails(mailing), seen_emails(mailing)
    return [exclusion(c, opted_out=opted_out, seen=seen) for c in candidates(mailing)]


def test_exclusions_in_odoos_order_with_duplicates_within_the_run() -> None:
    news, offers = mailing_list_create(name="Newsletter"), mailing_list_create(name="Offers")
    people = [
        Partner.objects.create(name="Ok", email="ok@example.com"),
        Partner.objects.create(name="Black and out", email="black@example.com", is_blacklisted=True),
        Partner.objects.create(name="Out", email="out@example.com"),
        Partner.objects.create(name="Out here, in there", email="both@example.com"),
        Partner.objects.create(name="Twin", email="OK@example.com"),
        Partner.objects.create(name="Nobody", email=""),
        Partner.objects.create(name="Broken", email="broken@"),
    ]
    mailing_list_subscribe(mailing_list=news, contacts=people)
    mailing_list_subscribe(mailing_list=offers, contacts=[people[3]])
    MailingSubscription.objects.filter(
        mailing_list=news, contact__email_normalized__in=["black@example.com", "out@example.com", "both@example.com"]
    ).update(opt_out=True)
    mailing = campaign()
    mailing.mailing_lists.set([news, offers])

    assert decide(mailing) == [
        ("ok@example.com", None),
        ("black@example.com", TraceFailure.MAIL_BL),
        ("out@example.com", TraceFailure.MAIL_OPTOUT),
        ("both@example.com", None),  # opted in on Offers: one opt-in wins
        ("ok@example.com", TraceFailure.MAIL_DUP),
        ("", TraceFailure.MAIL_EMAIL_MISSING),
        ("broken@", TraceFailure.MAIL_EMAIL_INVALID),
    ]


def test_an_address_already_traced_for_the_campaign_is_a_duplicate() -> None:
    news = mailing_list_create(name="Newsletter")
    first = Partner.objects.create(name="First", email="same@example.com")
    second = Partner.objects.create(name="Second", email="same@example.com")
    mailing_list_subscribe(mailing_list=news, contacts=[first, second])
    mailing = campaign()
    mailing.mailing_lists.set([news])
    MailingTrace.objects.create(mailing=mailing, contact=first, email="same@example.com")
    assert decide(mailing)[1] == ("same@example.com", TraceFailure.MAIL_DUP)


def test_a_campaign_over_leads_writes_to_their_contacts_through_a_filter() -> None:
    zoe = Partner.objects.create(name="Zoe", email="zoe@example.com")
    qualified = LeadFactory(stage=Lead.Stage.QUALIFIED, customer=zoe)
    LeadFactory(stage=Lead.Stage.NEW, customer=zoe)
    without_contact = LeadFactory(stage=Lead.Stage.QUALIFIED, customer=None)
    mailing = campaign(target_model=ContentType.objects.get_for_model(Lead), target_filter="stage=qualified")

    found = list(candidates(mailing))

    assert [(c.res_id, c.contact_id, c.email) for c in found] == [
        (qualified.pk, zoe.pk, "zoe@example.com"),
        (without_contact.pk, None, ""),
    ]


@pytest.mark.parametrize(
    ("target_filter", "error"),
    [
        ("stage=won_big", "stage: 'won_big' is not one of new, qualified, proposition, won, lost"),
        ("colour=red", "colour: lead has no field 'colour'"),
        ("stage__regex=.*", "stage__regex: unknown condition 'regex' (use gt, gte, icontains, in, isnull, lt, lte)"),
        ("expected_revenue__gte=lots", "expected_revenue__gte: “lots” value must be a decimal number."),
    ],
)
def test_a_bad_filter_is_refused_with_the_reason(target_filter: str, error: str) -> None:
    mailing = campaign(target_model=ContentType.objects.get_for_model(Lead), target_filter=target_filter)
    with pytest.raises(TargetFilterError) as caught:
        target_queryset(mailing)
    assert caught.value.errors == [error]


def test_filters_with_in_and_comparisons() -> None:
    LeadFactory(stage=Lead.Stage.WON, expected_revenue=5000)
    LeadFactory(stage=Lead.Stage.LOST, expected_revenue=9000)
    LeadFactory(stage=Lead.Stage.WON, expected_revenue=100)
    leads = ContentType.objects.get_for_model(Lead)
    mailing = campaign(target_model=leads, target_filter="stage__in=won,lost&expected_revenue__gte=1000")
    assert target_queryset(mailing).count() == 2
    mailing.target_model = ContentType.objects.get_for_model(Ticket)
    mailing.target_filter = ""
    assert target_queryset(mailing).count() == 0
