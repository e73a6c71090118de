"""Campaigns before they are sent: checked, queued, scheduled, cancelled, duplicated; their pages."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from mailcore.models import Partner
from marketing.exceptions import MailingNotReady
from marketing.models import Mailing, MailingState, MailingTrace, ScheduleType, TraceFailure, TraceStatus
from marketing.selectors import mailing_statistics
from marketing.services import (
    mailing_cancel,
    mailing_duplicate,
    mailing_errors,
    mailing_list_create,
    mailing_list_subscribe,
    mailing_put_in_queue,
)
from marketing.tests.test_lists import marketer

pytestmark = pytest.mark.django_db


def ready_campaign(**fields: object) -> Mailing:
    news = mailing_list_create(name=f"List {Mailing.objects.count()}")
    mailing_list_subscribe(mailing_list=news, contacts=[Partner.objects.create(name="Zoe", email="zoe@example.com")])
    values = {"subject": "Spring offers", "email_from": "news@example.com", "body_html": "<p>Hi {{ contact.name }}</p>"}
    mailing = Mailing.objects.create(**{**values, **fields})
    mailing.mailing_lists.set([news])
    return mailing


def test_every_reason_not_to_send_is_found_before_sending() -> None:
    mailing = Mailing.objects.create(subject="Hi {{ contact.surname }}", email_from="nobody", body_html="{{ x }}")
    assert mailing_errors(mailing) == [
        "The From address 'nobody' is not a valid e-mail address.",
        "In the subject, {{ contact.surname }}: contact has no field 'surname': use name, first_name, email",
        'In the body, {{ x }}: write {{ contact.name }} or {{ contact.name|default:"friend" }}',
        "Choose at least one mailing list, or a model and a filter.",
    ]
    with pytest.raises(MailingNotReady):
        mailing_put_in_queue(mailing=mailing)
    assert Mailing.objects.get().state == MailingState.DRAFT


def test_send_now_schedule_and_cancel_move_the_state_once() -> None:
    mailing = ready_campaign()
    mailing_put_in_queue(mailing=mailing)
    assert (mailing.state, mailing.schedule_type, mailing.schedule_date) == (
        MailingState.IN_QUEUE,
        ScheduleType.NOW,
        None,
    )
    with pytest.raises(MailingNotReady, match=r"Only a draft can be sent; this campaign is In Queue\."):
        mailing_put_in_queue(mailing=mailing)

    assert mailing_cancel(mailing=mailing) is True
    assert mailing.state == MailingState.DRAFT
    assert mailing_cancel(mailing=mailing) is False  # a draft has nothing to cancel

    when = timezone.now() + dt.timedelta(days=2)
    mailing_put_in_queue(mailing=mailing, when=when)
    assert (mailing.state, mailing.schedule_type, mailing.schedule_date) == (
        MailingState.IN_QUEUE,
        ScheduleType.SCHEDULED,
        when,
    )


def test_duplicate_is_a_draft_with_the_same_content_and_lists() -> None:
    mailing = ready_campaign()
    mailing_put_in_queue(mailing=mailing)
    copy = mailing_duplicate(mailing=mailing)
    assert copy.state == MailingState.DRAFT and copy.pk != mailing.pk
    assert (copy.subject, copy.body_html) == (mailing.subject, mailing.body_html)
    assert list(copy.mailing_lists.all()) == list(mailing.mailing_lists.all())


def test_statistics_follow_odoos_formulas() -> None:
    mailing = ready_campaign()
    now = timezone.now()
    rows = [
        (TraceStatus.SENT, "", now, None),
        (TraceStatus.OPEN, "", now, now),
        (TraceStatus.REPLY, "", now, None),
        (TraceStatus.BOUNCE, TraceFailure.MAIL_BOUNCE, now, None),
        (TraceStatus.ERROR, TraceFailure.MAIL_SMTP, None, None),
        (TraceStatus.CANCEL, TraceFailure.MAIL_BL, None, None),
        (TraceStatus.CANCEL, TraceFailure.MAIL_OPTOUT, None, None),
        (TraceStatus.OUTGOING, "", None, None),
    ]
    MailingTrace.objects.bulk_create(
        MailingTrace(
            mailing=mailing,
            email=f"{i}@example.com",
            trace_status=s,
            failure_type=f,
            sent_datetime=sent,
            links_click_datetime=click,
        )
        for i, (s, f, sent, click) in enumerate(rows)
    )
    stats = mailing_statistics(mailing)
    assert (stats.expected, stats.canceled, stats.sent, stats.delivered, stats.opened, stats.replied) == (
        8,
        2,
        4,
        3,
        2,
        1,
    )
    assert (stats.bounced, stats.failed, stats.clicked, stats.scheduled) == (1, 1, 1, 1)
    assert stats.received_ratio == 50.0  # 3 delivered of 8 - 2 cancelled
    assert stats.opened_ratio == 50.0  # 2 opened of 6 - 1 bounced - 1 failed
    assert stats.bounced_ratio == round(100 / 6, 2)
    assert stats.excluded == {"mail_bl": 1, "mail_optout": 1}


def test_campaign_page_shows_its_progress_once_it_has_recipients() -> None:
    client = marketer()
    draft = ready_campaign()
    page = client.get(reverse("marketing:mailing_detail", args=[draft.pk])).content.decode()
    assert 'id="mailing-progress"' not in page  # nobody to mail yet
    sending = ready_campaign(state=MailingState.SENDING)
    statuses = [TraceStatus.OUTGOING] * 3 + [TraceStatus.SENT]
    MailingTrace.objects.bulk_create(
        MailingTrace(mailing=sending, email=f"{i}@example.com", trace_status=s) for i, s in enumerate(statuses)
    )
    page = client.get(reverse("marketing:mailing_detail", args=[sending.pk])).content.decode()
    assert '<progress class="progress" max="100" value="25"' in page  # 1 of 4 no longer waiting
    assert "25% · 3 waiting of 4" in page


def test_campaign_pages_create_check_send_and_list_recipients() -> None:
    client = marketer()
    news = mailing_list_create(name="Newsletter")
    mailing_list_subscribe(
        mailing_list=news,
        contacts=[
            Partner.objects.create(name="Zoe", email="zoe@example.com"),
            Partner.objects.create(name="Black", email="black@example.com", is_blacklisted=True),
        ],
    )
    data = {
        "subject": "Spring offers",
        "email_from": "news@example.com",
        "reply_to_mode": "new",
        "mailing_lists": [news.pk],
        "body_html": "<p>Hello {{ contact.nickname }}</p>",
        "track_opens": "on",
    }
    page = client.post(reverse("marketing:mailing_create"), data, follow=True).content.decode()
    mailing = Mailing.objects.get()
    assert "Not ready to send" in page and "contact has no field &#x27;nickname&#x27;" in page

    data["body_html"] = "<p>Hello {{ contact.name }}</p>"
    page = client.post(reverse("marketing:mailing_edit", args=[mailing.pk]), data, follow=True).content.decode()
    assert "<strong>1</strong> will be mailed" in page and "1 blacklisted" in page

    action = reverse("marketing:mailing_action", args=[mailing.pk])
    page = client.post(action, {"action": "send"}, follow=True).content.decode()
    assert "The campaign is in the queue." in page
    assert Mailing.objects.get().state == MailingState.IN_QUEUE
    assert client.get(reverse("marketing:mailing_edit", args=[mailing.pk])).status_code == 302  # not a draft
    assert client.post(action, {"action": "explode"}).status_code == 400

    traces = reverse("marketing:mailing_traces", args=[mailing.pk])
    assert client.get(traces, {"status": "delivered"}).status_code == 200
    assert client.get(traces, {"status": "nonsense"}).status_code == 400
    assert client.get(traces, {"failure": "nonsense"}).status_code == 400
    assert "Spring offers" in client.get(reverse("marketing:mailings")).content.decode()


def test_api_create_check_send_cancel_and_statistics() -> None:
    from django.contrib.auth.models import Permission

    from tests.api_helpers import client_for, make_user

    user = make_user("api-campaigns")
    user.user_permissions.add(Permission.objects.get(codename="change_mailinglist"))
    api = client_for(user)
    news = mailing_list_create(name="Newsletter")
    mailing_list_subscribe(mailing_list=news, contacts=[Partner.objects.create(name="Zoe", email="zoe@example.com")])

    created = api.post(
        "/api/marketing/campaigns/",
        {"subject": "Hi {{ contact.nick }}", "email_from": "news@example.com", "mailing_lists": [news.pk]},
        format="json",
    )
    assert created.status_code == 201
    campaign_id = created.json()["id"]
    assert created.json()["problems"] == [
        "In the subject, {{ contact.nick }}: contact has no field 'nick': use name, first_name, email"
    ]
    refused = api.post(f"/api/marketing/campaigns/{campaign_id}/send/", {}, format="json")
    assert refused.status_code == 400 and refused.json()["errors"] == created.json()["problems"]

    assert (
        api.patch(
            f"/api/marketing/campaigns/{campaign_id}/", {"subject": "Hi {{ contact.name }}"}, format="json"
        ).status_code
        == 200
    )
    sent = api.post(
        f"/api/marketing/campaigns/{campaign_id}/send/", {"schedule_date": "2030-01-02T09:00:00Z"}, format="json"
    )
    assert (
        sent.status_code == 200 and sent.json()["state"] == "in_queue" and sent.json()["schedule_type"] == "scheduled"
    )
    locked = api.patch(f"/api/marketing/campaigns/{campaign_id}/", {"subject": "Other"}, format="json")
    assert locked.status_code == 400

    assert api.post(f"/api/marketing/campaigns/{campaign_id}/cancel/").json()["state"] == "draft"
    assert api.post(f"/api/marketing/campaigns/{campaign_id}/cancel/").status_code == 409
    copy = api.post(f"/api/marketing/campaigns/{campaign_id}/duplicate/")
    assert copy.status_code == 201 and copy.json()["mailing_lists"] == [news.pk]
    stats = api.get(f"/api/marketing/campaigns/{campaign_id}/statistics/").json()
    assert stats["expected"] == 0 and stats["received_ratio"] == 0.0 and stats["excluded"] == {}
