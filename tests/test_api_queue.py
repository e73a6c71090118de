"""JSON API: the outgoing mail queue (list, filters, detail) and its Retry / Send Now / Cancel buttons."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chatter import services
from chatter.models import FailureType, Notification, NotificationStatus
from demo.models import Lead
from mailcore.models import Partner
from mailcore.testing.smtp import SmtpSink
from mailqueue.models import Mail, MailRecipient, MailState, RecipientState
from tests.api_helpers import client_for, make_partner, make_user

pytestmark = pytest.mark.django_db

REASON = (
    "Mail delivery failed via SMTP server '127.0.0.1'. SMTPRecipientsRefused: 550 5.1.1 <gone@example.com>: "
    "Recipient address rejected: User unknown"
)


@pytest.fixture
def staff() -> Any:
    return make_user("root", staff=True)


def _queued(subject: str, recipients: list[Partner], author: Partner | None = None) -> Mail:
    """A chatter message whose e-mail notifications wait in one queue row."""
    author = author or make_partner("Sally Sender", "sally@company.example")
    lead = Lead.objects.create(name=f"Lead {subject}")
    message = services.message_post(
        record=lead,
        body="Hello",
        subject=subject,
        subtype="mt_comment",
        author=author,
        partner_ids=[p.pk for p in recipients],
    )
    return Mail.objects.get(message=message)


def _fail(mail: Mail, recipient: Partner, reason: str = REASON) -> None:
    """What the sender records for a permanent (5xx) failure of one recipient."""
    Mail.objects.filter(pk=mail.pk).update(
        state=MailState.EXCEPTION, failure_type=FailureType.MAIL_EMAIL_INVALID, failure_reason=reason
    )
    MailRecipient.objects.filter(mail=mail, partner=recipient).update(
        state=RecipientState.EXCEPTION,
        failure_type=FailureType.MAIL_EMAIL_INVALID,
        failure_reason=reason,
        smtp_response="550 5.1.1 User unknown",
    )
    Notification.objects.filter(message=mail.message, res_partner=recipient).update(
        notification_status=NotificationStatus.EXCEPTION,
        failure_type=FailureType.MAIL_EMAIL_INVALID,
        failure_reason=reason,
    )


def test_anonymous_and_non_staff_are_refused() -> None:
    mail = _queued("Hi", [make_partner()])
    for client in (client_for(None), client_for(make_user("clerk"))):
        assert client.get("/api/queue/").status_code in (401, 403)
        assert client.get(f"/api/queue/{mail.pk}/").status_code in (401, 403)
        for verb in ("retry", "send_now", "cancel"):
            assert client.post(f"/api/queue/{mail.pk}/{verb}/").status_code in (401, 403)
            assert client.post(f"/api/queue/{verb}/", {"ids": [mail.pk]}, format="json").status_code in (401, 403)
    mail.refresh_from_db()
    assert mail.state == MailState.OUTGOING


def test_list_filters_by_state_and_searches_from_to_subject(staff: Any) -> None:
    bob, carol = make_partner("Bob", "bob@client.example"), make_partner("Carol", "carol@other.example")
    invoice = _queued("Your invoice", [bob])
    welcome = _queued("Welcome", [carol], author=make_partner("Hank", "hank@hr.example"))
    failed = _queued("Reminder", [bob, carol])
    _fail(failed, bob)
    client = client_for(staff)

    listed = client.get("/api/queue/").json()
    assert [m["id"] for m in listed["results"]] == [failed.pk, welcome.pk, invoice.pk]  # newest first (Odoo)
    first = listed["results"][0]
    assert first["state"] == "exception"
    assert first["failure_type"] == "mail_email_invalid"
    assert first["failure_reason"] == REASON
    assert first["recipient_count"] == 2
    assert first["model"] == "demo.lead"
    assert first["author"]["name"] == "Sally Sender"

    def ids(**params: str) -> list[int]:
        response = client.get("/api/queue/", params)
        assert response.status_code == 200, response.json()
        return [m["id"] for m in response.json()["results"]]

    assert ids(state="exception") == [failed.pk]
    assert ids(state="outgoing") == [welcome.pk, invoice.pk]
    assert ids(failure_type="mail_email_invalid") == [failed.pk]
    assert ids(search="invoice") == [invoice.pk]  # subject
    assert ids(search="hank@hr") == [welcome.pk]  # from
    assert ids(search="carol@other") == [failed.pk, welcome.pk]  # to, a row counted once
    assert ids(search="nobody-matches-this") == []
    response = client.get("/api/queue/", {"state": "lost"})
    assert response.status_code == 400
    assert response.json() == {
        "state": ["Unknown state 'lost'; expected one of outgoing, sent, received, exception, cancel."]
    }


def test_detail_has_recipients_and_failure_reason(staff: Any) -> None:
    bob, gone = make_partner("Bob"), make_partner("Gone", "gone@example.com")
    mail = _queued("Reminder", [bob, gone])
    _fail(mail, gone)
    response = client_for(staff).get(f"/api/queue/{mail.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body["failure_reason"] == REASON
    assert body["subject"] == "Reminder"
    assert body["references"]
    assert "Hello" in body["body_html"]
    recipients = {r["email"]: r for r in body["recipients"]}
    assert recipients["bob@example.com"]["state"] == "pending"
    assert recipients["gone@example.com"]["state"] == "exception"
    assert recipients["gone@example.com"]["failure_reason"] == REASON
    assert recipients["gone@example.com"]["smtp_response"] == "550 5.1.1 User unknown"
    assert recipients["gone@example.com"]["partner"]["name"] == "Gone"
    assert client_for(staff).get("/api/queue/987654/").status_code == 404


def test_retry_puts_failed_and_cancelled_rows_back_in_the_queue(staff: Any) -> None:
    bob = make_partner("Bob")
    failed, cancelled, outgoing = _queued("A", [bob]), _queued("B", [bob]), _queued("C", [bob])
    _fail(failed, bob)
    Mail.objects.filter(pk=cancelled.pk).update(state=MailState.CANCEL)
    client = client_for(staff)

    response = client.post(f"/api/queue/{failed.pk}/retry/")
    assert response.status_code == 200, response.json()
    assert response.json() == {"count": 1}
    failed.refresh_from_db()
    assert failed.state == MailState.OUTGOING

    # A row that is already outgoing cannot be retried: a clear 400, nothing changes.
    response = client.post(f"/api/queue/{outgoing.pk}/retry/")
    assert response.status_code == 400
    assert response.json() == {
        "detail": f"Mail {outgoing.pk} cannot be retried: it is Outgoing; "
        "only failed or cancelled mail, or mail waiting to retry, can be."
    }

    _fail(failed, bob)
    response = client.post("/api/queue/retry/", {"ids": [failed.pk, cancelled.pk, outgoing.pk, 987654]}, format="json")
    assert response.status_code == 200
    assert response.json() == {"count": 2}
    assert set(Mail.objects.filter(pk__in=[failed.pk, cancelled.pk]).values_list("state", flat=True)) == {
        MailState.OUTGOING
    }


def test_cancel_takes_outgoing_rows_out_of_the_queue(staff: Any) -> None:
    bob = make_partner("Bob")
    one, two, three = _queued("A", [bob]), _queued("B", [bob]), _queued("C", [bob])
    client = client_for(staff)
    assert client.post(f"/api/queue/{one.pk}/cancel/").json() == {"count": 1}
    one.refresh_from_db()
    assert one.state == MailState.CANCEL
    response = client.post(f"/api/queue/{one.pk}/cancel/")
    assert response.status_code == 400
    assert "cannot be cancelled" in response.json()["detail"]

    assert client.post("/api/queue/cancel/", {"ids": [two.pk, three.pk]}, format="json").json() == {"count": 2}
    assert set(Mail.objects.values_list("state", flat=True)) == {MailState.CANCEL}
    # Cancelled mail is not sent by Send Now (Odoo: Retry first), and the answer says so.
    response = client.post(f"/api/queue/{two.pk}/send_now/")
    assert response.status_code == 400
    assert response.json() == {
        "detail": f"Mail {two.pk} cannot be sent now: it is Cancelled; "
        "only outgoing mail can be (Retry a failed one first)."
    }
    assert set(Notification.objects.values_list("notification_status", flat=True)) == {NotificationStatus.CANCELED}


def test_queue_list_query_count_does_not_grow(staff: Any, django_assert_max_num_queries: Any) -> None:
    client = client_for(staff)
    recipients = [make_partner() for _ in range(3)]
    for index in range(2):
        _queued(f"few {index}", recipients)
    with CaptureQueriesContext(connection) as few:
        assert client.get("/api/queue/", {"search": "example"}).status_code == 200
    for index in range(20):
        _fail(_queued(f"many {index}", recipients), recipients[0])
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/api/queue/", {"search": "example"})
    assert response.json()["count"] == 22


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({}, {"ids": ["This field is required."]}),
        ({"ids": []}, {"ids": ["Ensure this field has at least 1 elements."]}),
        ({"ids": ["x"]}, {"ids": {"0": ["A valid integer is required."]}}),
    ],
)
def test_bulk_actions_need_ids(staff: Any, payload: dict[str, Any], errors: dict[str, Any]) -> None:
    for verb in ("retry", "send_now", "cancel"):
        response = client_for(staff).post(f"/api/queue/{verb}/", payload, format="json")
        assert response.status_code == 400
        assert response.json() == errors


def test_send_now_delivers_through_smtp(staff: Any, smtp_sink: SmtpSink) -> None:
    bob, carol = make_partner("Bob", "bob@client.example"), make_partner("Carol", "carol@client.example")
    mail = _queued("Right now", [bob, carol])
    response = client_for(staff).post(f"/api/queue/{mail.pk}/send_now/")
    assert response.status_code == 200, response.json()
    received = smtp_sink.wait_for(2)
    assert sorted(r for m in received for r in m.rcpt_tos) == ["bob@client.example", "carol@client.example"]
    assert set(Notification.objects.filter(message=mail.message).values_list("notification_status", flat=True)) == {
        NotificationStatus.SENT
    }


def test_bulk_send_now_delivers_every_selected_row(staff: Any, smtp_sink: SmtpSink) -> None:
    bob = make_partner("Bob", "bob@client.example")
    first, second = _queued("One", [bob]), _queued("Two", [bob])
    response = client_for(staff).post("/api/queue/send_now/", {"ids": [first.pk, second.pk]}, format="json")
    assert response.status_code == 200, response.json()
    assert sorted(m.message["Subject"] for m in smtp_sink.wait_for(2)) == ["One", "Two"]
