"""Campaign attachments: uploaded in the form or the API, on the campaign page, carried by every
recipient's mail and by the test, refused whole past the size limit."""

from __future__ import annotations

from email import message_from_bytes, policy
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from mailcore.testing.smtp import SmtpSink
from mailqueue.sender import send_mails
from marketing.attachments import UploadedFile, mailing_attachments, mailing_attachments_add
from marketing.exceptions import AttachmentsTooLarge
from marketing.models import Mailing
from marketing.queue import process_marketing_queue
from marketing.services import mailing_duplicate, mailing_put_in_queue, mailing_test_send
from marketing.tests.test_lists import marketer
from marketing.tests.test_queue import _campaign, _list_of
from tests.api_helpers import client_for, make_user

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4 the spring catalogue \x00\x01\x02" * 50


def _attached(data: bytes) -> dict[str, bytes]:
    msg = message_from_bytes(data, policy=policy.default)
    return {
        part.get_filename() or "": part.get_payload(decode=True)  # type: ignore[misc]
        for part in msg.iter_attachments()  # type: ignore[attr-defined]
    }


def test_every_recipient_and_the_test_receive_the_attachment_bytes(smtp_sink: SmtpSink) -> None:
    mailing = _campaign(_list_of("Catalog", 3), "Catalogue")
    mailing_attachments_add(mailing=mailing, files=[UploadedFile("catalogue.pdf", PDF, "application/pdf")])

    test = mailing_test_send(mailing=mailing, email="boss@example.com")
    assert send_mails(mail_ids=[test.pk]).sent == 1
    mailing_put_in_queue(mailing=mailing)
    process_marketing_queue(time_budget=30)
    assert send_mails().sent == 3

    received = smtp_sink.wait_for(4)
    assert sorted(m.rcpt_tos[0] for m in received) == sorted(
        ["boss@example.com", *(f"catalog{i}@example.com" for i in range(3))]
    )
    for message in received:
        assert _attached(message.data) == {"catalogue.pdf": PDF}, message.rcpt_tos


def test_the_form_uploads_shows_and_removes_attachments_and_refuses_too_large_ones(settings: Any) -> None:
    settings.MARKETING_ATTACHMENTS_MAX_BYTES = 4000
    mailing = _campaign(_list_of("Form", 1), "Form")
    client = marketer()
    url = reverse("marketing:mailing_edit", args=[mailing.pk])
    fields = {
        "subject": "Form",
        "email_from": "news@mailcore.localhost",
        "reply_to_mode": "new",
        "mailing_lists": [mailing.mailing_lists.get().pk],
        "body_html": "<p>Hello</p>",
    }
    saved = client.post(url, {**fields, "attachments": [SimpleUploadedFile("prices.csv", b"a,b\n1,2\n")]})
    assert saved.status_code == 302
    detail = client.get(reverse("marketing:mailing_detail", args=[mailing.pk])).content.decode()
    assert "prices.csv" in detail and "Attached to every mail" in detail

    big = SimpleUploadedFile("huge.bin", b"x" * 5000)
    refused = client.post(url, {**fields, "subject": "Changed", "attachments": [big]})
    assert refused.status_code == 200
    assert "more than the 3.9\xa0KB a campaign may carry" in refused.content.decode()
    mailing.refresh_from_db()
    assert mailing.subject == "Form"  # nothing of the refused form was saved
    assert [a.name for a in mailing_attachments(mailing)] == ["prices.csv"]

    attachment = mailing_attachments(mailing).get()
    assert client.post(url, {**fields, "remove_attachment": [str(attachment.pk)]}).status_code == 302
    assert not mailing_attachments(mailing).exists()


def test_the_api_attaches_lists_and_removes_files_and_a_duplicate_keeps_them(settings: Any) -> None:
    settings.MARKETING_ATTACHMENTS_MAX_BYTES = 1000
    user = make_user("api-attachments")
    user.user_permissions.add(Permission.objects.get(codename="change_mailinglist"))
    api = client_for(user)
    mailing = _campaign(_list_of("Api", 1), "Api")
    url = f"/api/marketing/campaigns/{mailing.pk}/attachments/"

    added = api.post(url, {"files": [SimpleUploadedFile("a.txt", b"hello"), SimpleUploadedFile("b.txt", b"bye")]})
    assert added.status_code == 201, added.content
    assert [(a["name"], a["file_size"]) for a in added.json()] == [("a.txt", 5), ("b.txt", 3)]
    shown = api.get(f"/api/marketing/campaigns/{mailing.pk}/").json()["attachments"]
    assert [a["name"] for a in shown] == ["a.txt", "b.txt"]

    too_big = api.post(url, {"files": [SimpleUploadedFile("c.bin", b"x" * 995)]})
    assert too_big.status_code == 400
    assert "Nothing was attached" in too_big.json()["files"][0]
    assert api.post(url, {}).status_code == 400  # no file at all

    copy = mailing_duplicate(mailing=mailing)
    first = shown[0]["id"]
    assert api.delete(f"{url}{first}/").status_code == 204
    assert api.delete(f"{url}{first}/").status_code == 404
    assert [a.name for a in mailing_attachments(mailing)] == ["b.txt"]
    assert [a.name for a in mailing_attachments(copy)] == ["a.txt", "b.txt"]  # shared files stay with the copy

    Mailing.objects.filter(pk=mailing.pk).update(state="in_queue")
    assert api.post(url, {"files": [SimpleUploadedFile("d.txt", b"d")]}).status_code == 409


def test_the_limit_counts_the_campaign_s_files_together(settings: Any) -> None:
    settings.MARKETING_ATTACHMENTS_MAX_BYTES = 10
    mailing = _campaign(_list_of("Limit", 1), "Limit")
    mailing_attachments_add(mailing=mailing, files=[UploadedFile("a", b"123456")])
    with pytest.raises(AttachmentsTooLarge):
        mailing_attachments_add(mailing=mailing, files=[UploadedFile("b", b"12345")])
    assert [a.name for a in mailing_attachments(mailing)] == ["a"]
