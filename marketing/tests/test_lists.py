"""Mailing lists, their members and counters, through the services, the pages and the API."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from mailcore.models import Partner
from marketing.models import MailingList, MailingSubscription
from marketing.selectors import list_counts, mailing_lists_with_counts
from marketing.services import mailing_list_create, mailing_list_subscribe, subscription_set_opt_out
from tests.api_helpers import client_for, make_user

pytestmark = pytest.mark.django_db


def marketer(username: str = "marketer") -> Client:
    user = make_user(username)
    user.user_permissions.add(Permission.objects.get(codename="change_mailinglist"))
    client = Client()
    client.force_login(user)
    return client


def test_counters_follow_opt_out_blacklist_bounces_and_missing_addresses() -> None:
    news = mailing_list_create(name="Newsletter")
    ok = Partner.objects.create(name="Ok", email="ok@example.com")
    out = Partner.objects.create(name="Out", email="out@example.com")
    black = Partner.objects.create(name="Black", email="black@example.com", is_blacklisted=True)
    bounced = Partner.objects.create(name="Bounced", email="bounced@example.com", message_bounce=2)
    nobody = Partner.objects.create(name="No address", email="")
    assert mailing_list_subscribe(mailing_list=news, contacts=[ok, out, black, bounced, nobody]).added == 5
    subscription_set_opt_out(subscription=MailingSubscription.objects.get(contact=out), opt_out=True)

    counts = list_counts(mailing_lists_with_counts().get(pk=news.pk))

    assert (counts.contacts, counts.reachable, counts.opted_out, counts.blacklisted, counts.bounced) == (5, 2, 1, 1, 1)
    assert counts.opted_out_pct == 20.0


def test_adding_again_keeps_an_opt_out_and_the_date_is_recorded_once() -> None:
    news = mailing_list_create(name="Newsletter")
    contact = Partner.objects.create(name="Zoe", email="zoe@example.com")
    mailing_list_subscribe(mailing_list=news, contacts=[contact])
    subscription = MailingSubscription.objects.get()
    assert subscription_set_opt_out(subscription=subscription, opt_out=True) is True
    first_date = subscription.opt_out_datetime
    assert subscription_set_opt_out(subscription=subscription, opt_out=True) is False
    assert subscription.opt_out_datetime == first_date

    again = mailing_list_subscribe(mailing_list=news, contacts=[contact])

    assert (again.added, again.already, again.kept_opted_out) == (0, 0, 1)
    assert MailingSubscription.objects.get().opt_out is True
    assert subscription_set_opt_out(subscription=subscription, opt_out=False) is True
    assert subscription.opt_out_datetime is None


def test_pages_need_the_marketing_permission() -> None:
    url = reverse("marketing:lists")
    assert Client().get(url).status_code == 302  # to the login page
    plain = Client()
    plain.force_login(make_user("plain"))
    assert plain.get(url).status_code == 403
    assert marketer().get(url).status_code == 200


def test_create_a_list_add_a_member_opt_out_and_remove_through_the_pages() -> None:
    client = marketer()
    response = client.post(reverse("marketing:lists"), {"name": "  Newsletter  ", "is_public": "on"}, follow=True)
    news = MailingList.objects.get()
    assert news.name == "Newsletter"
    assert "Mailing list “Newsletter” created." in response.content.decode()

    detail = reverse("marketing:list_detail", args=[news.pk])
    bad = client.post(detail, {"email": "not an address", "name": "X"})
    assert "Invalid email address: &#x27;not an address&#x27;." in bad.content.decode()
    page = client.post(detail, {"email": "Zoe@Example.com", "name": "Zoe"}, follow=True).content.decode()
    assert "added to “Newsletter”" in page and "zoe@example.com" in page

    subscription = MailingSubscription.objects.get()
    client.post(reverse("marketing:subscription_opt_out", args=[subscription.pk]), {"opt_out": "1"})
    assert MailingSubscription.objects.get().opt_out is True
    page = client.get(reverse("marketing:contact_subscriptions", args=[subscription.contact_id])).content.decode()
    assert "Opted out" in page and "Newsletter" in page
    client.post(reverse("marketing:subscription_remove", args=[subscription.pk]))
    assert not MailingSubscription.objects.exists()


def test_the_import_page_lists_every_bad_line_and_imports_a_good_file() -> None:
    news = mailing_list_create(name="Newsletter")
    client = marketer()
    url = reverse("marketing:import")
    bad = io.BytesIO(b"name,email,list\nA,a@example.com,Newsletter\nB,broken,Newsletter\n")
    bad.name = "contacts.csv"
    page = client.post(url, {"file": bad}).content.decode()
    assert "Nothing was imported: 1 line to correct" in page
    assert "<strong>Line 3</strong>: invalid e-mail address &#x27;broken&#x27;" in page
    assert not Partner.objects.filter(email_normalized="a@example.com").exists()

    good = io.BytesIO(b"name,email\nA,a@example.com\nB,b@example.com\n")
    good.name = "contacts.csv"
    page = client.post(url, {"file": good, "mailing_list": news.pk}, follow=True).content.decode()
    assert "Imported 2 lines: 2 new contacts, 0 already known; 2 added to Newsletter, 0 already there." in page
    assert news.subscriptions.count() == 2


def test_api_lists_members_and_import() -> None:
    user = make_user("api-marketer")
    assert client_for(user).get("/api/marketing/lists/").status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="change_mailinglist"))
    api = client_for(user)

    created = api.post("/api/marketing/lists/", {"name": "Newsletter"}, format="json")
    assert created.status_code == 201
    list_id = created.json()["id"]
    assert created.json()["counts"] == {"contacts": 0, "reachable": 0, "opted_out": 0, "blacklisted": 0, "bounced": 0}

    invalid = api.post(f"/api/marketing/lists/{list_id}/members/", {"email": "nope"}, format="json")
    assert invalid.status_code == 400 and invalid.json() == {"email": ["Invalid email address: 'nope'."]}
    added = api.post(f"/api/marketing/lists/{list_id}/members/", {"email": "a@example.com", "name": "A"}, format="json")
    assert added.status_code == 201 and added.json()["email"] == "a@example.com"
    again = api.post(f"/api/marketing/lists/{list_id}/members/", {"email": "A@example.com"}, format="json")
    assert again.status_code == 200

    refused = api.post(
        "/api/marketing/lists/import/",
        {"file": io.BytesIO(b"email,list\nb@example.com,Newsletter\nc@,Newsletter\n")},
        format="multipart",
    )
    assert refused.status_code == 400
    assert refused.json()["errors"] == [{"line": 3, "message": "invalid e-mail address 'c@'"}]
    imported = api.post(
        "/api/marketing/lists/import/",
        {"file": io.BytesIO(b"email\nb@example.com\n"), "mailing_list": list_id},
        format="multipart",
    )
    assert imported.status_code == 201 and imported.json()["subscriptions_added"] == 1
    members = api.get(f"/api/marketing/lists/{list_id}/members/").json()
    assert [m["email"] for m in members["results"]] == ["a@example.com", "b@example.com"]
    assert api.get(f"/api/marketing/lists/{list_id}/").json()["counts"]["reachable"] == 2
