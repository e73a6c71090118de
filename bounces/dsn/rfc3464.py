"""RFC 3464 delivery status notifications: the machine-readable per-recipient blocks."""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from dataclasses import dataclass
from email.message import Message

from bounces.dsn.mime import DELIVERY_STATUS_TYPES, content_type, iter_parts, normalize_email, part_text
from mailcore.mime import decode_text

_FIELD_RE = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)$")
# The address-type / diagnostic-type prefix of RFC 3464 fields ("smtp; 550 ...", "X-Postfix; ...").
_TYPE_PREFIX_RE = re.compile(r"^\s*[A-Za-z][A-Za-z0-9-]*\s*;\s*")
_STATUS_VALUE_RE = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})")
RECIPIENT_FIELDS = ("final-recipient", "original-recipient", "x-actual-recipient")
_BLANK_LINE_RE = re.compile(r"\n[ \t]*\n")
_RECIPIENT_LINE_RE = re.compile(r"(?i)(final|original)-recipient[ \t]*:")


def _split_recipient_blocks(text: str) -> list[str]:
    """The blank-line separated blocks, each further cut where a recipient field repeats: some
    MTAs (AOL's) write the per-recipient blocks without the blank line between them."""
    blocks = []
    for block in _BLANK_LINE_RE.split(text):
        if len(_RECIPIENT_LINE_RE.findall(block)) < 2:
            blocks.append(block)
            continue
        current: list[str] = []
        seen: set[str] = set()
        for line in block.split("\n"):
            match = _RECIPIENT_LINE_RE.match(line)
            if match:
                name = match.group(1).lower()
                if name in seen:
                    blocks.append("\n".join(current))
                    current, seen = [], set()
                seen.add(name)
            current.append(line)
        blocks.append("\n".join(current))
    return blocks


@dataclass(frozen=True)
class DsnRecipient:
    """One per-recipient block, as written (classification happens later)."""

    email: str
    action: str  # lower-cased Action field, "" when missing
    status: str | None
    diagnostic: str
    # The Diagnostic-Code's type: "smtp" for a remote server's reply, "x-unix" when the local
    # delivery program (procmail, a pipe) failed.
    diagnostic_type: str = ""


def _as_text(part: Message) -> str:
    payload = part.get_payload()
    if not isinstance(payload, list):
        return part_text(part)
    # compat32 parses message/delivery-status into one Message per header block; flatten them
    # back to bytes (keeping 8-bit addresses of RFC 6533 reports intact).
    # Rebuilt from the raw header values rather than by a generator (five times faster).
    chunks = []
    for block in payload:
        if not isinstance(block, Message):
            continue
        head = "".join(f"{name}: {value}\n" for name, value in block.raw_items()).encode("utf-8", "surrogateescape")
        # A block's lines that did not read as headers are its body; decode=True keeps 8-bit bytes.
        body = block.get_payload(decode=True) if isinstance(block.get_payload(), str) else b""
        chunks.append(head + (body if isinstance(body, bytes) else b""))
    raw = b"\n\n".join(chunks)
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    try:
        # A transfer-encoded delivery-status part was parsed as one header-less block.
        if encoding == "base64":
            raw = base64.b64decode(b"".join(raw.split()))
        elif encoding == "quoted-printable":
            raw = quopri.decodestring(raw)
    except (binascii.Error, ValueError):
        pass
    return decode_text(raw, "utf-8")


def parse_fields(block: str) -> dict[str, str]:
    """Header-style ``Name: value`` lines with folding undone; the first occurrence wins."""
    fields: dict[str, str] = {}
    name = ""
    for line in block.split("\n"):
        if line[:1] in (" ", "\t") and name:
            fields[name] += " " + line.strip()
            continue
        match = _FIELD_RE.match(line)
        if match:
            name = match.group(1).lower()
            if name in fields:
                name = ""  # keep the first value; ignore the duplicate and its continuations
                continue
            fields[name] = match.group(2).strip()
        else:
            name = ""
    return fields


def clean_diagnostic(value: str) -> str:
    """One trimmed line: folding undone, the ``smtp;`` type prefix removed."""
    text = " ".join((value or "").split())
    text = _TYPE_PREFIX_RE.sub("", text, count=1) if _TYPE_PREFIX_RE.match(text) else text
    return text.strip()


def parse_blocks(text: str) -> list[DsnRecipient]:
    """Every per-recipient block found in delivery-status text (blank-line separated)."""
    recipients: list[DsnRecipient] = []
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Some MTAs (AOL's) write the per-recipient blocks without the blank line between them: a
    # recipient field that follows any other field starts a new block.
    for block in _split_recipient_blocks(text):
        fields = parse_fields(block)
        if not any(f in fields for f in RECIPIENT_FIELDS):
            continue
        # The address that failed is the Final-Recipient (after any alias expansion or
        # forwarding); the gateway's bounce token still names the delivery we made.
        email = None
        for name in ("final-recipient", "original-recipient", "x-actual-recipient"):
            email = normalize_email(fields.get(name))
            if email:
                break
        if not email:
            continue
        status_match = _STATUS_VALUE_RE.search(fields.get("status", ""))
        recipients.append(
            DsnRecipient(
                email=email,
                action=fields.get("action", "").split()[0].lower() if fields.get("action") else "",
                status=".".join(status_match.groups()) if status_match else None,
                diagnostic=clean_diagnostic(fields.get("diagnostic-code", "")),
                diagnostic_type=fields.get("diagnostic-code", "").partition(";")[0].strip().lower(),
            )
        )
    return recipients


def delivery_status_parts(msg: Message) -> list[Message]:
    return [p for p in iter_parts(msg) if content_type(p) in DELIVERY_STATUS_TYPES]


def parse_dsn(msg: Message) -> tuple[bool, list[DsnRecipient]]:
    """``(has_delivery_status_part, recipients)`` from the message/delivery-status part(s)."""
    parts = delivery_status_parts(msg)
    recipients: list[DsnRecipient] = []
    for part in parts:
        recipients.extend(parse_blocks(_as_text(part)))
    return bool(parts), recipients


def parse_inline_dsn(text: str) -> list[DsnRecipient]:
    """Last resort for broken MIME: DSN fields found anywhere in the readable text."""
    if not re.search(r"(?im)^(final|original)-recipient\s*:", text):
        return []
    return parse_blocks(text)
