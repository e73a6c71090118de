"""Download .eml and the support bundle give the exact bytes the SMTP server received.

Real sends to a real aiosmtpd sink; the downloads go through Django's test client as a staff
user would click them (the queue row, the detail page, the chatter envelope).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from email import message_from_bytes

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from chatter.models import Message, Notification
from chatter.tests.factories import LeadFactory, PartnerFactory
from mailcore.testing.smtp import SmtpSink
from mailqueue.models import DeliveryLog, Mail, SentContent
from mailqueue.sender import send_mails
from mailqueue.tests.test_sender import enable_pipelining, post
from mailqueue.vacuum import autovacuum

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["plain", "pipelining"])
def sink(request: pytest.FixtureRequest, smtp_sink: SmtpSink) -> SmtpSink:
    """The built-in server's sink, once without and once with PIPELINING (its own code path)."""
    if request.param == "pipelining":
        enable_pipelining(smtp_sink)
    return smtp_sink


@pytest.fixture
def staff(client: Client) -> Client:
    client.force_login(get_user_model().objects.create_user("ops", "ops@example.org", "pw", is_staff=True))
    return client


def _zip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _received_by(sink: SmtpSink, address: str) -> bytes:
    (got,) = [m for m in sink.messages if m.rcpt_tos == [address]]
    return got.data


def _send_to_two(sink: SmtpSink, *, auto_delete: bool) -> tuple[Message, int, dict[str, Notification]]:
    bob = PartnerFactory(name="Bob Smith", email="bob@example.com")
    cleo = PartnerFactory(name="Cléo Dupré", email="cleo@example.com")
    message = post(
        bob,
        cleo,
        subject="Offer",
        body="<p>Hello</p>\n<p>.a line starting with a dot</p>",
        attachments=[("terms.txt", b"The terms", "text/plain")],
        mail_auto_delete=auto_delete,
    )
    mail_id = Mail.objects.get(message=message).pk
    report = send_mails()
    assert report.sent == 2
    sink.wait_for(2)
    notifications = {n.res_partner.email: n for n in message.notifications.select_related("res_partner")}
    return message, mail_id, notifications


@pytest.mark.parametrize("auto_delete", [False, True], ids=["row kept", "row auto-deleted"])
def test_downloads_are_the_bytes_the_sink_received(sink: SmtpSink, staff: Client, auto_delete: bool) -> None:
    _message, mail_id, notifications = _send_to_two(sink, auto_delete=auto_delete)
    assert Mail.objects.filter(pk=mail_id).exists() is not auto_delete

    for address in ("bob@example.com", "cleo@example.com"):
        received = _received_by(sink, address)
        response = staff.get(reverse("mailqueue:notification_eml", args=[notifications[address].pk]))
        assert response.status_code == 200
        assert response["Content-Type"] == "message/rfc822"
        assert response.content == received
        log = DeliveryLog.objects.get(notification=notifications[address])
        assert staff.get(reverse("mailqueue:delivery_eml", args=[log.pk])).content == received

    # The queue row's Download .eml: the first recipient's message as sent.
    first_address = (
        DeliveryLog.objects.filter(mail_id_ref=mail_id).order_by("recipient_ref").values_list("recipient", flat=True)
    )[0]
    response = staff.get(reverse("mailqueue:eml", args=[mail_id]))
    assert response.content == _received_by(sink, first_address)
    assert response["Content-Disposition"] == f'attachment; filename="mail-{mail_id}.eml"'

    # The support bundle carries the same bytes, from the row and from the envelope's link.
    files = _zip(staff.get(reverse("mailqueue:support_bundle", args=[mail_id])).content)
    assert files[f"mail-{mail_id}.eml"] == _received_by(sink, first_address)
    assert "the exact bytes handed to the SMTP server for " in files["facts.txt"].decode()
    cleo = notifications["cleo@example.com"]
    files = _zip(staff.get(reverse("mailqueue:notification_support_bundle", args=[cleo.pk])).content)
    (eml_name,) = [name for name in files if name.endswith(".eml")]
    assert files[eml_name] == _received_by(sink, "cleo@example.com")


def test_the_shared_part_is_kept_once_per_row_in_one_insert(smtp_sink: SmtpSink) -> None:
    recipients = [PartnerFactory(email=f"r{i}@example.com") for i in range(5)]
    message = post(*recipients, attachments=[("big.bin", bytes(range(256)) * 400, "application/octet-stream")])
    with CaptureQueriesContext(connection) as queries:
        assert send_mails().sent == 5
    inserts = [q["sql"] for q in queries.captured_queries if "mailqueue_sentcontent" in q["sql"]]
    assert len(inserts) == 1 and inserts[0].startswith("INSERT")
    (content,) = SentContent.objects.all()
    assert len(content.data) < 102_400 / 3  # zlib-compressed
    logs = DeliveryLog.objects.filter(chatter_message=message)
    assert {log.content_id for log in logs} == {content.pk}
    for log in logs:
        assert log.content is not None
        assert log.content.message(log.recipient_lines) == _received_by(smtp_sink, log.recipient)
        assert bytes(log.recipient_lines).startswith(b"Return-Path: <bounce+")


def test_a_refused_message_keeps_what_was_handed_to_the_server(smtp_sink: SmtpSink, staff: Client) -> None:
    bob = PartnerFactory(email="bob@example.com")
    message = post(bob, mail_auto_delete=False)
    smtp_sink.fail("DATA", "554 5.7.1 rejected as spam")
    assert send_mails().failed == 1
    log = DeliveryLog.objects.get(chatter_message=message)
    assert log.success is False and log.content is not None
    eml = message_from_bytes(staff.get(reverse("mailqueue:delivery_eml", args=[log.pk])).content)
    assert eml["To"] == "bob@example.com" or "bob@example.com" in eml["To"]
    assert eml["Message-ID"] == message.message_id


def test_an_unsent_row_is_rendered_by_the_sender_itself(smtp_sink: SmtpSink, staff: Client) -> None:
    """Before sending, Download .eml shows the sender's rendering: same headers as what then leaves.

    Only Date (the moment of building) and the random MIME boundaries may differ.
    """
    bob = PartnerFactory(name="Bob Smith", email="bob@example.com")
    message = post(bob, subject="Offer", mail_auto_delete=False)
    mail = Mail.objects.get(message=message)
    Mail.objects.filter(pk=mail.pk).update(headers={**mail.headers, "X-Custom": "kept"})
    before = staff.get(reverse("mailqueue:eml", args=[mail.pk])).content
    assert send_mails().sent == 1
    (got,) = smtp_sink.wait_for(1)

    def without_date(data: bytes) -> list[bytes]:
        data = re.sub(rb"={15}\d+==", b"BOUNDARY", data)
        return [line for line in data.split(b"\r\n") if not line.startswith(b"Date: ")]

    assert without_date(before) == without_date(got.data)
    assert staff.get(reverse("mailqueue:eml", args=[mail.pk])).content == got.data


def test_auto_vacuum_deletes_kept_bytes_past_the_retention(smtp_sink: SmtpSink, staff: Client) -> None:
    old_message = post(PartnerFactory(email="old@example.com"))
    send_mails()
    SentContent.objects.update(created_at=SentContent.objects.get().created_at - dt.timedelta(days=31))
    new_message = post(PartnerFactory(email="new@example.com"))
    send_mails()
    smtp_sink.wait_for(2)

    results = autovacuum()

    assert results["sent_contents"] == 1
    old_log = DeliveryLog.objects.get(chatter_message=old_message)
    assert old_log.content is None and bytes(old_log.recipient_lines) == b""
    response = staff.get(reverse("mailqueue:delivery_eml", args=[old_log.pk]))
    assert response.status_code == 404
    assert "sent messages are kept 30 days" in response.content.decode()
    response = staff.get(reverse("mailqueue:eml", args=[old_log.mail_id_ref]))
    assert response.status_code == 404
    new_log = DeliveryLog.objects.get(chatter_message=new_message)
    assert staff.get(reverse("mailqueue:delivery_eml", args=[new_log.pk])).content == _received_by(
        smtp_sink, "new@example.com"
    )


def test_the_retention_is_a_setting(smtp_sink: SmtpSink, settings: object) -> None:
    post(PartnerFactory(email="a@example.com"))
    send_mails()
    SentContent.objects.update(created_at=SentContent.objects.get().created_at - dt.timedelta(days=31))
    settings.MAILQUEUE_SENT_EML_RETENTION_DAYS = 60  # type: ignore[attr-defined]
    assert autovacuum()["sent_contents"] == 0
    settings.MAILQUEUE_SENT_EML_RETENTION_DAYS = 7  # type: ignore[attr-defined]
    assert autovacuum()["sent_contents"] == 1


# --- one click, staff only ---------------------------------------------------------------------
def test_downloads_are_staff_only(smtp_sink: SmtpSink, client: Client) -> None:
    message = post(PartnerFactory(email="bob@example.com"), mail_auto_delete=False)
    send_mails()
    mail = Mail.objects.get(message=message)
    notification = message.notifications.get()
    log = DeliveryLog.objects.get()
    urls = [
        reverse("mailqueue:eml", args=[mail.pk]),
        reverse("mailqueue:support_bundle", args=[mail.pk]),
        reverse("mailqueue:delivery_eml", args=[log.pk]),
        reverse("mailqueue:notification_eml", args=[notification.pk]),
        reverse("mailqueue:notification_support_bundle", args=[notification.pk]),
    ]
    for url in urls:
        assert client.get(url).status_code == 302  # to the login page
    client.force_login(get_user_model().objects.create_user("clerk", "clerk@example.org", "pw"))
    for url in urls:
        assert client.get(url).status_code == 403


def test_unknown_ids_are_404_with_a_reason(staff: Client) -> None:
    response = staff.get(reverse("mailqueue:eml", args=[424242]))
    assert response.status_code == 404
    assert "No outgoing e-mail #424242" in response.content.decode()
    assert staff.get(reverse("mailqueue:notification_eml", args=[424242])).status_code == 404
    assert staff.get(reverse("mailqueue:notification_support_bundle", args=[424242])).status_code == 404
    assert staff.get(reverse("mailqueue:delivery_eml", args=[424242])).status_code == 404


def test_the_queue_row_and_detail_page_link_both_downloads(smtp_sink: SmtpSink, staff: Client) -> None:
    message = post(PartnerFactory(email="bob@example.com"), mail_auto_delete=False)
    send_mails()
    mail = Mail.objects.get(message=message)
    log = DeliveryLog.objects.get()
    row = staff.get(reverse("mailqueue:list")).content.decode()
    assert f'href="{reverse("mailqueue:eml", args=[mail.pk])}"' in row
    assert f'href="{reverse("mailqueue:support_bundle", args=[mail.pk])}"' in row
    detail = staff.get(reverse("mailqueue:detail", args=[mail.pk])).content.decode()
    assert f'href="{reverse("mailqueue:support_bundle", args=[mail.pk])}"' in detail
    assert f'href="{reverse("mailqueue:delivery_eml", args=[log.pk])}"' in detail


def test_the_envelope_links_both_downloads_for_staff_only(smtp_sink: SmtpSink, client: Client) -> None:
    lead = LeadFactory()
    message = post(PartnerFactory(email="bob@example.com"), lead=lead)
    send_mails()
    notification = message.notifications.get()
    eml_url = reverse("mailqueue:notification_eml", args=[notification.pk])
    bundle_url = reverse("mailqueue:notification_support_bundle", args=[notification.pk])
    envelope = reverse("chatter:envelope", args=[message.pk])

    client.force_login(get_user_model().objects.create_user("clerk", "clerk@example.org", "pw"))
    html = client.get(envelope).content.decode()
    assert "bob@example.com" in html  # the popover itself is shown
    assert eml_url not in html and bundle_url not in html

    client.force_login(get_user_model().objects.create_user("ops", "ops@example.org", "pw", is_staff=True))
    html = client.get(envelope).content.decode()
    assert f'href="{eml_url}"' in html and f'href="{bundle_url}"' in html
    assert client.get(eml_url).content == _received_by(smtp_sink, "bob@example.com")
