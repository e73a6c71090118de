"""The sender's direct MIME writer gives the message the standard library gives, read back by the standard library."""

from __future__ import annotations

from email import message_from_bytes
from email import policy as email_policy
from email.headerregistry import AddressHeader
from email.message import MIMEPart
from email.utils import formataddr, formatdate
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from mailqueue.sender.writer import Attachment, Draft, _write_direct, write_message, write_stdlib

DATE = formatdate(0, usegmt=True)


def _read(raw: bytes) -> Any:
    """What a reader of the message gets: every header decoded, then every part's type, charset,
    file name and decoded content, in order. Two things may differ and are left out: the boundary
    (random) and the transfer encoding (quoted-printable by either encoder is decoded with LF line
    ends, other encodings keep CRLF: line ends are compared as lines)."""
    msg = message_from_bytes(raw, policy=email_policy.default)
    return _read_part(msg)


def _read_part(part: MIMEPart) -> Any:
    headers: list[tuple[Any, ...]] = []
    for name, value in part.items():
        if name.lower() in {"content-transfer-encoding"}:
            continue
        if name.lower() == "content-type":
            params = {k: v for k, v in value.params.items() if k != "boundary"}
            headers.append((name.lower(), value.content_type, params))
        elif isinstance(value, AddressHeader):
            headers.append((name.lower(), [(a.display_name, a.addr_spec) for a in value.addresses]))
        else:
            headers.append((name.lower(), str(value)))
    if part.is_multipart():
        return headers, [_read_part(sub) for sub in part.iter_parts()]
    content = part.get_content()
    if isinstance(content, str):
        content = content.replace("\r\n", "\n")
    elif isinstance(content, MIMEPart):
        content = _read_part(content)
    return headers, part.get_content_type(), part.get_content_charset(), part.get_filename(), content


def _same(draft: Draft) -> None:
    try:
        expected = _read(write_stdlib(draft))
    except (ValueError, TypeError, UnicodeError) as exc:
        # What the standard library refuses, the writer refuses the same way (the row fails).
        with pytest.raises(type(exc)):
            write_message(draft)
        return
    direct = _write_direct(draft)
    event("written directly" if direct is not None else "left to the standard library")
    assert _read(write_message(draft)) == expected


# --- strategies ---------------------------------------------------------------------------------
# Text people write, and what breaks writers: accents, CJK and emoji, tabs and runs of spaces,
# "From " and "." at the start of a line, '=' and what looks like an encoded word.
_pieces = st.sampled_from(
    [
        "From ",
        ".",
        "..",
        "=",
        "=?utf-8?q?x?=",
        " ",
        "  ",
        "\t",
        "é",
        "Zoë",
        "日本語",
        "😀",
        "ß",
        "-",
        ";",
        ",",
        '"',
        "\\",
    ]
)
_chars = st.characters(codec="utf-8", exclude_categories=["Cs"])
_text = st.lists(st.one_of(_pieces, st.text(_chars, max_size=12), st.text("abc xyz", max_size=120)), max_size=12).map(
    "".join
)
_line_ends = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def _body(draw: st.DrawFn) -> str:
    lines = draw(st.lists(st.one_of(_text, st.text("a b", min_size=70, max_size=300)), max_size=15))
    return "".join(line + draw(_line_ends) for line in lines) + draw(st.sampled_from(["", "tail"]))


# Display names as people write them. (The standard library itself cannot read back every name it
# writes: control characters or a lone "<" in a name break its address parser; both writers leave
# address headers to it anyway.)
_name = st.text(st.characters(categories=("L", "N", "Zs"), include_characters=".,'\"-()&"), max_size=40)
_header_value = st.one_of(_name, _text).map(lambda v: " ".join(v.split()))  # as the sender cleans custom headers
_custom = st.lists(
    st.tuples(st.sampled_from(["X-Campaign", "Precedence", "List-Id", "X-A-Rather-Long-Header-Name-For-Folding"]),
              _header_value),
    max_size=3,
    unique_by=lambda h: h[0],
)  # fmt: skip
# Mostly files as people name them (written directly), sometimes what only the standard library writes.
_plain_filename = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 ._()-]{0,25}\.(pdf|txt|png)", fullmatch=True)
_odd_filename = st.one_of(
    st.sampled_from(["a" * 70 + ".pdf", "été.txt", 'say "hi".txt', "", " lead.pdf"]), st.text(_chars, max_size=30)
)
_usual_attachment = st.builds(
    Attachment,
    name=_plain_filename,
    data=st.binary(max_size=300),
    mimetype=st.sampled_from(["application/pdf", "text/plain", "image/png", "", "multipart/mixed", "application"]),
)
_odd_attachment = st.builds(
    Attachment,
    name=_odd_filename,
    data=st.binary(max_size=300),
    mimetype=st.sampled_from(["Image/PNG", "message/rfc822", "text/plain; charset=utf-8"]),
)
_attachments = st.one_of(st.lists(_usual_attachment, max_size=3), st.lists(_odd_attachment, min_size=1, max_size=2))


@st.composite
def _drafts(draw: st.DrawFn) -> Draft:
    sender = formataddr((draw(_name), "sender@example.com"))
    headers = [
        ("From", sender),
        ("Reply-To", draw(st.sampled_from([sender, "replies@example.com"]))),
        ("Subject", draw(st.one_of(_name, _text))),
        ("Date", DATE),
        *draw(_custom),
    ]
    attachments = draw(_attachments)
    return Draft(headers=headers, text=draw(_body()), html=draw(_body()), attachments=attachments)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_drafts())
@example(
    Draft(
        headers=[("From", "Zoë <zoe@example.com>"), ("Subject", "Zoë " * 30), ("Date", DATE)],
        text="From the start\n.\n" + "x" * 200 + " \n",
        html="<p>" + "é" * 200 + "</p>\r\n",
        attachments=[Attachment("report.pdf", b"%PDF", "application/pdf")],
    )
)
def test_the_writer_gives_the_standard_librarys_message(draft: Draft) -> None:
    _same(draft)


# --- the usual shapes never go through the standard library --------------------------------------
CAMPAIGN = Draft(
    headers=[
        ("From", "Mitchell Admin <admin@example.com>"),
        ("Reply-To", "Mitchell Admin <admin@example.com>"),
        ("Subject", "Marc, our new office range is here"),
        ("Date", DATE),
        ("List-Id", "Newsletter <newsletter.example.com>"),
        ("Precedence", "list"),
    ],
    text="Hello Marc,\nOur new office range is here: " + "desks, chairs and cabinets " * 5 + "\n",
    html="<p>Hello Marc,</p><p>Our new <b>office range</b> is here · " + "desks, chairs and cabinets " * 5 + "</p>",
)

ACCENTED = "Zoë, notre nouvelle gamme de bureaux est arrivée"
PRICE_LIST = Attachment("Price list 2026.pdf", b"%PDF-1.4" * 99, "application/pdf")


@pytest.mark.parametrize(
    "draft",
    [
        CAMPAIGN,
        Draft([*CAMPAIGN.headers[:2], ("Subject", ACCENTED), *CAMPAIGN.headers[3:]], "é\n", "<p>é</p>"),
        Draft(CAMPAIGN.headers, "Привет " * 40 + "\n", "<p>" + "Привет " * 40 + "</p>"),
        Draft(CAMPAIGN.headers, CAMPAIGN.text, CAMPAIGN.html, [PRICE_LIST]),
    ],
    ids=["campaign", "accented-subject", "cyrillic-bodies", "attachment"],
)  # fmt: skip
def test_usual_shapes_are_written_directly(draft: Draft) -> None:
    written = _write_direct(draft)
    assert written is not None
    assert _read(written) == _read(write_stdlib(draft))
    assert all(len(line) <= 78 for line in written.split(b"\r\n"))
