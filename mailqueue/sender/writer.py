"""Writing an outgoing message: directly for the sender's usual shape, by the standard library otherwise.

The sender's messages nearly all have one shape: a few headers, a ``multipart/alternative`` of a
text and an HTML body, and maybe some file attachments (``multipart/mixed``). The standard
library's ``EmailMessage`` spends most of a campaign's send time on that shape: every header is
parsed into an object and folded back, and quoted-printable is encoded one character at a time
in Python. :func:`write_message` writes that shape directly (headers by hand, bodies encoded by
``binascii``) and hands anything unusual to the standard library (:func:`write_stdlib`), which
stays the reference: ``mailqueue/tests/test_writer.py`` checks that both messages, parsed back
by the standard library, have the same headers, parts, types, charsets, file names and contents.

What the direct writer leaves to the standard library:

* a structured header (addresses, dates, ``Content-*``…), folded by the standard library itself
  (and remembered: From and Reply-To are the same for a whole campaign);
* an unstructured header (Subject, custom headers) that cannot be written plainly: a word too
  long to fold, control characters, text that looks like an encoded word, or non-ASCII text
  with surrounding spaces. Other non-ASCII text becomes RFC 2047 encoded words;
* a whole message with a ``message/rfc822`` attachment, or an attachment whose type or file
  name is not plain ASCII that fits on one line.

Bodies get the transfer encoding the standard library would choose: 7bit or 8bit when every
line fits in 78 octets, else quoted-printable for mostly-ASCII text and base64 for the rest.
"""

from __future__ import annotations

import base64
import binascii
import functools
import random
import re
import sys
from dataclasses import dataclass, field
from email import message_from_bytes
from email import policy as email_policy
from email.headerregistry import HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage

__all__ = ["Attachment", "Draft", "write_message", "write_stdlib"]

_SMTP_POLICY = email_policy.SMTP
# RFC 5322 §2.1.1: lines SHOULD be at most 78 characters (the standard library folds there too).
MAX_LINE = 78
_MAX_WORD = 75  # RFC 2047 §2: an encoded word is at most 75 characters
# Headers the standard library parses into structured objects (addresses, dates, MIME headers):
# those are always folded by it, so their parsing rules stay exactly its own.
_STRUCTURED = frozenset(
    name for name, cls in HeaderRegistry().registry.items() if not issubclass(cls, UnstructuredHeader)
)
# Printable ASCII, space and tab: written as they are when the line fits (or can be folded at spaces).
_PLAIN_TEXT = re.compile(r"[\t\x20-\x7e]*")
# A MIME type or subtype the direct writer copies as it is (RFC 2045 token, lower case).
_TOKEN = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*")
# A file name written inside double quotes as it is: printable ASCII without quote or backslash.
_PLAIN_FILENAME = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]([\x20\x21\x23-\x5b\x5d-\x7e]*[\x21\x23-\x5b\x5d-\x7e])?")


@dataclass(frozen=True)
class Attachment:
    name: str
    data: bytes
    mimetype: str


@dataclass(frozen=True)
class Draft:
    """An outgoing message before it is written.

    ``headers`` in the order they are written (without MIME-Version and Content-*), a text and an
    HTML alternative of the body, and the attachments.
    """

    headers: list[tuple[str, str]]
    text: str
    html: str
    attachments: list[Attachment] = field(default_factory=list)


def write_message(draft: Draft) -> bytes:
    """The message as handed to an SMTP server (CRLF line ends), without a trailing blank line."""
    written = _write_direct(draft)
    return written if written is not None else write_stdlib(draft)


# --- the standard library -----------------------------------------------------------------------
def write_stdlib(draft: Draft) -> bytes:
    """The message written by the standard library's ``EmailMessage`` (the reference)."""
    msg = EmailMessage(policy=_SMTP_POLICY)
    for name, value in draft.headers:
        msg[name] = value
    msg.set_content(draft.text, subtype="plain", charset="utf-8")
    msg.add_alternative(draft.html, subtype="html", charset="utf-8")
    for attachment in draft.attachments:
        _attach(msg, attachment)
    return msg.as_bytes(policy=_SMTP_POLICY)


def _attach(msg: EmailMessage, attachment: Attachment) -> None:
    maintype, subtype = attachment_type(attachment.mimetype)
    if (maintype, subtype) == ("message", "rfc822"):
        # Odoo embeds attached e-mails as parsed messages, so clients show them inline.
        msg.add_attachment(message_from_bytes(attachment.data, policy=email_policy.default), filename=attachment.name)
        return
    msg.add_attachment(attachment.data, maintype=maintype, subtype=subtype, filename=attachment.name)


def attachment_type(mimetype: str) -> tuple[str, str]:
    """(maintype, subtype) an attachment is sent as: a multipart or message type other than an
    attached e-mail cannot be a file's type, so it is sent as bytes."""
    maintype, _, subtype = (mimetype or "application/octet-stream").partition("/")
    if (maintype, subtype) == ("message", "rfc822"):
        return maintype, subtype
    if maintype in {"", "message", "multipart"} or not subtype:
        return "application", "octet-stream"
    return maintype, subtype


def header_error(name: str, value: str) -> Exception | None:
    """The error the standard library raises for this header (``msg[name] = value``), or None.

    Only structured headers are parsed; an unstructured value without line breaks never fails.
    """
    if name.lower() not in _STRUCTURED:
        return None
    try:
        _SMTP_POLICY.header_store_parse(name, value)
    except (ValueError, TypeError) as exc:
        return exc
    return None


# --- the direct writer --------------------------------------------------------------------------
def _write_direct(draft: Draft) -> bytes | None:
    """The message, or None when it has something only the standard library writes."""
    head = []
    for name, value in draft.headers:
        line = _header(name, value)
        if line is None:
            return None
        head.append(line)
    head.append(b"MIME-Version: 1.0\r\n")
    alternative = [
        _text_part("plain", draft.text, mime_version=False),
        _text_part("html", draft.html, mime_version=True),
    ]
    if not draft.attachments:
        return b"".join(head) + _multipart("alternative", alternative)
    parts = [_multipart("alternative", alternative)]
    for attachment in draft.attachments:
        part = _attachment_part(attachment)
        if part is None:
            return None
        parts.append(part)
    return b"".join(head) + _multipart("mixed", parts)


def _header(name: str, value: str) -> bytes | None:
    if name.lower() in _STRUCTURED:
        return _folded_by_stdlib(name, value)
    if "=?" in value:
        return None  # the standard library would decode it as an encoded word (RFC 2047)
    if value.isascii():
        return _plain_header(name, value) if _PLAIN_TEXT.fullmatch(value) else None
    if value != value.strip() or not value.isprintable():
        return None
    return _encoded_header(name, value)


@functools.lru_cache(maxsize=512)
def _folded_by_stdlib(name: str, value: str) -> bytes:
    # Exactly what ``msg[name] = value`` then ``as_bytes`` writes for this header (and the same
    # ValueError for a line break in the value).
    _name, header = _SMTP_POLICY.header_store_parse(name, value)
    return str(header.fold(policy=_SMTP_POLICY)).encode("ascii")


def _plain_header(name: str, value: str) -> bytes | None:
    """``name: value``, folded before spaces where the line would pass 78 characters.

    Unfolding (removing each CRLF, RFC 5322 §2.2.3) gives the value back. None when a word is too
    long to fit on a line.
    """
    line = f"{name}: {value}"
    if len(line) <= MAX_LINE:
        return line.encode("ascii") + b"\r\n"
    lines: list[str] = []
    current = f"{name}:"
    for word in value.split(" "):
        if word and len(current) + 1 + len(word) > MAX_LINE and current.strip(" \t"):
            lines.append(current)
            current = ""
        current += " " + word
    lines.append(current)
    if any(len(line) > MAX_LINE for line in lines) or not lines[0][len(name) + 1 :].strip(" \t"):
        return None
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def _encoded_header(name: str, value: str) -> bytes | None:
    """Non-ASCII text as RFC 2047 encoded words (UTF-8, base64), one per line.

    Each word holds whole characters and stays within 75 characters (RFC 2047 §2); a reader
    joins adjacent encoded words without the folding between them (§6.2), so the text comes back
    exactly.
    """
    words: list[str] = []
    # "=?utf-8?b?" + "?=" is 12 characters; 4 base64 characters carry 3 octets.
    room = min(MAX_LINE - len(name) - 2, _MAX_WORD)  # the first line: after "Name: "
    chunk = bytearray()
    for char in value:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > (room - 12) // 4 * 3:
            if not chunk:
                return None  # a header name too long to leave room for a word
            words.append(_encoded_word(bytes(chunk)))
            chunk = bytearray()
            room = _MAX_WORD  # the next lines: after the folding space
        chunk += encoded
    words.append(_encoded_word(bytes(chunk)))
    return (f"{name}: " + "\r\n ".join(words) + "\r\n").encode("ascii")


def _encoded_word(data: bytes) -> str:
    return "=?utf-8?b?" + base64.b64encode(data).decode("ascii") + "?="


def _text_part(subtype: str, text: str, *, mime_version: bool) -> bytes:
    encoding, body = _encode_text(text)
    head = f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {encoding}\r\n'
    if mime_version:
        # The standard library gives every part added after the first its own MIME-Version.
        head += "MIME-Version: 1.0\r\n"
    return head.encode("ascii") + b"\r\n" + body


def _encode_text(text: str) -> tuple[str, bytes]:
    """(transfer encoding, body with CRLF line ends), chosen as the standard library chooses.

    Lines are split at CR, LF and CRLF and end with CRLF. Every line within 78 octets: 7bit, or
    8bit with non-ASCII text. Otherwise the shorter of quoted-printable and base64 over the first
    ten lines.
    """
    lines = text.encode("utf-8").splitlines()
    body = b"\r\n".join(lines) + b"\r\n"
    if max((len(line) for line in lines), default=0) <= MAX_LINE:
        return ("7bit" if body.isascii() else "8bit"), body
    sniff = body if len(lines) <= 10 else b"\r\n".join(lines[:10]) + b"\r\n"
    sniff_qp = binascii.b2a_qp(sniff, istext=True)
    if len(sniff_qp) > len(binascii.b2a_base64(sniff)):
        return "base64", _base64_lines(body)
    # Quoted-printable (RFC 2045 §6.7): lines of at most 76 characters, trailing spaces encoded,
    # CRLF line ends kept (binascii writes its soft line breaks the way the first line ends).
    return "quoted-printable", sniff_qp if sniff is body else binascii.b2a_qp(body, istext=True)


def _base64_lines(data: bytes) -> bytes:
    # 76 characters a line (RFC 2045 §6.8), 57 octets each, as the standard library writes it.
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _attachment_part(attachment: Attachment) -> bytes | None:
    maintype, subtype = attachment_type(attachment.mimetype)
    if (maintype, subtype) == ("message", "rfc822") or not (_TOKEN.fullmatch(maintype) and _TOKEN.fullmatch(subtype)):
        return None
    disposition = f'Content-Disposition: attachment; filename="{attachment.name}"'
    if len(disposition) > MAX_LINE or not _PLAIN_FILENAME.fullmatch(attachment.name):
        return None
    head = (
        f"Content-Type: {maintype}/{subtype}\r\nContent-Transfer-Encoding: base64\r\n{disposition}\r\n"
        "MIME-Version: 1.0\r\n\r\n"
    )
    return head.encode("ascii") + _base64_lines(attachment.data)


def _multipart(subtype: str, parts: list[bytes]) -> bytes:
    """A multipart body with its Content-Type header: a blank line after each part, as the
    standard library writes it. The boundary is the standard library's kind, and never a line
    of the parts (only 7bit and 8bit bodies could hold one)."""
    while True:
        boundary = f"==============={random.randrange(sys.maxsize):019d}=="
        if not any(boundary.encode("ascii") in part for part in parts):
            break
    header = f'Content-Type: multipart/{subtype}; boundary="{boundary}"'
    if len(header) > MAX_LINE:
        header = f'Content-Type: multipart/{subtype};\r\n boundary="{boundary}"'
    delimiter = f"--{boundary}\r\n".encode("ascii")
    body = b"\r\n".join(delimiter + part for part in parts)
    return f"{header}\r\n\r\n".encode("ascii") + body + f"\r\n--{boundary}--\r\n".encode("ascii")
