"""Every UI page needs a login, the Technical pages need staff, and every form needs its CSRF token."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse

from demo.models import Lead

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead() -> Lead:
    return Lead.objects.create(name="Access lead")


def _urls(lead: Lead) -> dict[str, list[str]]:
    ct = ContentType.objects.get_for_model(Lead).pk
    message_id = lead.message_ids.first().pk  # the creation log
    user_get = [
        reverse("chatter:home"),
        reverse("chatter:inbox"),
        reverse("chatter:failures"),
        reverse("chatter:preferences"),
        reverse("chatter:record_list", args=["leads"]),
        reverse("chatter:record_create", args=["leads"]),
        reverse("chatter:record_detail", args=["leads", lead.pk]),
        reverse("chatter:record_by_content_type", args=[ct, lead.pk]),
        reverse("chatter:message_page", args=[ct, lead.pk]),
        reverse("chatter:envelope", args=[message_id]),
        reverse("chatter:resend", args=[message_id]),
    ]
    user_post = [
        reverse("chatter:message_post", args=[ct, lead.pk]),
        reverse("chatter:followers", args=[ct, lead.pk]),
        reverse("chatter:resend", args=[message_id]),
        reverse("chatter:inbox_read_all"),
        reverse("chatter:preferences"),
        reverse("chatter:record_detail", args=["leads", lead.pk]),
        reverse("console:developer_mode"),
    ]
    staff_get = [
        reverse("mailqueue:list"),
        reverse("mailqueue:crons"),
        reverse("mailqueue:quota"),
        reverse("mailcore:servers"),
        reverse("mailcore:server_create"),
        reverse("mailcore:alias_domains"),
        reverse("mailcore:alias_domain_create"),
        reverse("mailcore:aliases"),
        reverse("mailcore:alias_create"),
    ]
    staff_post = [
        reverse("mailqueue:action"),
        reverse("mailqueue:cron_interval"),
        reverse("mailqueue:cron_run"),
        reverse("mailcore:server_test_builtin"),
        reverse("mailcore:server_create"),
        reverse("mailcore:alias_create"),
    ]
    return {"user_get": user_get, "user_post": user_post, "staff_get": staff_get, "staff_post": staff_post}


def test_anonymous_is_sent_to_login_everywhere(client: Client, lead: Lead) -> None:
    urls = _urls(lead)
    login = reverse("login")
    for url in urls["user_get"] + urls["staff_get"]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(f"{login}?next="), url
    for url in urls["user_post"] + urls["staff_post"]:
        response = client.post(url)
        assert response.status_code == 302 and response["Location"].startswith(login), url


def test_technical_pages_are_for_staff_only(client: Client, lead: Lead) -> None:
    user = get_user_model().objects.create_user("plain", password="pw")
    client.force_login(user)
    urls = _urls(lead)
    for url in urls["user_get"]:
        assert client.get(url, follow=True).status_code == 200, url
    for url in urls["staff_get"]:
        assert client.get(url).status_code == 403, url
    for url in urls["staff_post"]:
        assert client.post(url).status_code == 403, url


def test_every_post_needs_the_csrf_token(lead: Lead) -> None:
    staff = get_user_model().objects.create_user("boss", password="pw", is_staff=True, is_superuser=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    urls = _urls(lead)
    for url in urls["user_post"] + urls["staff_post"]:
        assert client.post(url).status_code == 403, url


def test_pages_carry_the_csrf_token_for_forms_and_htmx(lead: Lead) -> None:
    staff = get_user_model().objects.create_user("boss", password="pw", is_staff=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    html = client.get(reverse("chatter:record_detail", args=["leads", lead.pk])).content.decode()
    # Plain forms carry the hidden field; htmx requests send the header set on <body>.
    assert html.count('name="csrfmiddlewaretoken"') >= 5
    assert 'hx-headers=\'{"X-CSRFToken": "' in html
    token = client.cookies["csrftoken"].value
    ct = ContentType.objects.get_for_model(Lead).pk
    response = client.post(
        reverse("chatter:followers", args=[ct, lead.pk]),
        {"action": "follow"},
        HTTP_X_CSRFTOKEN=token,
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert 'id="btn-unfollow"' in response.content.decode()


def test_login_page_is_styled_and_works(client: Client) -> None:
    get_user_model().objects.create_user("alice", password="pw")
    page = client.get(reverse("login"))
    assert page.status_code == 200 and b"Log in" in page.content and b"css/app.css" in page.content
    response = client.post(reverse("login"), {"username": "alice", "password": "pw"})
    assert response.status_code == 302
    assert client.get(reverse("chatter:home")).status_code == 200


def test_static_assets_are_local(client: Client) -> None:
    """htmx is vendored and served by whitenoise/staticfiles: no CDN anywhere."""
    from django.contrib.staticfiles import finders

    assert finders.find("vendor/htmx.min.js")
    assert finders.find("css/app.css") and finders.find("js/app.js")
    get_user_model().objects.create_user("alice", password="pw")
    client.login(username="alice", password="pw")
    html = client.get(reverse("chatter:home")).content.decode()
    assert "/static/vendor/htmx.min.js" in html
    assert "https://" not in html and "http://" not in html.replace("http://www.w3.org", "")


def test_error_pages_use_the_app_layout(client: Client) -> None:
    user = get_user_model().objects.create_user("plain", password="pw")
    client.force_login(user)
    missing = client.get("/leads/999999/")
    assert missing.status_code == 404 and b"Back to the home page" in missing.content
    forbidden = client.get(reverse("mailqueue:list"))
    assert forbidden.status_code == 403
    assert b"Only administrators can open the technical settings." in forbidden.content
