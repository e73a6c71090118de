"""JSON API: a record's messages (with per-recipient status) and posting a message or a note."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chatter import services
from chatter.models import (
    FailureType,
    Follower,
    Message,
    MessageType,
    Notification,
    NotificationKind,
    NotificationStatus,
)
from demo.models import Lead, Ticket
from mailcore.models import NotificationType, Partner
from mailqueue.models import Mail, MailRecipient
from tests.api_helpers import client_for, make_partner, make_user, notification_fail

pytestmark = pytest.mark.django_db

SMTP_REASON = (
    "Mail delivery failed via SMTP server '127.0.0.1'. SMTPRecipientsRefused: 550 5.1.1 <gone@example.com>: "
    "Recipient address rejected: User unknown"
)


@pytest.fixture
def alice() -> Any:
    return make_user("alice")


@pytest.fixture
def lead() -> Lead:
    return Lead.objects.create(name="Big deal")


def _post(client: Any, record_path: str, payload: dict[str, Any]) -> Any:
    return client.post(f"/api/{record_path}/message_post/", payload, format="json")


def test_anonymous_cannot_read_or_post(lead: Lead) -> None:
    client = client_for(None)
    assert client.get(f"/api/leads/{lead.pk}/messages/").status_code in (401, 403)
    assert _post(client, f"leads/{lead.pk}", {"kind": "message", "body": "hi"}).status_code in (401, 403)
    assert not Message.objects.filter(message_type=MessageType.COMMENT).exists()


def test_posting_a_message_notifies_followers_and_queues_mail(
    alice: Any, lead: Lead, django_capture_on_commit_callbacks: Any
) -> None:
    by_mail = [make_partner("Bob"), make_partner("Carol")]
    inbox_user = make_user("dave", notification_type=NotificationType.INBOX)
    inbox = Partner.objects.get(user=inbox_user)
    services.message_subscribe(record=lead, partners=[*by_mail, inbox])

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _post(
            client_for(alice), f"leads/{lead.pk}", {"kind": "message", "subject": "Offer", "body": "<p>Our offer</p>"}
        )
    assert response.status_code == 201, response.json()
    body = response.json()
    author = Partner.objects.get(user=alice)
    assert body["author"] == {"id": author.pk, "name": "Alice", "email": "alice@example.com"}
    assert body["subtype"]["code"] == "mt_comment"
    assert body["message_type"] == "comment"
    assert body["subject"] == "Offer"
    assert body["body"] == "<p>Our offer</p>"
    assert body["has_error"] is False
    statuses = {n["partner"]["name"]: (n["notification_type"], n["notification_status"]) for n in body["notifications"]}
    assert statuses == {"Bob": ("email", "ready"), "Carol": ("email", "ready"), "Dave": ("inbox", "sent")}

    # E-mail recipients have queue rows; the in-app one does not; the author is not notified.
    message = Message.objects.get(pk=body["id"])
    mail = Mail.objects.get(message=message)
    assert mail.state == "outgoing"
    assert mail.urgent is True
    assert {r.partner_id for r in MailRecipient.objects.filter(mail=mail)} == {p.pk for p in by_mail}
    # Person-to-person mail is handed to Celery right after commit.
    assert len(callbacks) == 1
    # The author now follows the record (Odoo auto-subscribes the poster).
    assert Follower.objects.filter(res_id=lead.pk, partner=author, model__model="lead").exists()


def test_a_note_notifies_only_the_mentioned_contacts(alice: Any, lead: Lead) -> None:
    follower, mentioned = make_partner("Follower"), make_partner("Mentioned")
    services.message_subscribe(record=lead, partners=[follower])  # default subtypes: Discussions, not Note
    response = _post(
        client_for(alice), f"leads/{lead.pk}", {"kind": "note", "body": "internal", "partner_ids": [mentioned.pk]}
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["subtype"]["code"] == "mt_note"
    assert body["is_internal"] is True
    # A note is internal: followers of Discussions are not told, the mentioned contact is.
    assert [n["partner"]["id"] for n in body["notifications"]] == [mentioned.pk]
    assert MailRecipient.objects.filter(mail__message_id=body["id"]).count() == 1


def test_attachments_are_stored_and_listed_with_name_and_size(alice: Any, lead: Lead) -> None:
    content = b"%PDF-1.4 fake but bytes\n" * 10
    response = _post(
        client_for(alice),
        f"leads/{lead.pk}",
        {
            "kind": "note",
            "body": "",
            "attachments": [
                {"name": "offer.pdf", "content": base64.b64encode(content).decode(), "mimetype": "application/pdf"},
                {"name": "notes.txt", "content": base64.b64encode(b"hi").decode()},
            ],
        },
    )
    assert response.status_code == 201, response.json()
    attachments = response.json()["attachments"]
    assert [(a["name"], a["file_size"], a["mimetype"]) for a in attachments] == [
        ("offer.pdf", len(content), "application/pdf"),
        ("notes.txt", 2, "application/octet-stream"),
    ]
    message = Message.objects.get(pk=response.json()["id"])
    assert bytes(message.attachments.get(name="offer.pdf").datas) == content


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({"kind": "message", "body": ""}, {"body": ["The message is empty: write a body or attach a file."]}),
        ({"kind": "message", "body": "   \n"}, {"body": ["The message is empty: write a body or attach a file."]}),
        ({"body": "hi"}, {"kind": ["This field is required."]}),
        ({"kind": "shout", "body": "hi"}, {"kind": ['"shout" is not a valid choice.']}),
        (
            {"kind": "message", "body": "hi", "partner_ids": [987654]},
            {"partner_ids": {"0": ["Unknown contact id 987654."]}},
        ),
        (
            {"kind": "note", "body": "x", "attachments": [{"name": "a.bin", "content": "***not base64***"}]},
            {"attachments": {"0": {"content": ["Not valid base64 content."]}}},
        ),
        (
            {"kind": "note", "body": "x", "attachments": [{"content": "aGk="}]},
            {"attachments": {"0": {"name": ["This field is required."]}}},
        ),
    ],
)
def test_bad_input_gets_a_clear_error_and_creates_nothing(
    alice: Any, lead: Lead, payload: dict[str, Any], errors: dict[str, Any]
) -> None:
    before = Message.objects.count()
    response = _post(client_for(alice), f"leads/{lead.pk}", payload)
    assert response.status_code == 400
    assert response.json() == errors
    assert Message.objects.count() == before


def test_posting_on_a_missing_record_is_404(alice: Any) -> None:
    assert _post(client_for(alice), "leads/424242", {"kind": "message", "body": "hi"}).status_code == 404


def test_a_recipient_without_email_is_kept_for_the_queue_to_report(alice: Any, lead: Lead) -> None:
    no_mail = make_partner("No Mail", email="")
    response = _post(
        client_for(alice), f"leads/{lead.pk}", {"kind": "message", "body": "hi", "partner_ids": [no_mail.pk]}
    )
    assert response.status_code == 201
    # Nothing is lost: the notification and its delivery row exist; the sender marks them mail_email_missing.
    notification = Notification.objects.get(message_id=response.json()["id"], res_partner=no_mail)
    assert notification.notification_type == NotificationKind.EMAIL
    assert MailRecipient.objects.filter(notification=notification).exists()


def test_messages_show_per_recipient_status_failure_reason_and_tracking(alice: Any, lead: Lead) -> None:
    author = Partner.objects.get(user=alice)
    ok, gone = make_partner("Ok"), make_partner("Gone", "gone@example.com")
    message = services.message_post(
        record=lead, body="Hello", subject="Hi", subtype="mt_comment", author=author, partner_ids=[ok.pk, gone.pk]
    )
    Notification.objects.filter(message=message, res_partner=ok).update(notification_status=NotificationStatus.SENT)
    notification_fail(
        Notification.objects.get(message=message, res_partner=gone),
        failure_type=FailureType.MAIL_EMAIL_INVALID,
        failure_reason=SMTP_REASON,
    )
    lead.stage = Lead.Stage.QUALIFIED
    lead.save()

    response = client_for(alice).get(f"/api/leads/{lead.pk}/messages/")
    assert response.status_code == 200
    results = response.json()["results"]
    # Newest first: the tracking log, the message, the creation log.
    tracking, posted = results[0], results[1]
    assert [(t["field"], t["old_value"], t["new_value"]) for t in tracking["tracking_values"]] == [
        ("stage", "New", "Qualified")
    ]
    assert tracking["subtype"]["code"] == "demo.mt_lead_stage"

    assert posted["id"] == message.pk
    assert posted["author"]["id"] == author.pk
    assert posted["date"]
    assert posted["has_error"] is True
    by_name = {n["partner"]["name"]: n for n in posted["notifications"]}
    assert by_name["Ok"]["notification_status"] == "sent"
    assert by_name["Ok"]["failure_type"] == ""
    assert by_name["Gone"] == {
        "id": by_name["Gone"]["id"],
        "partner": {"id": gone.pk, "name": "Gone", "email": "gone@example.com"},
        "email": "gone@example.com",
        "notification_type": "email",
        "notification_status": "exception",
        "failure_type": "mail_email_invalid",
        "failure_reason": SMTP_REASON,
        "failure_summary": "Recipient unknown",
        "is_read": True,
    }
    # Another record's messages never leak in, even with the same id on another model.
    Ticket.objects.create(pk=lead.pk, name="Same id")
    assert len(client_for(alice).get(f"/api/leads/{lead.pk}/messages/").json()["results"]) == len(results)


def test_messages_are_paginated(alice: Any, lead: Lead) -> None:
    author = Partner.objects.get(user=alice)
    for index in range(5):
        services.message_post(record=lead, body=f"m{index}", subtype="mt_note", author=author)
    page = client_for(alice).get(f"/api/leads/{lead.pk}/messages/", {"limit": 2, "offset": 1}).json()
    assert page["count"] == 6  # five notes and the creation log
    assert [m["body"] for m in page["results"]] == ["m3", "m2"]


def _add_busy_messages(lead: Lead, author: Partner, count: int, stage: str) -> None:
    recipients = [make_partner() for _ in range(3)]
    for index in range(count):
        message = services.message_post(
            record=lead,
            body=f"message {index}",
            subtype="mt_comment",
            author=author,
            partner_ids=[p.pk for p in recipients],
            attachments=[(f"file{index}.txt", b"abc", "text/plain"), (f"more{index}.txt", b"de", "text/plain")],
        )
        notification_fail(message.notifications.first(), failure_type=FailureType.MAIL_SMTP, failure_reason="down")
    lead.stage = stage  # a tracking log with its tracking value
    lead.save()


def test_listing_queries_do_not_grow_with_messages(alice: Any, lead: Lead, django_assert_max_num_queries: Any) -> None:
    author = Partner.objects.get(user=alice)
    client = client_for(alice)
    _add_busy_messages(lead, author, 2, Lead.Stage.QUALIFIED)
    with CaptureQueriesContext(connection) as few:
        assert client.get(f"/api/leads/{lead.pk}/messages/").status_code == 200
    _add_busy_messages(lead, author, 25, Lead.Stage.WON)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(f"/api/leads/{lead.pk}/messages/")
    results = response.json()["results"]
    assert len(results) == 30  # 27 posted, two tracking logs and the creation log
    posted = [m for m in results if m["body"].startswith("message")]
    assert len(posted) == 27
    assert all(len(m["attachments"]) == 2 and len(m["notifications"]) == 3 and m["has_error"] for m in posted)
    assert sum(len(m["tracking_values"]) for m in results) == 2
