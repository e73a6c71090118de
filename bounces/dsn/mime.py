"""Tolerant MIME helpers: nothing here raises on a malformed message.

Bounces are written by every kind of mail software, often badly: wrong charsets, missing
boundaries, 8-bit bytes in headers. The standard library's ``compat32`` policy is the most
forgiving parser; these helpers walk its result. Decoding (charsets, transfer encodings, encoded
words) is :mod:`mailcore.mime`'s, shared with the chatter.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32

from mailcore.addresses import address_is_valid
from mailcore.mime import decode_header_value, fix_surrogates, part_text

_MSGID_RE = re.compile(r"<[^<>\s]+>")
# Parts that carry the returned message rather than the notice itself.
RETURNED_TYPES = ("message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers")
DELIVERY_STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")


def message_from_raw(raw: bytes) -> Message:
    """Parse bytes with the most tolerant policy (defects are recorded, never raised)."""
    return message_from_bytes(raw, policy=compat32)


def header(msg: Message, name: str) -> str:
    """The decoded, unfolded value of a header, or ``""`` (RFC 2047 words decoded)."""
    try:
        value = msg.get(name)
    except Exception:
        return ""
    return decode_header_value(value)


def content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except Exception:
        return "text/plain"


def param(part: Message, name: str) -> str:
    try:
        value = part.get_param(name)
    except Exception:
        return ""
    if isinstance(value, tuple):  # RFC 2231 value
        value = value[2]
    return str(value or "").lower()


def html_to_text(markup: str) -> str:
    """Readable text from HTML: block tags become line breaks, entities are decoded."""
    markup = re.sub(r"(?is)<(script|style|head)\b.*?</\1\s*>", " ", markup)
    markup = re.sub(r"(?i)<br\s*/?>|</?(p|div|tr|li|h\d|table|pre|blockquote)\b[^>]*>", "\n", markup)
    markup = re.sub(r"<[^>]*>", "", markup)
    return html.unescape(markup)


def iter_parts(msg: Message, *, skip_returned: bool = True) -> Iterator[Message]:
    """Every part of ``msg`` depth first; the returned message's subtree is skipped on request."""
    stack = [msg]
    while stack:
        part = stack.pop(0)
        yield part
        ctype = content_type(part)
        if skip_returned and part is not msg and ctype in RETURNED_TYPES:
            continue
        if ctype in DELIVERY_STATUS_TYPES:
            continue  # its "sub-messages" are header blocks, read by the DSN parser
        if part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                stack[0:0] = [p for p in payload if isinstance(p, Message)]


def human_text(msg: Message) -> str:
    """The notice's own readable text (not the returned message): text/plain parts, else HTML."""
    plain: list[str] = []
    markup: list[str] = []
    for part in iter_parts(msg):
        ctype = content_type(part)
        if ctype.startswith("multipart/") or part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, str):  # a multipart whose boundary never appears: use it raw
                plain.append(fix_surrogates(payload))
            continue
        try:
            disposition = (part.get("Content-Disposition") or "").lower()
        except Exception:
            disposition = ""
        if disposition.startswith("attachment") and part is not msg:
            continue
        if ctype == "text/plain" or (part is msg and not ctype.startswith(("text/html", "multipart/"))):
            plain.append(part_text(part))
        elif ctype == "text/html":
            markup.append(html_to_text(part_text(part)))
    text = "\n".join(plain) if any(p.strip() for p in plain) else "\n".join(markup)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_header_block(text: str) -> Message:
    """Parse a block of header lines (RFC 822 syntax) into a Message, leniently."""
    return HeaderParser(policy=compat32).parsestr(text.lstrip("\r\n"), headersonly=True)


def normalize_email(text: str | None) -> str | None:
    """``user@example.com`` from ``rfc822; <User@Example.com>``-like text, lower-cased, or None."""
    if not text:
        return None
    value = text.strip()
    if ";" in value:  # an RFC 3464 address-type prefix ("rfc822;")
        kind, _, rest = value.partition(";")
        if kind.strip().lower() not in ("rfc822", "utf-8", "x-unknown", "unknown"):
            return None
        value = rest.strip()
    match = re.search(r"<([^<>\s]+@[^<>\s]+)>", value)
    if match:
        value = match.group(1)
    value = value.strip().strip("<>\"'()[],.:;").removeprefix("mailto:")
    # A bounced recipient is a routable address: its domain has a dot (unlike our own checks,
    # which also accept "user@localhost").
    if value.count("@") != 1 or not address_is_valid(value) or "." not in value.rpartition("@")[2]:
        return None
    return value.lower()


EMAIL_SEARCH_RE = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+"
)


def message_ids(text: str) -> list[str]:
    """Every ``<id>`` in a Message-ID / References style header value, in order."""
    return _MSGID_RE.findall(text or "")


def one_message_id(text: str) -> str | None:
    """The Message-ID in a header value, bracketed even when the sender forgot the brackets."""
    ids = message_ids(text)
    if ids:
        return ids[0]
    value = (text or "").strip()
    if value and "@" in value and " " not in value:
        return f"<{value}>"
    return None
