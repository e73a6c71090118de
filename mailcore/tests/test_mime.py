"""The one charset fall-back chain for received mail (chatter bodies and bounce diagnostics)."""

from __future__ import annotations

import base64
from email import message_from_bytes
from email.message import Message
from email.policy import compat32

import pytest

from mailcore.mime import decode_header_value, decode_text, fix_surrogates, part_bytes, part_text

FRENCH = "Boîte aux lettres pleine, réessayez — déjà 5 €"
GERMAN = "Empfänger unbekannt: Postfach voll, Grüße"
JAPANESE = "宛先不明のためメールを配信できませんでした"
CHINESE = "邮件无法投递，收件人不存在"


def _part(ctype: str, body: bytes, encoding: str | None = None) -> Message:
    head = f"Content-Type: {ctype}\r\n"
    if encoding:
        head += f"Content-Transfer-Encoding: {encoding}\r\n"
    return message_from_bytes(head.encode() + b"\r\n" + body, policy=compat32)


@pytest.mark.parametrize(
    ("declared", "data", "expected"),
    [
        ("utf-8", FRENCH.encode("utf-8"), FRENCH),
        ("windows-1252", FRENCH.encode("cp1252"), FRENCH),
        # Latin-1 labels are read as Windows-1252, whose € and — Latin-1 lacks.
        ("iso-8859-1", FRENCH.encode("cp1252"), FRENCH),
        # Wrong declarations: UTF-8 bytes labelled Latin-1 or ASCII, cp1252 bytes labelled UTF-8.
        ("iso-8859-1", FRENCH.encode("utf-8"), FRENCH),
        ("us-ascii", GERMAN.encode("utf-8"), GERMAN),
        ("utf-8", GERMAN.encode("cp1252"), GERMAN),
        # Unknown or missing charsets.
        ("x-no-such-charset", FRENCH.encode("utf-8"), FRENCH),
        ("x-no-such-charset", GERMAN.encode("cp1252"), GERMAN),
        ("utf\x00-8", FRENCH.encode("utf-8"), FRENCH),  # a damaged declaration
        (None, FRENCH.encode("cp1252"), FRENCH),
        ("", GERMAN.encode("utf-8"), GERMAN),
        # ISO-2022-JP, declared, declared as ASCII, or not declared at all.
        ("iso-2022-jp", JAPANESE.encode("iso-2022-jp"), JAPANESE),
        ("us-ascii", JAPANESE.encode("iso-2022-jp"), JAPANESE),
        (None, JAPANESE.encode("iso-2022-jp"), JAPANESE),
        ("shift_jis", JAPANESE.encode("cp932"), JAPANESE),
        ("gb2312", CHINESE.encode("gb18030"), CHINESE),
    ],
)
def test_decode_text_fallback_chain(declared: str | None, data: bytes, expected: str) -> None:
    assert decode_text(data, declared) == expected


def test_decode_text_never_raises_on_bytes_no_charset_decodes() -> None:
    # 0x81 and 0x8d are undefined in Windows-1252: Latin-1 is the last resort, which always works.
    assert decode_text(b"abc \x81\x8d\xff", "utf-8") == "abc \x81\x8d\xff"


def test_html_meta_charset_is_honoured_when_the_header_says_nothing() -> None:
    page = f"<html><head><meta charset='windows-1252'></head><body>{FRENCH}</body></html>".encode("cp1252")
    assert FRENCH in decode_text(page, None, html=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=?utf-8?q?Bo=C3=AEte_pleine?=", "Boîte pleine"),
        ("=?iso-2022-jp?b?" + base64.b64encode(JAPANESE.encode("iso-2022-jp")).decode() + "?=", JAPANESE),
        # An encoded word in a charset nobody knows, or the wrong one, is decoded by the fall-backs.
        ("=?x-unknown?q?Gr=C3=BC=C3=9Fe?= aus Berlin", "Grüße aus Berlin"),
        ("=?utf-8?q?Gr=FC=DFe?=", "Grüße"),
        # Adjacent encoded words join without the space between them (RFC 2047 section 6.2).
        ("=?utf-8?q?Undeliver?= =?utf-8?q?able?=: x", "Undeliverable: x"),
        ("Delivery\r\n  failed", "Delivery failed"),
        ("=?utf-8?q?broken", "=?utf-8?q?broken"),
        (None, ""),
    ],
)
def test_decode_header_value(value: str | None, expected: str) -> None:
    assert decode_header_value(value) == expected


def test_raw_8bit_header_bytes_are_recovered() -> None:
    msg = message_from_bytes("Subject: Unzustellbar: Grüße\r\n\r\n".encode("cp1252"), policy=compat32)
    assert decode_header_value(msg["Subject"]) == "Unzustellbar: Grüße"
    assert fix_surrogates("plain") == "plain"


def test_part_text_undoes_base64_and_charset() -> None:
    part = _part("text/plain; charset=iso-8859-1", base64.encodebytes(GERMAN.encode("cp1252")), "base64")
    assert part_text(part) == GERMAN


def test_broken_base64_keeps_what_decodes() -> None:
    good = base64.b64encode(FRENCH.encode("utf-8"))
    part = _part("text/plain; charset=utf-8", good.rstrip(b"=") + b"\r\n", "base64")  # padding lost
    assert part_text(part) == FRENCH


def test_body_labelled_base64_that_is_plain_text_is_kept() -> None:
    body = b"Delivery to the following recipient failed: <ana@example.com> (mailbox full)\r\n"
    part = _part("text/plain; charset=us-ascii", body, "base64")
    assert part_bytes(part) == body


def test_base64_with_no_decodable_quantum_keeps_the_body() -> None:
    part = _part("text/plain", b"@@@@\r\n", "base64")
    assert part_text(part) == "@@@@\r\n"


def test_broken_quoted_printable_keeps_the_text() -> None:
    part = _part("text/plain; charset=utf-8", b"Bo=C3=AEte pleine=\r\n =ZZ fin=4", "quoted-printable")
    assert part_text(part) == "Boîte pleine =ZZ fin=4"


def test_8bit_part_in_wrong_charset() -> None:
    part = _part("text/plain; charset=utf-8", GERMAN.encode("cp1252"), "8bit")
    assert part_text(part) == GERMAN
