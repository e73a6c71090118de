"""A real refusal by the SMTP test server reads the same on the envelope, the queue and the API."""

from __future__ import annotations

import html
import re

import pytest
from django.urls import reverse

from chatter import services
from demo.models import Lead
from mailcore.testing.smtp import SmtpSink
from mailqueue.models import Mail, MailState
from mailqueue.sender import send_mails
from tests.api_helpers import client_for, make_partner, make_user

pytestmark = pytest.mark.django_db


def _texts(page: str, css_class: str) -> list[str]:
    """The text of every element carrying ``css_class`` (tags stripped, entities decoded once)."""
    found = re.findall(rf'<(\w+)[^>]*class="[^"]*\b{css_class}\b[^"]*"[^>]*>(.*?)</\1>', page, re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", inner)).strip() for _, inner in found]


@pytest.mark.parametrize(
    ("stage", "reply", "summary"),
    [
        # SendGrid's answer at DATA, which Odoo's ``mail_smtp`` label called "Connection failed".
        ("DATA", "550 The from address does not match a verified Sender Identity", "Sender refused"),
        ("MAIL", "530 5.7.0 Authentication Required", "Authentication required"),
        ("RCPT", "552 5.2.2 The email account that you tried to reach is over quota", "Mailbox full"),
        ("DATA", "554 5.7.1 Message rejected as spam", "Message rejected as spam"),
    ],
)
def test_envelope_queue_and_api_say_the_same(smtp_sink: SmtpSink, stage: str, reply: str, summary: str) -> None:
    staff = make_user("root", staff=True)
    bob = make_partner("Bob", "bob@client.example")
    lead = Lead.objects.create(name="Chairs")
    message = services.message_post(
        record=lead, body="Hello", subject="Offer", subtype="mt_comment", author=staff.partner, partner_ids=[bob.pk]
    )
    smtp_sink.fail(stage, reply)
    send_mails()
    mail = Mail.objects.get(message=message)
    assert mail.state == MailState.EXCEPTION, mail.failure_reason
    assert reply in mail.failure_reason

    client = client_for(staff)
    envelope = client.get(reverse("chatter:envelope", args=[message.pk])).content.decode()
    queue = client.get(reverse("mailqueue:list")).content.decode()
    detail = client.get(reverse("mailqueue:detail", args=[mail.pk])).content.decode()
    api_row = client.get(f"/api/queue/{mail.pk}/").json()
    api_messages = client.get(f"/api/leads/{lead.pk}/messages/").json()["results"]
    (api_notification,) = next(m for m in api_messages if m["id"] == message.pk)["notifications"]

    assert _texts(envelope, "failure-summary") == [summary]
    assert _texts(queue, "failure-summary") == [summary]
    assert _texts(detail, "failure-summary") == [summary, summary]  # the row and its recipient
    assert api_row["failure_summary"] == summary
    assert [r["failure_summary"] for r in api_row["recipients"]] == [summary]
    assert api_notification["failure_summary"] == summary
    assert "Connection failed" not in envelope + queue + detail
