"""Bounce diagnostics and the chatter decode received text with the same charset chain."""

from __future__ import annotations

import base64

import pytest

from bounces.dsn import parse_bounce
from bounces.parsing import parse_message

FRENCH = "Boîte aux lettres pleine — quota dépassé"


def _notice(charset: str, body: bytes, subject: str = "Undelivered Mail Returned to Sender") -> bytes:
    return (
        b"From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n"
        b"To: bounce+abc@mailcore.example.com\r\n"
        + f"Subject: {subject}\r\n".encode()
        + b"MIME-Version: 1.0\r\n"
        + f"Content-Type: text/plain; charset={charset}\r\n".encode()
        + b"Content-Transfer-Encoding: 8bit\r\n\r\n"
        + b"This is the mail system at host mx.example.net.\r\n\r\n"
        + b"<ana@example.fr>: host mx.example.fr said: 552 5.2.2 "
        + body
        + b"\r\n"
    )


@pytest.mark.parametrize(
    ("charset", "body"),
    [
        ("iso-8859-1", FRENCH.encode("utf-8")),  # UTF-8 labelled Latin-1
        ("utf-8", FRENCH.encode("cp1252")),  # Windows-1252 labelled UTF-8
        ("x-unknown-charset", FRENCH.encode("utf-8")),
    ],
)
def test_bounce_diagnostic_uses_the_shared_fallback_chain(charset: str, body: bytes) -> None:
    raw = _notice(charset, body)
    (recipient,) = parse_bounce(raw).bounced
    assert recipient.diagnostic == f"552 5.2.2 {FRENCH}"
    # The chatter shows the same notice with the same words.
    assert FRENCH in parse_message(raw).body_html


def test_bounce_subject_in_an_unknown_charset_still_reads_as_a_bounce() -> None:
    word = base64.b64encode("Unzustellbar: Grüße".encode()).decode()
    raw = _notice("utf-8", FRENCH.encode("utf-8"), subject=f"=?x-unknown?b?{word}?=")
    raw = raw.replace(b"From: MAILER-DAEMON@mx.example.net (Mail Delivery System)", b"From: robot@mx.example.net")
    raw = raw.replace(b"This is the mail system at host mx.example.net.", b"Hello.")
    report = parse_bounce(raw)
    assert report.is_bounce
    assert [r.email for r in report.bounced] == ["ana@example.fr"]
