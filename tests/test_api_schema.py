"""JSON API: the OpenAPI schema, its offline Swagger UI, and authentication on every route."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.api_helpers import client_for, make_user

pytestmark = pytest.mark.django_db

OPENAPI_JSON = "application/vnd.oai.openapi+json"


def test_schema_generates_and_validates_without_warnings(tmp_path: Path) -> None:
    target = tmp_path / "schema.yaml"
    # --fail-on-warn turns any warning (an unresolvable type, a colliding name) into an error.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    text = target.read_text()
    assert text.startswith("openapi: 3.0.3")
    for path in (
        "/api/contacts/{id}/:",
        "/api/leads/{id}/messages/:",
        "/api/tickets/{id}/message_post/:",
        "/api/quotations/{id}/followers/{follower_id}/:",
        "/api/queue/{id}/send_now/:",
        "/api/queue/retry/:",
    ):
        assert path in text


def test_schema_endpoint_needs_a_login() -> None:
    assert client_for(None).get("/api/schema/").status_code in (401, 403)
    response = client_for(make_user("alice")).get("/api/schema/", HTTP_ACCEPT=OPENAPI_JSON)
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "mailcore API"
    assert "/api/leads/{id}/messages/" in schema["paths"]
    # The documented security schemes are the ones the API accepts.
    assert set(schema["components"]["securitySchemes"]) == {"cookieAuth", "basicAuth"}


def test_swagger_ui_is_served_without_any_cdn() -> None:
    assert client_for(None).get("/api/docs/").status_code in (401, 403)
    client = client_for(make_user("alice"))
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    contents = []
    for asset in assets:
        # No host at all: everything comes from this server (the machines have no internet).
        assert asset.startswith("/"), asset
        assert not asset.startswith("//"), asset
        served = client.get(asset.replace("&amp;", "&"))
        assert served.status_code == 200, asset
        # Reading a file response to its end closes its file (the test client's wrapper does, without
        # closing the test's database connection as a second close() would).
        contents.append(b"".join(served.streaming_content) if served.streaming else served.content)
    # Swagger UI's start-up script is one of these files (the CSP allows no inline script).
    assert any(b"/api/schema/" in content for content in contents)


def test_api_root_needs_a_login() -> None:
    assert client_for(None).get("/api/").status_code in (401, 403)
    root = client_for(make_user("alice")).get("/api/", HTTP_ACCEPT="application/json").json()
    marketing = {"marketing/lists", "marketing/campaigns"}
    assert set(root) == {"contacts", "leads", "quotations", "tickets", "queue", *marketing}
