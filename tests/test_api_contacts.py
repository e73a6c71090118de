"""JSON API: contacts (mailcore.Partner)."""

from __future__ import annotations

import base64

import pytest

from mailcore.models import Partner
from tests.api_helpers import client_for, make_partner, make_user

pytestmark = pytest.mark.django_db


def test_anonymous_cannot_list_or_create_contacts() -> None:
    client = client_for(None)
    response = client.get("/api/contacts/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Basic realm="api"'
    response = client.post("/api/contacts/", {"name": "Eve", "email": "eve@example.com"}, format="json")
    assert response.status_code in (401, 403)
    assert not Partner.objects.filter(name="Eve").exists()


def test_basic_auth_is_accepted() -> None:
    make_user("alice")
    client = client_for(None)

    token = base64.b64encode(b"alice:pw").decode()
    assert client.get("/api/contacts/", HTTP_AUTHORIZATION=f"Basic {token}").status_code == 200
    wrong = base64.b64encode(b"alice:nope").decode()
    response = client.get("/api/contacts/", HTTP_AUTHORIZATION=f"Basic {wrong}")
    # 401 with the Basic challenge (RFC 7235), not 403: the client may try other credentials.
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Basic realm="api"'
    assert response.json() == {"detail": "Invalid username/password."}


def test_list_search_and_archived_filter() -> None:
    client = client_for(make_user("alice"))
    make_partner("Bob Builder", "bob@builder.test")
    make_partner("Carol", "carol@example.com", active=False)
    response = client.get("/api/contacts/", {"search": "builder"})
    assert response.status_code == 200
    assert [c["name"] for c in response.json()["results"]] == ["Bob Builder"]
    archived = client.get("/api/contacts/", {"active": "false"}).json()["results"]
    assert [c["name"] for c in archived] == ["Carol"]
    assert client.get("/api/contacts/", {"active": "maybe"}).status_code == 400


def test_create_retrieve_and_update_a_contact() -> None:
    client = client_for(make_user("alice"))
    response = client.post("/api/contacts/", {"name": "Dan", "email": "Dan <DAN@Example.COM>"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["email_normalized"] == "dan@example.com"
    assert body["message_bounce"] == 0
    contact_id = body["id"]

    assert client.get(f"/api/contacts/{contact_id}/").json()["name"] == "Dan"
    response = client.patch(f"/api/contacts/{contact_id}/", {"email": "dan@new.example"}, format="json")
    assert response.status_code == 200
    assert Partner.objects.get(pk=contact_id).email_normalized == "dan@new.example"
    # Read-only fields are not writable through the API.
    client.patch(f"/api/contacts/{contact_id}/", {"message_bounce": 9, "email_normalized": "x@y.z"}, format="json")
    partner = Partner.objects.get(pk=contact_id)
    assert (partner.message_bounce, partner.email_normalized) == (0, "dan@new.example")
    # Contacts are archived, never deleted: messages and notifications point at them.
    assert client.delete(f"/api/contacts/{contact_id}/").status_code == 405


def test_a_contact_without_email_is_accepted() -> None:
    client = client_for(make_user("alice"))
    response = client.post("/api/contacts/", {"name": "No Mail"}, format="json")
    assert response.status_code == 201
    assert response.json()["email"] == ""


@pytest.mark.parametrize("email", ["not-an-address", "a@b@c", "two words@example.com", "x@"])
def test_invalid_email_is_refused_with_odoo_wording(email: str) -> None:
    client = client_for(make_user("alice"))
    response = client.post("/api/contacts/", {"name": "Bad", "email": email}, format="json")
    assert response.status_code == 400
    assert response.json() == {"email": [f"Invalid email address: {email!r}."]}
    assert not Partner.objects.filter(name="Bad").exists()

    partner = make_partner("Good")
    response = client.patch(f"/api/contacts/{partner.pk}/", {"email": email}, format="json")
    assert response.status_code == 400
    partner.refresh_from_db()
    assert partner.email == "good@example.com"
