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
# (Bigfoot returns the message as message/partial: a fragment that starts with its headers.)
RETURNED_TYPES = (
    "message/rfc822",
    "message/global",
    "text/rfc822-headers",
    "message/global-headers",
    "message/partial",
)
DELIVERY_STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")


MAX_DEPTH = 12


def message_from_raw(raw: bytes) -> Message:
    """Parse bytes into the tree of ``compat32`` messages the standard library would build.

    Header lines and multipart bodies are split here, the way the stdlib's feed parser reads them
    with the ``compat32`` policy, its most tolerant. The feed parser compiles a regular expression
    for every boundary it meets (every bounce has new ones) and reads line by line: together
    about a third of a parse.
    Leaves keep their body as sent (transfer encoding undone later), ``message/rfc822`` parts
    hold their parsed message, as with the stdlib; delivery-status parts keep their text.
    """
    try:
        return _parse_part(raw.decode("ascii", "surrogateescape"), 0)
    except Exception:  # anything unexpected: the stdlib parser, which never raises
        return message_from_bytes(raw, policy=compat32)


# A header line as the stdlib's feed parser sees one: a name of printable characters but the
# colon, then the colon; a continuation starts with a space or a tab.
_HEADER_LINE_RE = re.compile(r"[\041-\071\073-\176]*:")


def _read_headers(msg: Message, head: str) -> str:
    """Add the header lines of ``head`` to ``msg`` as ``compat32`` stores them (folded values
    keep their line breaks; ``set_raw`` is the parsers' way in, as the stdlib's feed parser uses
    it); return what follows the first line that is not a header."""
    lines = head.splitlines(keepends=True)
    name: str | None = None
    value: list[str] = []
    for index, line in enumerate(lines):
        if line[:1] in (" ", "\t"):
            if name is not None:
                value.append(line)
            continue
        if index == 0 and line.startswith("From "):
            msg.set_unixfrom(line.rstrip("\r\n"))
            continue
        match = _HEADER_LINE_RE.match(line)
        if match is None:
            if line.strip() and name is not None:
                msg.set_raw(name, "".join(value).rstrip("\r\n"))
                name = None
            if line.strip():
                return "".join(lines[index:])
            continue
        if name is not None:
            msg.set_raw(name, "".join(value).rstrip("\r\n"))
        name = line[: match.end() - 1]
        value = [line[match.end() :].lstrip(" \t")]
    if name is not None:
        msg.set_raw(name, "".join(value).rstrip("\r\n"))
    return ""


def _split_head(text: str) -> tuple[str, str]:
    ends = [i for i in (text.find("\n\n"), text.find("\r\n\r\n")) if i >= 0]
    if not ends:
        return text, ""
    end = min(ends)
    cut = end + (2 if text.startswith("\n\n", end) else 4)
    return text[:cut], text[cut:]


def _parse_part(text: str, depth: int) -> Message:
    if text.startswith(("\n", "\r\n")):
        msg = Message()  # a part without headers: plain text (RFC 2046 section 5.1.1)
        msg.set_payload(text[2 if text.startswith("\r\n") else 1 :])
        return msg
    head, body = _split_head(text)
    msg = Message()
    leftover = _read_headers(msg, head)
    if leftover:
        body = leftover + body  # lines that were not headers start the body, as the stdlib reads them
    msg.set_payload(body)
    if depth >= MAX_DEPTH:
        return msg
    ctype = content_type(msg)
    if ctype.startswith("multipart/"):
        boundary = msg.get_boundary()
        parts = _split_multipart(body, boundary) if boundary else None
        if parts is not None:
            msg.set_payload([_parse_part(part, depth + 1) for part in parts])
    elif ctype.startswith("message/") and ctype not in DELIVERY_STATUS_TYPES:
        # Like the stdlib, whatever the transfer encoding says; but blank lines before the
        # returned message's headers (some MTAs add them) do not hide its headers.
        msg.set_payload([_parse_part(body.lstrip("\r\n"), depth + 1)])
    return msg


def _split_multipart(body: str, boundary: str) -> list[str] | None:
    """The bodies between ``--boundary`` lines (None when the boundary never appears, which the
    stdlib also leaves as one text; a missing closing line ends the last part at the end)."""
    delimiter = "--" + boundary
    marks: list[tuple[int, int, bool]] = []  # (line start, next line start, closing)
    index = body.find(delimiter)
    while index != -1:
        if index == 0 or body[index - 1] in "\r\n":
            line_end = body.find("\n", index)
            line_end = len(body) if line_end == -1 else line_end
            rest = body[index + len(delimiter) : line_end]
            closing = rest.startswith("--")
            if not (rest[2:] if closing else rest).strip():
                marks.append((index, line_end + 1, closing))
                if closing:
                    break
        index = body.find(delimiter, index + len(delimiter))
    if not marks:
        return None
    parts = []
    for (_start, content_start, closing), following in zip(marks, [*marks[1:], None], strict=True):
        if closing:
            break
        end = following[0] if following else len(body)
        chunk = body[content_start:end]
        # The line break before a boundary line belongs to the boundary (RFC 2046 section 5.1.1).
        if chunk.endswith("\r\n"):
            chunk = chunk[:-2]
        elif chunk.endswith("\n"):
            chunk = chunk[:-1]
        parts.append(chunk)
    return parts


_HEADERS = "_bounce_headers"
_CONTENT_TYPE = "_bounce_content_type"


def header(msg: Message, name: str) -> str:
    """The decoded, unfolded value of a header (its first occurrence), or ``""``.

    The raw values are indexed on the message at the first call: a parse asks each message
    for a dozen headers, and ``Message.get`` scans them all each time."""
    index: dict[str, object] | None = msg.__dict__.get(_HEADERS)
    if index is None:
        index = {}
        for key, raw in msg.raw_items():
            index.setdefault(key.lower(), raw)
        msg.__dict__[_HEADERS] = index
    found = index.get(name.lower())
    return decode_header_value(found) if found is not None else ""


def content_type(part: Message) -> str:
    """The part's content type, lower-cased (``text/plain`` when unreadable).

    Remembered on the part: a parse asks for each part's type several times, and the standard
    library re-parses the header each time."""
    cached = part.__dict__.get(_CONTENT_TYPE)
    if cached is not None:
        return str(cached)
    try:
        ctype = part.get_content_type().lower()
    except Exception:
        ctype = "text/plain"
    part.__dict__[_CONTENT_TYPE] = ctype
    return ctype


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
