"""The door's header reader gives what the stdlib's compat32 header parser gives, for any input."""

from __future__ import annotations

from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bounces.parsing import _FACT_HEADERS, _fact_headers, header_block, parse_headers

DATA = Path(__file__).parent / "data"


def _stdlib(raw: bytes) -> dict[str, list[str]]:
    """What the gateway read with before: the stdlib parser over the header block."""
    msg = BytesHeaderParser(policy=policy.compat32).parsebytes(header_block(raw))
    found: dict[str, list[str]] = {}
    for key, value in msg.raw_items():
        if key.lower() in _FACT_HEADERS:
            found.setdefault(key.lower(), []).append(str(value))
    return found


@pytest.mark.parametrize("path", sorted(DATA.glob("*.eml")), ids=lambda p: p.name)
def test_every_sample_reads_as_the_stdlib_reads_it(path: Path) -> None:
    raw = path.read_bytes()
    assert _fact_headers(raw) == _stdlib(raw)


EDGE_CASES = [
    b"From sender@example.com Mon Nov  2 10:00:00 2026\r\nSubject: mbox\r\n\r\nbody",
    b" folded before any header\r\nSubject: x\r\n\r\n",
    b"Subject: one\r\n two\r\n\tthree\r\nFrom: a@example.com\r\n\r\n",
    b"Subject : spaced name ends the headers\r\nFrom: a@example.com\r\n\r\n",
    b"Subject: bare LF\nFrom: a@example.com\n\nbody",
    b"Subject: bare CR\rFrom: a@example.com\r\rbody",
    b"Subject: 8-bit \xe9t\xe9\r\nFrom: =?utf-8?q?Caf=C3=A9?= <c@example.com>\r\n\r\n",
    b"References: <a@x>\r\nReferences: <b@x>\r\n <c@x>\r\n\r\n",
    b"Content-Type: Multipart/Report; report-type=delivery-status\r\n\r\n",
    b"Content-Type: broken\r\nContent-Type: text/html\r\n\r\n",
    b"no header at all\r\n\r\n",
    b"",
    b"Subject:\r\nMessage-ID:<no-space@x>\r\n\r\n",
    b"X-Other: a\r\n folded other\r\nSubject: after\r\n\r\n",
    b"Subject: form\x0cfeed and \x1c separators\r\n\r\n",
]


@pytest.mark.parametrize("raw", EDGE_CASES)
def test_edge_cases_read_as_the_stdlib_reads_them(raw: bytes) -> None:
    assert _fact_headers(raw) == _stdlib(raw)


_names = st.sampled_from([*sorted(_FACT_HEADERS), "X-Other", "Received", "Message-Id", "SUBJECT", "Bad Name", ""])
_values = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
_endings = st.sampled_from([b"\r\n", b"\n", b"\r"])
_line = st.one_of(
    st.tuples(_names, _values, _endings).map(lambda t: t[0].encode() + b":" + t[1] + t[2]),
    st.tuples(st.sampled_from([b" ", b"\t"]), _values, _endings).map(lambda t: t[0] + t[1] + t[2]),
    st.tuples(_values, _endings).map(lambda t: t[0] + t[1]),
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.lists(_line, max_size=12), st.binary(max_size=20))
def test_any_header_block_reads_as_the_stdlib_reads_it(lines: list[bytes], body: bytes) -> None:
    raw = b"".join(lines) + b"\r\n" + body
    assert _fact_headers(raw) == _stdlib(raw)


def test_facts_from_a_folded_reply() -> None:
    raw = (
        b"From: =?utf-8?q?Ren=C3=A9?= <Rene@Example.COM>\r\nSubject: =?utf-8?q?Re=3A_caf=C3=A9?=\r\n"
        b"Message-ID: <m1@example.com>\r\nIn-Reply-To: <p@x>\r\nReferences: <a@x>\r\n <p@x>\r\n"
        b"Content-Type: multipart/alternative; boundary=b\r\nAuto-Submitted: auto-replied\r\n\r\nbody"
    )
    facts = parse_headers(raw)
    assert (facts.message_id, facts.in_reply_to, facts.references) == (
        "<m1@example.com>",
        ["<p@x>"],
        ["<a@x>", "<p@x>"],
    )
    assert (facts.subject, facts.sender_email, facts.email_from) == (
        "Re: café",
        "rene@example.com",
        "René <Rene@Example.COM>",
    )
    assert (facts.content_type, facts.is_auto_submitted) == ("multipart/alternative", True)
