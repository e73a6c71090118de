"""The web edges through Django's test client: inbound HTML as the chatter shows it, the
Content-Security-Policy, 400s for malformed search parameters, and the login throttle."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from chatter.models import Attachment, MessageType
from config.middleware import content_security_policy
from demo.models import Lead
from mailcore.models import Partner

pytestmark = pytest.mark.django_db

TRACKER = "https://tracker.example/open.gif?id=42"
OVERLAY = (
    '<div style="position:fixed;inset:0;z-index:2147483647;background:#fff;color:red">Session expired</div>'
    f'<p>Hello</p><img src="{TRACKER}" alt="tracker"><img src="cid:logo@mail.example" alt="logo">'
)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture
def staff_client() -> Client:
    user = get_user_model().objects.create_user("alice", password="pw", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    client.get(reverse("chatter:home"))  # gives the user a contact
    return client


@pytest.fixture
def lead() -> Lead:
    return Lead.objects.create(name="Chairs for Globex")


def _incoming(lead: Lead) -> None:
    bob = Partner.objects.create(name="Bob", email="bob@example.com")
    message = lead.message_post(
        body=OVERLAY,
        message_type=MessageType.EMAIL,
        subtype="mt_comment",
        author=bob,
        email_from="bob@example.com",
        attachments=[("logo.png", PNG, "image/png")],
    )
    # What the inbound gateway does for inline parts: the attachment keeps its Content-ID.
    message.attachments.update(content_id="logo@mail.example")


def test_incoming_html_is_shown_without_overlay_and_remote_images(staff_client: Client, lead: Lead) -> None:
    _incoming(lead)
    html = staff_client.get(reverse("chatter:record_detail", args=["leads", lead.pk])).content.decode()
    body = html[html.index('<div class="msg-body') :]
    body = body[: body.index("</article>")]
    assert "position" not in body and "z-index" not in body
    assert '<div style="color:red">Session expired</div>' in body
    # The remote image keeps its URL out of src until "Show images" is clicked.
    assert f'data-remote-src="{TRACKER}"' in body.replace("&amp;", "&")
    assert not re.search(r'<img[^>]* src="https?://', html)
    assert "Remote images are hidden" in html and "data-show-images" in html
    # The inline image points at its stored attachment.
    attachment = Attachment.objects.get(content_id="logo@mail.example")
    assert f'src="{reverse("chatter:attachment", args=[attachment.pk])}" alt="logo"' in body


def test_a_message_without_remote_images_has_no_bar(staff_client: Client, lead: Lead) -> None:
    alice = Partner.objects.get(user__username="alice")
    lead.message_post(body="<p>Plain <b>text</b></p>", subtype="mt_note", author=alice)
    html = staff_client.get(reverse("chatter:record_detail", args=["leads", lead.pk])).content.decode()
    assert "Plain <b>text</b>" in html and "Remote images are hidden" not in html


# --- Content-Security-Policy ------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/login/", "/", "/leads/", "/admin/", "/api/docs/", "/nowhere/"])
def test_every_page_sends_the_content_security_policy(staff_client: Client, path: str) -> None:
    response = staff_client.get(path)
    policy = response["Content-Security-Policy"]
    assert policy == content_security_policy()
    directives = dict(d.split(" ", 1) for d in policy.split("; "))
    assert directives["script-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"


def test_pages_have_no_inline_script(staff_client: Client, lead: Lead) -> None:
    """Inline scripts and event handlers would be blocked by script-src 'self'."""
    _incoming(lead)
    for path in ("/login/", "/", "/leads/", reverse("chatter:record_detail", args=["leads", lead.pk]), "/api/docs/"):
        html = staff_client.get(path).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert not re.search(r"\son[a-z]+=", html), path


def test_swagger_ui_start_script_is_a_file(staff_client: Client) -> None:
    html = staff_client.get("/api/docs/").content.decode()
    script = re.search(r'<script src="([^"]*script=[^"]*)"', html)
    assert script is not None
    response = staff_client.get(script.group(1).replace("&amp;", "&"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in response.content.decode()


# --- malformed search parameters --------------------------------------------------------------
@pytest.mark.parametrize("path", ["/leads/", "/queue/", "/inbound/"])
def test_a_nul_in_a_search_is_a_400_with_the_reason(staff_client: Client, path: str) -> None:
    response = staff_client.get(path, {"q": "abc\x00def"})
    assert response.status_code == 400
    assert "The parameter &#x27;q&#x27; must not contain a NUL character (%00)." in response.content.decode()
    assert staff_client.get(path, {"q": "abc"}).status_code == 200


# --- login throttle -----------------------------------------------------------------------------
def test_login_is_throttled_per_username_and_address(settings: pytest.FixtureRequest) -> None:
    settings.MAILCORE_LOGIN_FAILURE_LIMIT = 3  # type: ignore[attr-defined]
    get_user_model().objects.create_user("bob", password="right")
    client = Client(REMOTE_ADDR="198.51.100.7")
    for _ in range(3):
        response = client.post("/login/", {"username": "bob", "password": "wrong"})
        assert response.status_code == 200
        assert "Please enter a correct username and password" in response.content.decode()
    # Now even the right password is not checked.
    response = client.post("/login/", {"username": "bob", "password": "right"})
    assert response.status_code == 429
    assert "Too many failed logins for this user from your address. Try again in 15 minutes." in (
        response.content.decode()
    )
    assert "_auth_user_id" not in client.session
    # Another address, or another user from the same address, is not held back.
    other_address = Client(REMOTE_ADDR="198.51.100.8")
    assert other_address.post("/login/", {"username": "bob", "password": "right"}).status_code == 302
    get_user_model().objects.create_user("carol", password="right")
    assert client.post("/login/", {"username": "carol", "password": "right"}).status_code == 302


def test_a_successful_login_clears_the_failures(settings: pytest.FixtureRequest) -> None:
    settings.MAILCORE_LOGIN_FAILURE_LIMIT = 2  # type: ignore[attr-defined]
    get_user_model().objects.create_user("bob", password="right")
    client = Client(REMOTE_ADDR="198.51.100.7")
    client.post("/login/", {"username": "bob", "password": "wrong"})
    assert client.post("/login/", {"username": "bob", "password": "right"}).status_code == 302
    client.logout()
    client.post("/login/", {"username": "bob", "password": "wrong"})
    assert client.post("/login/", {"username": "bob", "password": "right"}).status_code == 302
