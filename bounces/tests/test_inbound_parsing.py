"""MIME → readable chatter message: any charset, broken declarations, attachments, inline images,
malformed structure (never dropped)."""

from __future__ import annotations

import base64

import pytest
from django.contrib.contenttypes.models import ContentType

from bounces import services
from bounces.models import InboundMessage, InboundState
from bounces.parsing import parse_headers, parse_message
from chatter.models import Message
from demo.models import Lead
from mailcore.models import AliasDomain
from mailcore.signed_addresses import reply_address

JAPANESE = "日本語のメールです。よろしくお願いします。"
CHINESE = "你好，这是一封中文邮件。谢谢！"
FRENCH = "Café crème, déjà vu — « voilà » ½ €"


def _raw(headers: str, body: bytes) -> bytes:
    return headers.replace("\n", "\r\n").encode("ascii") + b"\r\n" + body


def _single(ctype: str, body: bytes, cte: str = "8bit", subject: str = "Test") -> bytes:
    return _raw(
        f"From: Sender <sender@example.com>\nTo: x@mailcore.localhost\nSubject: {subject}\n"
        f"Message-ID: <p@example.com>\nMIME-Version: 1.0\nContent-Type: {ctype}\nContent-Transfer-Encoding: {cte}\n",
        body,
    )


@pytest.mark.parametrize(
    ("ctype", "body", "expected"),
    [
        ("text/plain; charset=ISO-2022-JP", JAPANESE.encode("iso-2022-jp"), JAPANESE),
        ("text/plain; charset=GB2312", CHINESE.encode("gb2312"), CHINESE),
        ("text/plain; charset=windows-1252", FRENCH.encode("cp1252"), FRENCH),
        # Broken declarations: Latin-1 declared on UTF-8, UTF-8 declared on Windows-1252, none at all.
        ("text/plain; charset=iso-8859-1", FRENCH.encode("utf-8"), FRENCH),
        ("text/plain; charset=utf-8", FRENCH.encode("cp1252"), FRENCH),
        ("text/plain", FRENCH.encode("utf-8"), FRENCH),
        ("text/plain; charset=x-no-such-charset", FRENCH.encode("utf-8"), FRENCH),
        ("text/plain; charset=us-ascii", JAPANESE.encode("iso-2022-jp"), JAPANESE),
        ("text/plain", CHINESE.encode("gb18030"), CHINESE),
        # GB2312 declared, but the text uses GBK/GB18030-only characters (Outlook does this).
        ("text/plain; charset=gb2312", "镕基 — 喆".encode("gb18030"), "镕基 — 喆"),
        (
            "text/html",
            f"<html><head><meta charset='windows-1252'></head><body><p>{FRENCH}</p></body></html>".encode("cp1252"),
            FRENCH,
        ),
    ],
)
def test_any_charset_becomes_readable_text(ctype: str, body: bytes, expected: str) -> None:
    parsed = parse_message(_single(ctype, body))
    assert expected.replace("«", "&laquo;") in parsed.body_html or expected in parsed.body_html.replace("&amp;", "&")


def test_encoded_word_subjects_and_names_in_any_charset() -> None:
    subject = "=?ISO-2022-JP?B?" + base64.b64encode("会議の件".encode("iso-2022-jp")).decode() + "?="
    raw = _raw(
        f"From: =?gb2312?B?{base64.b64encode('张伟'.encode('gb2312')).decode()}?= <zw@example.cn>\n"
        f"Subject: {subject}\nMessage-ID: <s@example.com>\nContent-Type: text/plain\n",
        b"hi",
    )
    facts = parse_headers(raw)
    assert facts.subject == "会議の件"
    assert facts.email_from.startswith("张伟")
    assert facts.sender_email == "zw@example.cn"


def test_alternative_prefers_html_and_sanitises_it() -> None:
    raw = _raw(
        "From: a@example.com\nSubject: Alt\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=B\n",
        b"--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain version\r\n"
        b"--B\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<p onclick='steal()'>rich <b>version</b></p><script>alert(1)</script>\r\n--B--\r\n",
    )
    parsed = parse_message(raw)
    assert "rich <b>version</b>" in parsed.body_html
    assert "plain version" not in parsed.body_html
    assert "script" not in parsed.body_html and "onclick" not in parsed.body_html


def test_attachments_inline_images_and_forwarded_messages() -> None:
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
    )
    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    raw = _raw(
        "From: a@example.com\nSubject: Files\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=OUT\n",
        b"--OUT\r\nContent-Type: multipart/related; boundary=REL\r\n\r\n"
        b'--REL\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>See <img src="cid:logo@x"></p>\r\n'
        b"--REL\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode(png)
        + b"\r\n--REL--\r\n"
        b'--OUT\r\nContent-Type: application/pdf; name="=?utf-8?q?devis_=C3=A9t=C3=A9.pdf?="\r\n'
        b"Content-Disposition: attachment; filename*=utf-8''devis%20%C3%A9t%C3%A9.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(pdf) + b"\r\n"
        b"--OUT\r\nContent-Type: message/rfc822\r\n\r\nFrom: old@example.com\r\nSubject: Old\r\n\r\nold body\r\n"
        b"--OUT--\r\n",
    )
    parsed = parse_message(raw)
    assert 'src="cid:logo@x"' in parsed.body_html
    by_type = {a.mimetype: a for a in parsed.attachments}
    assert by_type["image/png"].content == png
    assert by_type["image/png"].content_id == "logo@x"
    assert by_type["application/pdf"].content == pdf
    assert by_type["application/pdf"].name == "devis été.pdf"
    assert by_type["message/rfc822"].name.endswith(".eml")
    assert b"old body" in by_type["message/rfc822"].content


@pytest.mark.parametrize(
    "raw",
    [
        # No closing boundary, a part with broken base64, and garbage after.
        _raw(
            "From: a@example.com\nSubject: Broken\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=X\n",
            b"--X\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nreadable part\r\n"
            b"--X\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            b"!!!not base64!!!\r\n",
        ),
        # A multipart without any boundary parameter.
        _raw("From: a@example.com\nSubject: Broken\nContent-Type: multipart/mixed\n", b"readable part\r\n"),
        # No headers at all, just text.
        b"readable part\r\n",
        # Binary junk declared as text.
        _single("text/plain; charset=utf-8", b"readable part \xff\xfe\x00\x81"),
    ],
)
def test_malformed_mime_is_still_shown(raw: bytes) -> None:
    parsed = parse_message(raw)
    assert "readable part" in parsed.body_html


@pytest.mark.django_db
def test_a_malformed_message_is_posted_not_dropped() -> None:
    lead = Lead.objects.create(name="Broken mail")
    ct = ContentType.objects.get_for_model(Lead)
    rcpt = reply_address(alias_domain=AliasDomain(name="mailcore.localhost"), model_id=ct.pk, res_id=lead.pk)
    raw = _raw(
        'From: a@example.com\nSubject: =?utf-8?B?broken\nContent-Type: multipart/alternative; boundary="\n',
        b"--\r\n\r\nstill some text \xe9\r\n",
    )
    reception = services.inbound_receive(raw=raw, mail_from="a@example.com", rcpt_tos=[rcpt])
    assert services.message_process(inbound_id=reception.inbound_id).status == "done"
    row = InboundMessage.objects.get(pk=reception.inbound_id)
    assert row.state == InboundState.DONE
    message = Message.objects.get(pk=row.chatter_message_id)
    assert "still some text" in message.body
    assert bytes(row.raw) == raw


@pytest.mark.django_db
def test_inline_images_keep_their_content_id_on_the_posted_attachments() -> None:
    lead = Lead.objects.create(name="Images")
    ct = ContentType.objects.get_for_model(Lead)
    rcpt = reply_address(alias_domain=AliasDomain(name="mailcore.localhost"), model_id=ct.pk, res_id=lead.pk)
    raw = _raw(
        "From: a@example.com\nSubject: Pic\nMIME-Version: 1.0\nContent-Type: multipart/related; boundary=R\n",
        b'--R\r\nContent-Type: text/html\r\n\r\n<img src="cid:pic1">\r\n'
        b"--R\r\nContent-Type: text/plain; name=notes.txt\r\nContent-Disposition: attachment\r\n\r\nnotes\r\n"
        b"--R\r\nContent-Type: image/gif\r\nContent-ID: <pic1>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"R0lGODlhAQABAAAAACw=\r\n--R--\r\n",
    )
    reception = services.inbound_receive(raw=raw, mail_from="a@example.com", rcpt_tos=[rcpt])
    services.message_process(inbound_id=reception.inbound_id)
    message = InboundMessage.objects.get(pk=reception.inbound_id).chatter_message
    assert message is not None
    attachments = {a.name: a for a in message.attachments.all()}
    assert attachments["notes.txt"].content_id == ""
    gif = next(a for a in attachments.values() if a.mimetype == "image/gif")
    assert gif.content_id == "pic1"
    assert bytes(gif.datas).startswith(b"GIF89a")
