"""The daily-limit forecast of a campaign: today's share, the day it finishes, servers of one's own."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from mailcore.models import MailServer, QuotaDay
from mailcore.quota import quota_window
from marketing.forecast import sending_forecast
from marketing.models import Mailing

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 3, 10, 0, tzinfo=dt.UTC)


def test_over_the_limit_it_says_how_many_today_and_the_day_it_finishes(settings: Any) -> None:
    settings.MAILCORE_DAILY_LIMIT = 50
    day, reset_at = quota_window(NOW)
    QuotaDay.objects.create(day=day, count=10)
    mailing = Mailing.objects.create(subject="Offers", email_from="news@example.com")

    forecast = sending_forecast(mailing, 230, now=NOW)

    assert forecast.limited and forecast.server == "the built-in server"
    assert (forecast.today, forecast.limit, forecast.used, forecast.reset_at) == (40, 50, 10, reset_at)
    assert forecast.days == 1 + 4  # 40 today, then 50 a day for the 190 left
    assert forecast.finish_day == day + dt.timedelta(days=4)


def test_within_the_limit_it_finishes_today(settings: Any) -> None:
    settings.MAILCORE_DAILY_LIMIT = 50
    forecast = sending_forecast(Mailing.objects.create(subject="x", email_from="news@example.com"), 20, now=NOW)
    assert (forecast.today, forecast.days, forecast.finish_day) == (20, 1, quota_window(NOW)[0])


def test_a_dedicated_server_has_no_daily_limit(settings: Any) -> None:
    settings.MAILCORE_DAILY_LIMIT = 50
    server = MailServer.objects.create(name="Campaign relay", smtp_host="smtp.relay.example.net", smtp_port=587)
    mailing = Mailing.objects.create(subject="x", email_from="news@example.com", mail_server=server)
    forecast = sending_forecast(mailing, 100_000, now=NOW)
    assert not forecast.limited and forecast.server == "Campaign relay" and forecast.today == 100_000


def test_the_campaign_page_says_it_before_sending(settings: Any) -> None:
    from django.urls import reverse

    from mailcore.models import Partner
    from marketing.services import mailing_list_create, mailing_list_subscribe
    from marketing.tests.test_lists import marketer

    settings.MAILCORE_DAILY_LIMIT = 2
    news = mailing_list_create(name="News")
    contacts = [Partner.objects.create(name=f"C{i}", email=f"c{i}@example.com") for i in range(5)]
    mailing_list_subscribe(mailing_list=news, contacts=contacts)
    mailing = Mailing.objects.create(subject="Offers", email_from="news@example.com", body_html="<p>Hi</p>")
    mailing.mailing_lists.set([news])

    page = marketer().get(reverse("marketing:mailing_detail", args=[mailing.pk])).content.decode()

    assert "whose daily limit is 2" in page
    assert "2 go out before the reset at 23:00 UTC" in page and "(3 days)" in page
    assert "An outgoing mail server of your own has no daily limit." in page
