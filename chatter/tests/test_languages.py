"""A user's language and time zone: chosen in Preferences, applied to every page; before login the
browser's Accept-Language or the login page's switch decides."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import path, reverse
from django.utils import timezone

from chatter.ui_services import partner_for_user
from mailcore.models import Partner

pytestmark = pytest.mark.django_db


def _login(username: str) -> tuple[Client, Partner]:
    user = get_user_model().objects.create_user(username, email=f"{username}@example.com", password="pw")
    client = Client()
    client.force_login(user)
    return client, partner_for_user(user)


def test_login_page_follows_the_browser_then_the_switch() -> None:
    client = Client()
    page = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="ja,en;q=0.5")
    assert '<html lang="ja">' in page.content.decode() and "ログイン" in page.content.decode()
    assert page["Content-Language"] == "ja"
    switched = client.post(reverse("set_language"), {"language": "ro", "next": reverse("login")})
    assert switched.status_code == 302
    page = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="ja,en;q=0.5")
    assert '<html lang="ro">' in page.content.decode() and "Autentificare" in page.content.decode()


def test_preferences_language_and_time_zone_apply_to_every_page() -> None:
    client, partner = _login("yuki")
    response = client.post(
        reverse("chatter:preferences"),
        {"notification_type": "email", "email": "yuki@example.com", "lang": "ja", "tz": "Asia/Tokyo"},
    )
    assert response.status_code == 302
    partner.refresh_from_db()
    assert (partner.lang, partner.tz) == ("ja", "Asia/Tokyo")
    page = client.get(reverse("chatter:preferences"), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert '<html lang="ja">' in page and "設定" in page and "タイムゾーン" in page
    assert '<option value="Asia/Tokyo" selected>' in page


def _probe(request: HttpRequest) -> HttpResponse:
    """A view that answers with noon UTC on 1 January 2026 in the request's time zone."""
    return HttpResponse(timezone.localtime(dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)).isoformat())


urlpatterns = [path("probe/", _probe)]


@override_settings(ROOT_URLCONF=__name__)
def test_time_zone_is_active_during_the_request() -> None:
    client, partner = _login("ana")
    partner.tz = "Europe/Bucharest"
    partner.save(update_fields=["tz"])
    assert client.get("/probe/").content == b"2026-01-01T14:00:00+02:00"
    assert str(timezone.get_current_timezone()) == "UTC"  # not leaked to the next request of this thread


def test_bad_language_or_time_zone_is_refused_and_changes_nothing() -> None:
    client, partner = _login("pat")
    for field, value, error in [
        ("lang", "de", "Choose one of the languages in the list."),
        ("tz", "Mars/Olympus", "Choose one of the time zones in the list."),
    ]:
        data = {"notification_type": "email", "email": "pat@example.com", field: value}
        response = client.post(reverse("chatter:preferences"), data)
        assert response.status_code == 400 and error in response.content.decode()
    partner.refresh_from_db()
    assert (partner.lang, partner.tz) == ("en", "")


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("en", "December 4 18:05"), ("fr", "4 décembre 18:05"), ("ja", "12月4日 18:05"), ("ro", "4 Decembrie 18:05")],
)
def test_short_moments_follow_the_languages_order(lang: str, expected: str) -> None:
    from django.utils import translation

    from chatter.templatetags.chatter_ui import short_when

    moment = dt.datetime(2026, 12, 4, 18, 5, 9, tzinfo=dt.UTC)
    with translation.override(lang), timezone.override("UTC"):
        assert short_when(moment) == expected
        assert short_when(moment, "seconds") == f"{expected}:09"


def test_a_moment_labelled_with_a_zone_is_in_that_zone() -> None:
    from chatter.templatetags.chatter_ui import short_when

    moment = dt.datetime(2026, 12, 4, 18, 5, 9, tzinfo=dt.UTC)
    with timezone.override("Asia/Tokyo"):
        assert short_when(moment, "seconds zone") == "December 5 03:05:09 JST"
    with timezone.override("UTC"):
        assert short_when(moment, "zone") == "December 4 18:05 UTC"
