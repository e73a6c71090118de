"""Decoding inbound MIME text: one charset fall-back chain for every reader of received mail.

The chatter (an inbound reply shown as a message) and bounce diagnostics both turn parts and
headers of mail written by any software into text. Senders declare charsets that do not exist,
declare the wrong one, put raw 8-bit bytes in headers and break their base64; the reader must
still show something readable and never raise. Everything that decodes received mail goes
through :func:`decode_text`, so a message reads the same in the chatter and in a bounce's
"See Error Details".
"""

from __future__ import annotations

import binascii
import codecs
import re
from email.errors import HeaderParseError
from email.header import Header, decode_header
from email.message import Message

__all__ = ["decode_header_value", "decode_text", "fix_surrogates", "part_bytes", "part_text"]

# Declared charsets that lie or that Python does not know under that name (the WHATWG Encoding
# Standard maps these labels the same way browsers do: a page labelled Latin-1 is read as
# Windows-1252, GB2312 as GB18030, Shift_JIS as Windows-31J...).
_CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "iso-8859-8-i": "iso-8859-8",
    "tis-620": "cp874",
    "windows-874": "cp874",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
    "unicode-1-1-utf-7": "utf-7",
    "utf8": "utf-8",
}
_SINGLE_BYTE = {"cp1252", "ascii", "iso8859-1", "iso8859-15", "iso8859-2", "cp1250"}
# Detection is trusted only for multi-byte (CJK) guesses: on short Latin text it confuses
# Windows-1252 with its neighbours, and Windows-1252 is by far the likeliest there.
_MULTIBYTE = {
    "gb18030",
    "gb2312",
    "gbk",
    "big5",
    "big5hkscs",
    "cp950",
    "cp932",
    "shift_jis",
    "euc_jp",
    "cp949",
    "euc_kr",
    "iso2022_jp",
    "iso2022_kr",
    "utf_16",
    "utf_32",
    "johab",
    "hz",
}
_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_\-:.]+)""", re.IGNORECASE)
# The surrogates ``surrogateescape`` (and the compat32 parser) turn 8-bit bytes into.
_SURROGATE_RE = re.compile("[\udc80-\udcff]")
_BASE64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
_WHITESPACE = frozenset(b" \t\r\n")


def _codec(charset: str | None) -> str | None:
    if not charset:
        return None
    name = charset.strip().strip("\"'").lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):  # unknown, or not even a name ("utf\x00-8")
        return None


def _detected(data: bytes) -> str | None:
    """A multi-byte charset guessed from the bytes, or None (see ``_MULTIBYTE``)."""
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
    except Exception:  # detection is a best effort, never a failure
        return None
    if best is not None and best.encoding.replace("-", "_") in _MULTIBYTE:
        return str(best)
    return None


def decode_text(data: bytes, declared: str | None, *, html: bool = False) -> str:
    """Text of ``data``: the declared charset if it works, else the likeliest one, never an error.

    Order: UTF-8 first when a single-byte charset is declared on 8-bit bytes → ISO-2022-JP when
    its escape sequences are present → the declared charset (strict) → ``<meta charset>`` for
    HTML → UTF-8 → charset detection (multi-byte guesses only) → Windows-1252 → Latin-1.
    """
    candidates: list[str] = []
    declared_codec = _codec(declared)
    eight_bit = not data.isascii()
    if declared_codec in _SINGLE_BYTE and eight_bit:
        # "Latin-1" or "ASCII" on UTF-8 bytes is the commonest broken declaration; valid
        # multi-byte UTF-8 is next to impossible in genuine single-byte text, so try it first.
        candidates.append("utf-8")
    if (b"\x1b$" in data or b"\x1b(" in data) and not (declared_codec or "").startswith("iso2022"):
        # ISO-2022-JP is 7-bit: declared as ASCII (or UTF-8, or nothing) it would decode "fine".
        candidates.append("iso2022_jp_ext")
    if declared_codec:
        candidates.append(declared_codec)
    if html:
        match = _META_CHARSET_RE.search(data[:4096])
        meta_codec = _codec(match.group(1).decode("ascii", "ignore")) if match else None
        if meta_codec:
            candidates.append(meta_codec)
    candidates.append("utf-8")
    for codec in dict.fromkeys(candidates):
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    detected = _detected(data) if eight_bit else None
    if detected is not None:
        return detected
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def fix_surrogates(text: str) -> str:
    """Text whose raw 8-bit bytes (kept as surrogates by the compat32 parser) are decoded."""
    if _SURROGATE_RE.search(text) is None:
        return text
    return decode_text(text.encode("utf-8", "surrogateescape"), None)


def decode_header_value(value: object) -> str:
    """A header as one line of text: RFC 2047 encoded words decoded, each by the charset chain.

    Raw 8-bit bytes (SMTPUTF8, or sloppy senders) are recovered; an encoded word in an unknown
    or wrong charset is decoded by the fall-backs instead of failing the whole header.
    """
    if value is None:
        return ""
    if isinstance(value, Header):
        # compat32 wraps a header holding raw 8-bit bytes in a Header whose str() is U+FFFD:
        # take the bytes back and decode them like any other.
        text = "".join(
            data.decode("ascii", "surrogateescape") if charset in (None, "unknown-8bit") else decode_text(data, charset)
            for data, charset in decode_header(value)
        )
    else:
        text = str(value)
    text = fix_surrogates(text)
    if "=?" not in text:  # no encoded word: nothing to decode (the hot path of the gateway)
        return " ".join(text.split())
    try:
        chunks = decode_header(text)
    except (ValueError, AssertionError, TypeError, binascii.Error, HeaderParseError):  # a damaged encoded word
        return " ".join(text.split())
    pieces: list[str] = []
    for data, charset in chunks:
        if isinstance(data, str):
            pieces.append(data)
        elif charset is None:
            # decode_header hands the unencoded stretches back as raw-unicode-escape bytes.
            try:
                pieces.append(data.decode("raw-unicode-escape"))
            except UnicodeDecodeError:
                pieces.append(data.decode("latin-1"))
        else:
            pieces.append(decode_text(data, charset))
    return " ".join("".join(pieces).split())


def _looks_like_base64(raw: bytes) -> bool:
    # A body labelled base64 that is really plain text (a relay re-encoded it, or never did)
    # has spaces and punctuation inside its lines; genuine base64 has none.
    signal = [b for b in raw[:4096] if b not in _WHITESPACE]
    if not signal:
        return True
    stray = sum(1 for b in signal if b not in _BASE64_ALPHABET)
    return stray * 20 <= len(signal)


def part_bytes(part: Message) -> bytes:
    """The payload of a leaf part with its transfer encoding undone, tolerating broken encodings.

    Broken base64 keeps what decodes; a body labelled base64 that is not base64 at all, or whose
    decoding fails, is kept as it was sent rather than lost.
    """
    raw = part.get_payload()
    if not isinstance(raw, str):
        return b""
    sent = raw.encode("utf-8", "surrogateescape")
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding == "base64" and not _looks_like_base64(sent):
        return sent
    try:
        data = part.get_payload(decode=True)
    except Exception:  # a malformed uuencode or an unexpected codec error: keep the raw text
        return sent
    if not isinstance(data, bytes):
        return sent
    if not data and sent.strip():
        return sent  # nothing decoded from a non-empty body: show it rather than nothing
    return data


def part_text(part: Message) -> str:
    """The decoded text of a leaf part: transfer encoding and charset undone, never an error."""
    try:
        charset = part.get_content_charset()
    except Exception:  # an RFC 2231 charset the stdlib cannot read
        charset = None
    try:
        is_html = part.get_content_type() == "text/html"
    except Exception:
        is_html = False
    return decode_text(part_bytes(part), charset, html=is_html)
