"""Per-user pages and page-wide banners: inbox, failures, preferences, developer mode, the
placeholder-admin and "Daily limit reached" banners."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from chatter.models import FailureType, Notification, NotificationStatus
from demo.models import Lead
from mailcore.models import NotificationType, Partner
from mailqueue.models import Mail, MailState

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def _client(username: str, *, email: str = "", staff: bool = False, inbox: bool = False) -> tuple[Client, Partner]:
    user = get_user_model().objects.create_user(
        username, email=email or f"{username}@example.com", password="pw", is_staff=staff, is_superuser=staff
    )
    client = Client()
    client.force_login(user)
    client.get(reverse("chatter:home"))
    partner = Partner.objects.get(user=user)
    if inbox:
        partner.notification_type = NotificationType.INBOX
        partner.save()
    return client, partner


def test_user_gets_a_contact_on_first_request() -> None:
    client, partner = _client("zoe", email="zoe@example.com")
    assert partner.name == "zoe" and partner.email == "zoe@example.com"
    client.get(reverse("chatter:home"))
    assert Partner.objects.filter(user__username="zoe").count() == 1


def test_inbox_unread_count_mark_read_and_open() -> None:
    client, carol = _client("carol", inbox=True)
    _, alice = _client("alice")
    lead = Lead.objects.create(name="Inbox lead")
    lead.message_subscribe([carol])
    first = lead.message_post(body="one", subtype="mt_comment", author=alice)
    lead.message_post(body="two", subtype="mt_comment", author=alice)

    home = client.get(reverse("chatter:home")).content.decode()
    assert '<span class="counter" id="inbox-count"  aria-label="2 unread">2</span>' in home
    notification = Notification.objects.get(message=first, res_partner=carol)
    response = client.post(reverse("chatter:inbox_read", args=[notification.pk]), **HTMX)
    html = response.content.decode()
    assert 'id="inbox-count" hx-swap-oob="true"' in html and ">1</span>" in html  # the header updates
    notification.refresh_from_db()
    assert notification.is_read

    unread = client.get(reverse("chatter:inbox")).context["page"].object_list
    assert [n.message.body for n in unread] == ["two"]
    everything = client.get(reverse("chatter:inbox"), {"show": "all"}).context["page"].object_list
    assert len(everything) == 2

    other = Notification.objects.get(res_partner=carol, is_read=False)
    response = client.post(reverse("chatter:inbox_open", args=[other.pk]))
    assert response["Location"] == f"/records/{lead.message_ids.first().model_id}/{lead.pk}/"
    assert not Notification.objects.filter(res_partner=carol, is_read=False).exists()


def test_cannot_touch_someone_elses_notification() -> None:
    _, carol = _client("carol", inbox=True)
    mallory, author = _client("mallory")
    lead = Lead.objects.create(name="Private")
    lead.message_subscribe([carol])
    message = lead.message_post(body="secret", subtype="mt_comment", author=author)
    notification = Notification.objects.get(message=message, res_partner=carol)
    assert mallory.post(reverse("chatter:inbox_read", args=[notification.pk])).status_code == 404
    assert mallory.post(reverse("chatter:inbox_open", args=[notification.pk])).status_code == 404


def test_mark_all_read() -> None:
    client, carol = _client("carol", inbox=True)
    _, alice = _client("alice")
    lead = Lead.objects.create(name="Many")
    lead.message_subscribe([carol])
    for i in range(3):
        lead.message_post(body=f"m{i}", subtype="mt_comment", author=alice)
    client.post(reverse("chatter:inbox_read_all"))
    assert not Notification.objects.filter(res_partner=carol, is_read=False).exists()


def test_failures_page_shows_failures_of_author_and_followers_only() -> None:
    alice_client, alice = _client("alice")
    follower_client, follower = _client("fred")
    stranger_client, _ = _client("stan")
    bob = Partner.objects.create(name="Bob", email="bob@example.com")
    lead = Lead.objects.create(name="Failing lead")
    lead.message_subscribe([follower])
    message = lead.message_post(body="hello", subtype="mt_note", author=alice, partner_ids=[bob.pk])
    Notification.objects.filter(message=message, res_partner=bob).update(
        notification_status=NotificationStatus.EXCEPTION, failure_type=FailureType.MAIL_SMTP
    )
    for client in (alice_client, follower_client):
        html = client.get(reverse("chatter:failures")).content.decode()
        assert f'data-message-id="{message.pk}"' in html and "Failing lead" in html
        assert f'id="envelope-{message.pk}"' in html
    assert f'data-message-id="{message.pk}"' not in stranger_client.get(reverse("chatter:failures")).content.decode()
    assert 'class="counter danger" id="failure-count">1<' in alice_client.get(reverse("chatter:home")).content.decode()


def test_preferences_update_notification_type_and_email() -> None:
    client, partner = _client("pat")
    page = client.get(reverse("chatter:preferences")).content.decode()
    assert "Handle by e-mails" in page and "Handle in the app" in page
    assert "do not count against the daily e-mail limit" in page
    response = client.post(
        reverse("chatter:preferences"), {"notification_type": "inbox", "email": "Pat <pat@corp.example>"}
    )
    assert response.status_code == 302
    partner.refresh_from_db()
    assert partner.notification_type == "inbox" and partner.email_normalized == "pat@corp.example"
    assert partner.user is not None and partner.user.email == "Pat <pat@corp.example>"
    bad = client.post(reverse("chatter:preferences"), {"notification_type": "inbox", "email": "nope"})
    assert "This e-mail address is not valid." in bad.content.decode()
    bad_type = client.post(reverse("chatter:preferences"), {"notification_type": "pigeon", "email": ""})
    assert "Choose how to handle notifications." in bad_type.content.decode()


def test_placeholder_admin_banner(settings: object) -> None:
    admin, _ = _client("admin", email="admin@example.com", staff=True)
    user, _ = _client("user", email="admin@example.com")  # not an administrator
    assert 'id="placeholder-admin-banner"' in admin.get(reverse("chatter:home")).content.decode()
    assert 'id="placeholder-admin-banner"' not in user.get(reverse("chatter:home")).content.decode()
    admin.post(reverse("chatter:preferences"), {"notification_type": "email", "email": "it@corp.example"})
    assert 'id="placeholder-admin-banner"' not in admin.get(reverse("chatter:home")).content.decode()
    settings.MAILCORE_PLACEHOLDER_ADMIN_EMAIL = "it@corp.example"  # type: ignore[attr-defined]
    assert 'id="placeholder-admin-banner"' in admin.get(reverse("chatter:home")).content.decode()


def test_daily_limit_banner_when_mail_waits_for_the_quota() -> None:
    client, alice = _client("alice")
    lead = Lead.objects.create(name="Quota")
    bob = Partner.objects.create(name="Bob", email="bob@example.com")
    message = lead.message_post(body="x", subtype="mt_note", author=alice, partner_ids=[bob.pk])
    assert 'id="quota-banner"' not in client.get(reverse("chatter:home")).content.decode()
    Mail.objects.filter(message=message).update(
        state=MailState.OUTGOING,
        failure_type=FailureType.MAIL_QUOTA,
        failure_reason="Daily limit reached. Sending resumes after 23:00 UTC.",
    )
    html = client.get(reverse("chatter:home")).content.decode()
    assert 'id="quota-banner"' in html and "Daily limit reached." in html and "UTC" in html


def test_developer_mode_shows_the_technical_menu_to_staff_only() -> None:
    staff, _ = _client("boss", staff=True)
    user, _ = _client("user")
    assert "Technical" not in staff.get(reverse("chatter:home")).content.decode()
    response = staff.post(reverse("console:developer_mode"), {"enable": "1", "next": "/leads/"})
    assert response["Location"] == "/leads/"
    html = staff.get(reverse("chatter:home")).content.decode()
    assert "Technical" in html and reverse("mailqueue:list") in html
    staff.post(reverse("console:developer_mode"), {"enable": "0", "next": "https://evil.example/"})
    assert "Technical" not in staff.get(reverse("chatter:home")).content.decode()
    user.post(reverse("console:developer_mode"), {"enable": "1"})
    assert "Technical" not in user.get(reverse("chatter:home")).content.decode()
    assert 'id="developer-mode-toggle"' not in user.get(reverse("chatter:home")).content.decode()


def test_inbox_preview_decodes_entities_once_and_keeps_paragraphs_apart() -> None:
    """The preview is text escaped exactly once (no literal "&gt;"), one line per paragraph."""
    client, carol = _client("carol", inbox=True)
    _, alice = _client("alice")
    lead = Lead.objects.create(name="Preview lead")
    lead.message_subscribe([carol])
    # What the composer posts: plain text, escaped into paragraphs by message_post.
    lead.message_post(
        body="Price > 5 & <b>not bold</b>\n\nSecond paragraph\nsame paragraph, next line\n\nThird",
        body_is_html=False,
        subtype="mt_comment",
        author=alice,
    )
    # An HTML body (e-mail, API): tags go, entities decode once.
    lead.message_post(
        body="<p>Terms &amp; conditions</p>\n<p>See <b>page 2</b> &lt;here&gt;</p>", subtype="mt_comment", author=alice
    )

    page = client.get(reverse("chatter:inbox")).content.decode()
    excerpts = re.findall(r'<div class="excerpt">(.*?)</div>', page, re.S)
    assert excerpts == [
        "Terms &amp; conditions\nSee page 2 &lt;here&gt;",
        "Price &gt; 5 &amp; &lt;b&gt;not bold&lt;/b&gt;\nSecond paragraph\nsame paragraph, next line\nThird",
    ]
