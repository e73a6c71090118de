"""JSON API: following and unfollowing records, followers and their subtypes."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chatter import services
from chatter.models import Follower
from demo.models import Lead, Quotation, Ticket
from mailcore.models import Partner
from tests.api_helpers import client_for, make_partner, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice() -> Any:
    return make_user("alice")


@pytest.fixture
def lead() -> Lead:
    return Lead.objects.create(name="Big deal")


def _codes(follower: dict[str, Any]) -> set[str]:
    return {s["code"] for s in follower["subtypes"]}


def test_anonymous_cannot_follow_or_list(lead: Lead) -> None:
    follower = services.message_subscribe(record=lead, partners=[make_partner()])[0]
    client = client_for(None)
    assert client.post(f"/api/leads/{lead.pk}/follow/", {}, format="json").status_code in (401, 403)
    assert client.post(f"/api/leads/{lead.pk}/unfollow/", {}, format="json").status_code in (401, 403)
    assert client.get(f"/api/leads/{lead.pk}/followers/").status_code in (401, 403)
    response = client.put(f"/api/leads/{lead.pk}/followers/{follower.pk}/", {"subtypes": []}, format="json")
    assert response.status_code in (401, 403)
    assert Follower.objects.count() == 1
    assert follower.subtypes.exists()


def test_follow_and_unfollow_as_the_caller(alice: Any, lead: Lead) -> None:
    client = client_for(alice)
    me = Partner.objects.get(user=alice)
    response = client.post(f"/api/leads/{lead.pk}/follow/", {}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["partner"]["id"] == me.pk
    # New followers get the default subtypes of the model: Discussions, Activities, Opportunity Won.
    assert _codes(body) == {"mt_comment", "mt_activities", "demo.mt_lead_won"}
    # Following twice changes nothing.
    assert client.post(f"/api/leads/{lead.pk}/follow/", {}, format="json").json() == body

    response = client.post(f"/api/leads/{lead.pk}/unfollow/", {}, format="json")
    assert response.json() == {"removed": 1}
    assert not lead.message_follower_ids.exists()
    assert client.post(f"/api/leads/{lead.pk}/unfollow/", {}, format="json").json() == {"removed": 0}


def test_follow_another_contact_even_without_email_and_with_subtypes(alice: Any, lead: Lead) -> None:
    client = client_for(alice)
    no_mail = make_partner("No Mail", email="")
    response = client.post(
        f"/api/leads/{lead.pk}/follow/",
        {"partner_id": no_mail.pk, "subtypes": ["mt_note", "demo.mt_lead_stage"]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["partner"] == {"id": no_mail.pk, "name": "No Mail", "email": ""}
    assert _codes(response.json()) == {"mt_note", "demo.mt_lead_stage"}
    assert client.post(f"/api/leads/{lead.pk}/unfollow/", {"partner_id": no_mail.pk}, format="json").json() == {
        "removed": 1
    }


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({"subtypes": ["mt_nope"]}, {"subtypes": {"0": ["Unknown subtype 'mt_nope'."]}}),
        (
            {"subtypes": ["demo.mt_ticket_solved"]},
            {"subtypes": ["Subtype 'demo.mt_ticket_solved' does not apply to this model."]},
        ),
        ({"subtypes": "mt_comment"}, {"subtypes": ['Expected a list of items but got type "str".']}),
        ({"partner_id": 999999}, {"partner_id": ["Unknown contact id 999999."]}),
    ],
)
def test_follow_bad_input(alice: Any, lead: Lead, payload: dict[str, Any], errors: dict[str, Any]) -> None:
    response = client_for(alice).post(f"/api/leads/{lead.pk}/follow/", payload, format="json")
    assert response.status_code == 400
    assert response.json() == errors
    assert not Follower.objects.exists()


def test_followers_list_and_subtype_update(alice: Any, lead: Lead) -> None:
    bob, carol = make_partner("Bob"), make_partner("Carol")
    services.message_subscribe(record=lead, partners=[bob])
    services.message_subscribe(record=lead, partners=[carol], subtype_codes=["mt_comment"])
    client = client_for(alice)
    followers = client.get(f"/api/leads/{lead.pk}/followers/").json()["results"]
    assert [(f["partner"]["name"], _codes(f)) for f in followers] == [
        ("Bob", {"mt_comment", "mt_activities", "demo.mt_lead_won"}),
        ("Carol", {"mt_comment"}),
    ]

    carol_id = followers[1]["id"]
    response = client.put(
        f"/api/leads/{lead.pk}/followers/{carol_id}/", {"subtypes": ["mt_note", "demo.mt_lead_stage"]}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert _codes(response.json()) == {"mt_note", "demo.mt_lead_stage"}
    assert set(Follower.objects.get(pk=carol_id).subtypes.values_list("code", flat=True)) == {
        "mt_note",
        "demo.mt_lead_stage",
    }
    # Unchecking everything is allowed (the follower stays, notified of nothing).
    assert (
        _codes(client.put(f"/api/leads/{lead.pk}/followers/{carol_id}/", {"subtypes": []}, format="json").json())
        == set()
    )

    bad = client.put(f"/api/leads/{lead.pk}/followers/{carol_id}/", {"subtypes": ["mt_unknown"]}, format="json")
    assert bad.status_code == 400
    assert bad.json() == {"subtypes": {"0": ["Unknown subtype 'mt_unknown'."]}}
    assert client.put(f"/api/leads/{lead.pk}/followers/{carol_id}/", {}, format="json").json() == {
        "subtypes": ["This field is required."]
    }


def test_a_follower_of_another_record_is_not_found(alice: Any, lead: Lead) -> None:
    other = Lead.objects.create(name="Other")
    follower = services.message_subscribe(record=other, partners=[make_partner()])[0]
    response = client_for(alice).put(f"/api/leads/{lead.pk}/followers/{follower.pk}/", {"subtypes": []}, format="json")
    assert response.status_code == 404
    assert follower.subtypes.exists()


def test_subtypes_offered_per_model(alice: Any) -> None:
    client = client_for(alice)
    leads = {s["code"] for s in client.get("/api/leads/subtypes/").json()}
    quotations = {s["code"] for s in client.get("/api/quotations/subtypes/").json()}
    assert {"mt_comment", "mt_note", "demo.mt_lead_stage", "demo.mt_lead_won"} <= leads
    assert "demo.mt_order_confirmed" not in leads
    assert "demo.mt_order_confirmed" in quotations


def test_followers_query_count_does_not_grow(alice: Any, django_assert_max_num_queries: Any) -> None:
    ticket = Ticket.objects.create(name="T")
    services.message_subscribe(record=ticket, partners=[make_partner() for _ in range(2)])
    client = client_for(alice)
    with CaptureQueriesContext(connection) as few:
        client.get(f"/api/tickets/{ticket.pk}/followers/")
    services.message_subscribe(record=ticket, partners=[make_partner() for _ in range(40)])
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(f"/api/tickets/{ticket.pk}/followers/")
    assert response.json()["count"] == 42


def test_followers_are_per_record_type(alice: Any) -> None:
    quotation = Quotation.objects.create(name="S1")
    lead = Lead.objects.create(pk=quotation.pk, name="Same id")
    client = client_for(alice)
    client.post(f"/api/quotations/{quotation.pk}/follow/", {}, format="json")
    assert client.get(f"/api/quotations/{quotation.pk}/followers/").json()["count"] == 1
    assert client.get(f"/api/leads/{lead.pk}/followers/").json()["count"] == 0
