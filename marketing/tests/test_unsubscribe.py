"""Unsubscribe links: signed, a confirmation before acting, RFC 8058 one-click, preferences."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from mailcore.models import Partner
from marketing.models import MailingSubscription
from marketing.services import mailing_list_create, mailing_list_subscribe
from marketing.unsubscribe import list_unsubscribe_headers, unsubscribe_read, unsubscribe_token, unsubscribe_urls

pytestmark = pytest.mark.django_db


@pytest.fixture
def member() -> tuple[Partner, int, int]:
    news, offers = mailing_list_create(name="Newsletter"), mailing_list_create(name="Offers")
    zoe = Partner.objects.create(name="Zoe", email="Zoe@Example.com")
    mailing_list_subscribe(mailing_list=news, contacts=[zoe])
    mailing_list_subscribe(mailing_list=offers, contacts=[zoe])
    return zoe, news.pk, offers.pk


def opted_out(list_id: int) -> bool:
    return MailingSubscription.objects.get(mailing_list_id=list_id).opt_out


def test_a_token_names_the_normalised_address_and_lists() -> None:
    target = unsubscribe_read(unsubscribe_token(email="Zoe <ZOE@example.com>", list_ids=[3, 1, 3]))
    assert target is not None and (target.email, target.list_ids) == ("zoe@example.com", (1, 3))
    with pytest.raises(ValueError):
        unsubscribe_token(email="nobody")


@given(position=st.integers(min_value=0, max_value=200), char=st.sampled_from("AZaz09-_:."))
def test_any_change_to_a_token_is_refused(position: int, char: str) -> None:
    token = unsubscribe_token(email="zoe@example.com", list_ids=[1, 2])
    position %= len(token)
    forged = token[:position] + char + token[position + 1 :]
    if forged != token:
        assert unsubscribe_read(forged) is None


def test_get_only_asks_and_post_unsubscribes_from_the_mailing_lists(member: tuple[Partner, int, int]) -> None:
    _zoe, news, offers = member
    url = reverse("mailing:unsubscribe", args=[unsubscribe_token(email="zoe@example.com", list_ids=[news])])
    client = Client(enforce_csrf_checks=True)

    page = client.get(url)  # what a link scanner does: nothing changes
    assert page.status_code == 200 and "Stop sending <strong>Newsletter</strong>" in page.content.decode()
    assert not opted_out(news)

    form = client.get(url)
    token = form.cookies["csrftoken"].value
    done = client.post(url, {"csrfmiddlewaretoken": token}).content.decode()
    assert "You are unsubscribed" in done and "will no longer receive Newsletter" in done
    assert opted_out(news) and not opted_out(offers)


def test_one_click_post_needs_no_session_nor_csrf_token(member: tuple[Partner, int, int]) -> None:
    _zoe, news, offers = member
    url = reverse("mailing:unsubscribe_one_click", args=[unsubscribe_token(email="zoe@example.com", list_ids=[news])])
    client = Client(enforce_csrf_checks=True)
    assert client.get(url).status_code == 405  # only the POST of RFC 8058 acts
    response = client.post(url, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert opted_out(news) and not opted_out(offers)


def test_a_mailing_not_sent_to_lists_blacklists_the_address(member: tuple[Partner, int, int]) -> None:
    zoe, _news, _offers = member
    url = reverse("mailing:unsubscribe_one_click", args=[unsubscribe_token(email="zoe@example.com")])
    assert Client().post(url).status_code == 200
    zoe.refresh_from_db()
    assert zoe.is_blacklisted
    stranger = reverse("mailing:unsubscribe_one_click", args=[unsubscribe_token(email="new@example.com")])
    Client().post(stranger)
    assert Partner.objects.get(email_normalized="new@example.com").is_blacklisted


def test_a_bad_token_is_404_with_a_plain_sentence() -> None:
    for name in ("mailing:unsubscribe", "mailing:preferences"):
        response = Client().get(reverse(name, args=["not-a-token"]))
        assert response.status_code == 404
    assert Client().post(reverse("mailing:unsubscribe_one_click", args=["x"])).status_code == 404


def test_preferences_show_own_and_public_lists_and_save_choices(member: tuple[Partner, int, int]) -> None:
    _zoe, news, offers = member
    private = mailing_list_create(name="Board members", is_public=False)
    public = mailing_list_create(name="Events")
    url = reverse("mailing:preferences", args=[unsubscribe_token(email="zoe@example.com")])
    page = Client().get(url).content.decode()
    assert "Newsletter" in page and "Offers" in page and "Events" in page
    assert "Board members" not in page

    Client().post(url, {"lists": [str(offers), str(public.pk), str(private.pk)]})

    assert opted_out(news) and not opted_out(offers)
    joined = MailingSubscription.objects.filter(mailing_list=public, contact__email_normalized="zoe@example.com")
    assert joined.exists()
    assert not MailingSubscription.objects.filter(mailing_list=private).exists()  # private lists cannot be joined

    Client().post(url, {"action": "blacklist"})
    assert "receives no e-mail from us at all" in Client().get(url).content.decode()


def test_list_unsubscribe_headers_point_at_the_one_click_url() -> None:
    urls = unsubscribe_urls(base_url="https://crm.example.com/", email="zoe@example.com", list_ids=[4])
    headers = list_unsubscribe_headers(urls)
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = headers["List-Unsubscribe"].strip("<>")
    assert url.startswith("https://crm.example.com/mailing/unsubscribe/") and url.endswith("/one-click/")
    token = url.removeprefix("https://crm.example.com/mailing/unsubscribe/").removesuffix("/one-click/")
    target = unsubscribe_read(token)
    assert target is not None and target.list_ids == (4,)


def test_preferences_ignore_list_ids_that_are_not_ascii_numbers(member: tuple[Partner, int, int]) -> None:
    _zoe, news, offers = member
    url = reverse("mailing:preferences", args=[unsubscribe_token(email="zoe@example.com")])
    assert Client().post(url, {"lists": ["²", str(offers)]}).status_code == 200
    assert opted_out(news) and not opted_out(offers)
