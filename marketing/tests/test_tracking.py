"""Opens and clicks: signed, counted once per recipient, never an open redirect."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from marketing.models import Mailing, MailingTrace, TraceStatus
from marketing.tracking import click_token, open_pixel, open_token, track_links

pytestmark = pytest.mark.django_db


@pytest.fixture
def trace() -> MailingTrace:
    mailing = Mailing.objects.create(subject="Offers", email_from="news@example.com")
    return MailingTrace.objects.create(mailing=mailing, email="zoe@example.com", trace_status=TraceStatus.SENT)


def test_links_are_rewritten_except_the_ones_to_keep(trace: MailingTrace) -> None:
    body = (
        '<p><a href="https://shop.example.com/spring?x=1&amp;y=2">Offers</a> '
        "<a class='btn' href='http://example.org/a'>A</a> <a href=\"mailto:sales@example.com\">Mail us</a> "
        '<a href="https://crm.example.com/mailing/unsubscribe/tok/">Unsubscribe</a></p>'
    )
    tracked = track_links(
        body,
        trace_id=trace.pk,
        base_url="https://crm.example.com/",
        keep=("https://crm.example.com/mailing/unsubscribe/tok/",),
    )
    assert tracked.count("https://crm.example.com/mailing/t/c/") == 2
    assert 'href="mailto:sales@example.com"' in tracked
    assert 'href="https://crm.example.com/mailing/unsubscribe/tok/"' in tracked
    assert "class='btn' href='https://crm.example.com/mailing/t/c/" in tracked


def test_a_click_redirects_to_the_signed_url_and_counts_once(trace: MailingTrace) -> None:
    url = reverse("mailing:track_click", args=[click_token(trace.pk, "https://shop.example.com/spring?x=1&y=2")])
    first = Client().get(url)
    assert first.status_code == 302 and first["Location"] == "https://shop.example.com/spring?x=1&y=2"
    trace.refresh_from_db()
    clicked_at = trace.links_click_datetime
    assert trace.trace_status == TraceStatus.OPEN and clicked_at is not None  # a click proves an open
    Client().get(url)
    trace.refresh_from_db()
    assert trace.links_click_datetime == clicked_at


def test_a_forged_or_foreign_link_is_never_followed(trace: MailingTrace) -> None:
    good = click_token(trace.pk, "https://shop.example.com/")
    forged = good.replace("shop", "evil") if "shop" in good else good[:-2] + "xx"
    assert Client().get(reverse("mailing:track_click", args=[forged])).status_code == 404
    assert Client().get("/mailing/t/c/https:evil.example/").status_code == 404
    other_kind = open_token(trace.pk)  # a token made for another purpose does not open the door
    assert Client().get(reverse("mailing:track_click", args=[other_kind])).status_code == 404


def test_the_pixel_counts_the_first_open_of_a_delivered_mail_only(trace: MailingTrace) -> None:
    html = open_pixel(trace_id=trace.pk, base_url="https://crm.example.com")
    path = html.split('src="https://crm.example.com')[1].split('"')[0]
    response = Client().get(path)
    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    assert response["Cache-Control"] == "no-store"
    trace.refresh_from_db()
    opened_at = trace.open_datetime
    assert trace.trace_status == TraceStatus.OPEN and opened_at is not None
    Client().get(path)
    trace.refresh_from_db()
    assert trace.open_datetime == opened_at

    trace.trace_status = TraceStatus.REPLY
    trace.save()
    Client().get(path)
    trace.refresh_from_db()
    assert trace.trace_status == TraceStatus.REPLY  # a reply is more than an open
    assert (
        Client().get(reverse("mailing:track_open", args=["1:forged"])).status_code == 200
    )  # the image, nothing counted
