"""Bounce diagnostics and the chatter decode received text with the same charset chain."""

from __future__ import annotations

import base64
from email import message_from_bytes
from email.message import Message
from email.policy import compat32
from pathlib import Path

import pytest

from bounces.dsn import parse_bounce
from bounces.dsn.mime import message_from_raw
from bounces.parsing import parse_message
from bounces.tests.corpus import CORPUS

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


# -- the bounce parser's MIME reader against the standard library's --------------------------
DATA = Path(__file__).parent / "data"
_NOT_COMPARED = ("message/delivery-status", "message/global-delivery-status")


def _shape(msg: Message, depth: int = 0) -> list[tuple[object, ...]]:
    """Content types, header names and leaf payloads of a message tree, for comparison. The
    delivery-status parts are left out: the stdlib splits them into header blocks, we keep
    their text for the RFC 3464 reader."""
    shape: list[tuple[object, ...]] = [(depth, msg.get_content_type(), tuple(msg.keys()))]
    if msg.get_content_type() in _NOT_COMPARED:
        return shape
    payload = msg.get_payload()
    if isinstance(payload, list):
        for part in payload:
            assert isinstance(part, Message)
            shape += _shape(part, depth + 1)
    else:
        data = msg.get_payload(decode=True)
        shape.append(("leaf", data.rstrip(b"\r\n") if isinstance(data, bytes) else b""))
    return shape


def _leaves(msg: Message) -> list[str]:
    payload = msg.get_payload()
    assert isinstance(payload, list)
    return [str(part.get_payload()) for part in payload if isinstance(part, Message)]


def _samples() -> list[Path]:
    found = sorted(DATA.glob("*.eml"))
    if (CORPUS / "samples").is_dir():
        found += sorted((CORPUS / "samples").glob("*.eml"))
    return found


@pytest.mark.parametrize("path", _samples(), ids=lambda path: path.name)
def test_message_reader_builds_the_stdlib_tree(path: Path) -> None:
    raw = path.read_bytes()
    ours, stdlib = _shape(message_from_raw(raw)), _shape(message_from_bytes(raw, policy=compat32))
    for mine, theirs in zip(ours, stdlib, strict=False):
        if mine[0] != "leaf" and theirs[0] != "leaf" and mine[2] and not theirs[2]:
            # A returned message after a blank line: the stdlib sees no headers, we read them.
            return
    assert ours == stdlib
    for line_ending in (b"\r\n",):  # as the gateway stores it
        crlf = raw.replace(b"\r\n", b"\n").replace(b"\n", line_ending)
        assert [s[:3] for s in _shape(message_from_raw(crlf))] == [s[:3] for s in _shape(message_from_bytes(crlf))]


def test_message_reader_tolerates_broken_structure() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=B\r\n\r\npreamble\r\n--B\r\n"
        b"Content-Type: text/plain\r\n\r\nfirst\r\n--B\r\n\r\nno headers\r\n--B--\r\nepilogue\r\n"
    )
    assert _leaves(message_from_raw(raw)) == ["first", "no headers"]
    unclosed = message_from_raw(b"Content-Type: multipart/mixed; boundary=B\n\n--B\n\nlast part, no closing line\n")
    assert _leaves(unclosed) == ["last part, no closing line"]  # as the stdlib reads it
    never = message_from_raw(b"Content-Type: multipart/mixed; boundary=B\n\nthe boundary never comes\n")
    assert never.get_payload() == "the boundary never comes\n" and not never.is_multipart()
    not_headers = message_from_raw(b"this is not a header\nSubject: x\n\nbody\n")
    assert not_headers.keys() == [] and "this is not a header" in str(not_headers.get_payload())


def test_a_damaged_encoded_subject_does_not_stop_the_parse() -> None:
    """An encoded word that is not base64 at all is kept as written; the bounce is still read."""
    raw = (DATA / "qmail-no-mailbox.eml").read_bytes().replace(b"Subject: failure notice", b"Subject: =?utf-8?b?S?=")
    report = parse_bounce(raw)
    assert report.is_bounce
    assert [r.email for r in report.bounced] == ["old.user@oldisp.example"]
