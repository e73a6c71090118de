"""JSON API: malformed query parameters and bodies are 400s naming the parameter, never 500s; the
Basic authentication and request-rate throttles."""

from __future__ import annotations

import base64

import pytest
from rest_framework.test import APIClient

from demo.models import Lead
from tests.api_helpers import client_for, make_partner, make_user

pytestmark = pytest.mark.django_db
NUL_MESSAGE = "must not contain a NUL character (%00)."


@pytest.fixture
def staff() -> APIClient:
    return client_for(make_user("admin", staff=True))


# --- NUL characters (PostgreSQL refuses them in text: these were server errors there) -----------
@pytest.mark.parametrize("path", ["/api/contacts/", "/api/queue/"])
def test_a_nul_in_search_is_a_400(staff: APIClient, path: str) -> None:
    response = staff.get(path, {"search": "bob\x00"})
    assert response.status_code == 400
    assert response.json() == {"search": [f"The parameter 'search' {NUL_MESSAGE}"]}
    assert staff.get(path, {"search": "bob"}).status_code == 200


def test_a_nul_in_a_subtype_code_is_a_400(staff: APIClient) -> None:
    lead = Lead.objects.create(name="Chairs")
    response = staff.post(f"/api/leads/{lead.pk}/follow/", {"subtypes": ["mt_\x00comment"]}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "subtypes": {"0": ["A subtype code is a string such as 'mt_comment' (without NUL characters)."]}
    }
    assert staff.post(f"/api/leads/{lead.pk}/follow/", {"subtypes": ["mt_comment"]}, format="json").status_code == 200


# --- limit and offset ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"limit": str(10**30)}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "\x00"}, "limit"),
        ({"offset": str(10**30)}, "offset"),
        ({"offset": "-5"}, "offset"),
        ({"offset": "1e3"}, "offset"),
    ],
)
def test_malformed_limit_and_offset_are_400s(staff: APIClient, params: dict[str, str], name: str) -> None:
    for path in ("/api/contacts/", "/api/leads/", "/api/queue/"):
        response = staff.get(path, params)
        assert response.status_code == 400, (path, params)
        assert list(response.json()) == [name]
        assert "Expected a whole number from" in response.json()[name][0]


def test_limit_and_offset_within_bounds_page_the_list(staff: APIClient) -> None:
    for index in range(3):
        make_partner(f"Contact {index}")
    response = staff.get("/api/contacts/", {"limit": "2", "offset": "1"})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4  # the admin's own contact and three others
    assert len(body["results"]) == 2
    assert staff.get("/api/contacts/", {"limit": "500", "offset": str(2**31 - 1)}).json()["results"] == []


def test_the_schema_documents_the_bounds(staff: APIClient) -> None:
    schema = staff.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    parameters = {p["name"]: p["schema"] for p in schema["paths"]["/api/contacts/"]["get"]["parameters"]}
    assert parameters["limit"] == {"type": "integer", "minimum": 1, "maximum": 500}
    assert parameters["offset"] == {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}


# --- authentication -------------------------------------------------------------------------------
def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def test_basic_auth_failures_are_throttled_per_username_and_address(settings: pytest.FixtureRequest) -> None:
    settings.MAILCORE_LOGIN_FAILURE_LIMIT = 3  # type: ignore[attr-defined]
    make_user("alice")
    client = APIClient(REMOTE_ADDR="203.0.113.9")
    for _ in range(3):
        response = client.get("/api/contacts/", HTTP_AUTHORIZATION=_basic("alice", "guess"))
        assert response.status_code == 401
    # The right password is no longer checked from this address.
    response = client.get("/api/contacts/", HTTP_AUTHORIZATION=_basic("alice", "pw"))
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 900
    assert response.json() == {
        "detail": "Too many failed logins for this user from your address. Try again in 15 minutes."
    }
    other = APIClient(REMOTE_ADDR="203.0.113.10")
    assert other.get("/api/contacts/", HTTP_AUTHORIZATION=_basic("alice", "pw")).status_code == 200


def test_api_requests_are_rate_limited_per_user(settings: pytest.FixtureRequest) -> None:
    settings.REST_FRAMEWORK = {  # type: ignore[attr-defined]
        **settings.REST_FRAMEWORK,  # type: ignore[attr-defined]
        "DEFAULT_THROTTLE_RATES": {"user": "3/minute"},
    }
    alice = client_for(make_user("alice"))
    for _ in range(3):
        assert alice.get("/api/contacts/").status_code == 200
    response = alice.get("/api/contacts/")
    assert response.status_code == 429
    assert "Retry-After" in response
    # Another user has a rate of their own.
    assert client_for(make_user("bob")).get("/api/contacts/").status_code == 200


@pytest.mark.parametrize("action", ["retry", "cancel", "send_now"])
def test_bulk_queue_actions_refuse_ids_beyond_64_bits(staff: APIClient, action: str) -> None:
    """Found by the schemathesis run: the database cannot compare such a number (a server error)."""
    response = staff.post(f"/api/queue/{action}/", {"ids": [1, 2**64]}, format="json")
    assert response.status_code == 400
    assert response.json() == {"ids": {"1": [f"Ensure this value is less than or equal to {2**63 - 1}."]}}
