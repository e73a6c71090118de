"""Bounce parsing and classification — pure code, no database.

``parse_bounce(raw)`` reads one inbound e-mail and says whether it is a bounce (a delivery
failure or delay notice), which message it returns, and for every failed or delayed recipient
the address, enhanced status code, the remote server's diagnostic, a reason category and
whether the address is dead (the hard/soft rule is in :mod:`bounces.dsn.classify`).

Detection (:mod:`bounces.dsn.detect`): Odoo's ``_detect_is_bounce`` signals plus daemon senders
and Exim's ``X-Failed-Recipients`` decide alone; a bounce subject or an MTA's sentence only counts
when the text names a failed recipient or the mail is marked automated. Vacation replies and ARF
feedback (abuse) reports are recognised and reported as *not* bounces; a delivery report whose
recipients were all delivered / relayed is not a bounce either. The gateway adds what only the
envelope knows (the ``bounce+token`` recipient) on top of this.

Recipients come from, in this order: the RFC 3464 ``message/delivery-status`` blocks; DSN
fields found in the text of a broken MIME message; the readable text of each mail system's own
layout (:mod:`bounces.dsn.heuristics`); Exim's ``X-Failed-Recipients`` header; a report returned
inside the notice (a bounce of a bounce); the single recipient of the returned message. The
returned message is the ``message/rfc822`` / ``text/rfc822-headers`` part, else the copy pasted
in the text.
"""

from __future__ import annotations

import logging
import re
from email.message import Message

from bounces.dsn.classify import classify, find_status, pick_status
from bounces.dsn.detect import (
    AUTO_SUBJECT_RE,
    REPLY_SUBJECT_RE,
    addresses,
    automated,
    is_auto_reply,
    is_feedback,
    strong_bounce_signal,
    weak_bounce_signal,
)
from bounces.dsn.heuristics import TextHit, after_intro, cut_returned, diagnostic_from_region, parse_text
from bounces.dsn.mime import (
    RETURNED_TYPES,
    content_type,
    header,
    human_text,
    iter_parts,
    message_from_raw,
    message_ids,
    normalize_email,
    one_message_id,
    parse_header_block,
    part_text,
)
from bounces.dsn.rfc3464 import DsnRecipient, parse_dsn, parse_fields, parse_inline_dsn
from bounces.dsn.types import (
    EXPIRED,
    HOST_UNKNOWN,
    MAILBOX_FULL,
    OTHER,
    REASONS,
    SPAM_BLOCKED,
    USER_UNKNOWN,
    Action,
    BouncedRecipient,
    BounceReport,
)

__all__ = [
    "EXPIRED",
    "HOST_UNKNOWN",
    "MAILBOX_FULL",
    "OTHER",
    "REASONS",
    "SPAM_BLOCKED",
    "USER_UNKNOWN",
    "BounceReport",
    "BouncedRecipient",
    "classify",
    "notice_excerpt",
    "parse_bounce",
]

logger = logging.getLogger(__name__)

MAX_DIAGNOSTIC = 1000
MAX_EXCERPT = 2000
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_BLANK_LINES_RE = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
# Headers of the returned message kept for matching it to what we sent.
ORIGINAL_HEADERS = (
    "Message-ID",
    "X-Mailcore-Message-Id",
    "X-Microsoft-Original-Message-ID",
    "Subject",
    "From",
    "To",
    "Return-Path",
)

_INLINE_MESSAGE_ID_RE = re.compile(r"(?im)^(?:message-id|x-mailcore-message-id)[ \t]*:")
_HEADER_OR_FOLD_RE = re.compile(r"(?:[\w-]+:\s|[ \t]+\S)")
_HEADER_OR_CONTINUATION_RE = re.compile(r"(?:[\w-]+:|[ \t]+\S)")


def _all_text(msg: Message) -> str:
    chunks = []
    for part in iter_parts(msg, skip_returned=False):
        payload = part.get_payload()
        if part.is_multipart() and isinstance(payload, list):
            continue
        if content_type(part).startswith(("text/", "message/")) or isinstance(payload, str):
            chunks.append(part_text(part))
    return "\n".join(chunks).replace("\r\n", "\n")


def _inline_headers(text: str) -> Message | None:
    """The header block of a message copied inline into a text notice, found by its Message-ID."""
    found = _INLINE_MESSAGE_ID_RE.search(text)
    if found is None:
        return None
    lines = text.split("\n")
    index = text.count("\n", 0, found.start())
    if index < len(lines):
        start = index
        while start > 0 and _HEADER_OR_FOLD_RE.match(lines[start - 1]):
            start -= 1
        end = index + 1
        while end < len(lines) and lines[end].strip() and _HEADER_OR_CONTINUATION_RE.match(lines[end]):
            end += 1
        return parse_header_block("\n".join(lines[start:end]) + "\n")
    return None


def _returned_headers(msg: Message, returned_copy: str) -> Message | None:
    """The headers of the message that came back: a MIME part, else a copy pasted in the text."""
    for part in iter_parts(msg, skip_returned=False):
        if part is msg or content_type(part) not in RETURNED_TYPES:
            continue
        # message/* parts arrive parsed (a list holding one Message); text/rfc822-headers as text.
        payload = part.get_payload()
        if isinstance(payload, list):
            if payload and isinstance(payload[0], Message) and payload[0].keys():
                return payload[0]
        else:
            return parse_header_block(part_text(part))
    if returned_copy:
        found = _inline_headers(returned_copy)
        if found is not None:
            return found
        # A pasted copy without a Message-ID: its leading header block, if it has one.
        head = returned_copy.lstrip("\n").split("\n\n", 1)[0]
        if re.search(r"(?im)^(?:to|from|subject)[ \t]*:", head):
            return parse_header_block(head + "\n")
    for part in iter_parts(msg):
        # A MIME part whose own headers are the returned message's (no Content-Type of its own).
        if part is not msg and not part.is_multipart() and header(part, "Message-ID"):
            return part
    return _inline_headers(_all_text(msg))


def _original_info(msg: Message, returned: Message | None) -> tuple[str | None, list[str], dict[str, str]]:
    headers: dict[str, str] = {}
    references: list[str] = []
    message_id = None
    if returned is not None:
        for name in ORIGINAL_HEADERS:
            value = header(returned, name)
            if value:
                headers[name] = value
        for name in ("Message-ID", "X-Mailcore-Message-Id", "X-Microsoft-Original-Message-ID"):
            message_id = one_message_id(headers.get(name, ""))
            if message_id:
                break
        references += message_ids(header(returned, "In-Reply-To")) + message_ids(header(returned, "References"))
    # Some servers thread the notice to what bounced; Odoo falls back on these too.
    references += message_ids(header(msg, "In-Reply-To")) + message_ids(header(msg, "References"))
    unique = [ref for ref in dict.fromkeys(references) if ref != message_id]
    return message_id, unique, headers


def _dsn_action(recipient: DsnRecipient) -> Action | None:
    action = recipient.action
    if action.startswith(("fail", "expire")):  # "expired" is SendGrid's word for a given-up delivery
        return "failed"
    if action.startswith("delay"):
        return "delayed"
    if action:
        return None  # delivered / relayed / expanded: nothing went wrong
    status = recipient.status or ""
    if status.startswith("2"):
        return None
    return "delayed" if status.startswith("4") else "failed"


def _recipient(email: str, status: str | None, action: Action, diagnostic: str, command: str = "") -> BouncedRecipient:
    diagnostic = " ".join(diagnostic.split())
    if len(diagnostic) > MAX_DIAGNOSTIC:
        diagnostic = diagnostic[: MAX_DIAGNOSTIC - 1] + "…"
    reason, hard, evidence = classify(status, diagnostic, action, command)
    return BouncedRecipient(
        email=email, status=status, action=action, reason=reason, hard=hard, diagnostic=diagnostic, evidence=evidence
    )


def _from_dsn(recipients: list[DsnRecipient], text_hits: list[TextHit]) -> list[BouncedRecipient]:
    by_email = {hit.email: hit for hit in text_hits}
    result: dict[str, BouncedRecipient] = {}
    for dsn in recipients:
        action = _dsn_action(dsn)
        if action is None:
            continue
        hit = by_email.get(dsn.email)
        diagnostic = dsn.diagnostic or (hit.diagnostic if hit else "")
        status = pick_status(dsn.status, diagnostic)
        # A failing local delivery program is a mailer error whatever it printed, not a verdict
        # on the address ("x-unix; procmail: Couldn't create /var/spool/mail/x: No such user").
        command = "LOCAL" if dsn.diagnostic_type == "x-unix" else hit.command if hit else ""
        bounced = _recipient(dsn.email, status, action, diagnostic, command)
        # One address listed twice: a failure outweighs a delay.
        if dsn.email not in result or (result[dsn.email].action == "delayed" and action == "failed"):
            result[dsn.email] = bounced
    return list(result.values())


def _from_text(hits: list[TextHit]) -> list[BouncedRecipient]:
    return [
        _recipient(
            hit.email, find_status(hit.diagnostic), "delayed" if hit.delayed else "failed", hit.diagnostic, hit.command
        )
        for hit in hits
    ]


def _feedback_report(msg: Message) -> BounceReport:
    fields: dict[str, str] = {}
    for part in iter_parts(msg):
        if content_type(part) == "message/feedback-report":
            payload = part.get_payload()
            if isinstance(payload, list):
                for block in payload:
                    if isinstance(block, Message):
                        for key, value in block.items():
                            fields.setdefault(key.lower(), " ".join(str(value).split()))
            else:
                fields.update(parse_fields(part_text(part).replace("\r\n", "\n")))
    returned = _returned_headers(msg, "")
    message_id, references, headers = _original_info(msg, returned)
    email = normalize_email(fields.get("original-rcpt-to")) or normalize_email(fields.get("removal-recipient"))
    if not email and returned is not None:
        email = next(iter(sorted(addresses(header(returned, "To")))), None)
    return BounceReport(
        is_bounce=False,
        original_message_id=message_id,
        original_references=references,
        original_headers=headers,
        is_feedback_report=True,
        feedback_email=email,
    )


def _bounced(msg: Message, notice: str, returned: Message | None, dsn: list[DsnRecipient]) -> list[BouncedRecipient]:
    """The failed / delayed recipients, from the best source the message has."""
    exclude = addresses(header(msg, "To")) | addresses(header(msg, "From"))
    if returned is not None:
        exclude |= addresses(header(returned, "From")) | addresses(header(returned, "Return-Path"))
    text_hits = parse_text(notice, exclude=exclude)
    if dsn:
        return _from_dsn(dsn, text_hits)
    inline = parse_inline_dsn(notice)
    if inline:
        return _from_dsn(inline, text_hits)
    bounced = _from_text(text_hits)
    if not bounced:  # Exim names them in a header even when its text says nothing readable
        failed = sorted(addresses(header(msg, "X-Failed-Recipients")))
        # The whole explanation: these notices (Exim's, Google Groups') have no per-address text.
        diagnostic = after_intro(notice) if failed else ""
        bounced = [_recipient(email, None, "failed", diagnostic) for email in failed]
    return bounced


def _returned_messages(msg: Message) -> list[Message]:
    found = []
    for part in iter_parts(msg, skip_returned=False):
        if part is not msg and content_type(part) in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                found.append(payload[0])
    return found


def _inner_report(msg: Message, depth: int) -> BounceReport | None:
    """A notice forwarded by another system (a bounce of a bounce) carries the real report as
    its returned message: that report, when it names recipients."""
    if depth >= 2:
        return None
    for inner in _returned_messages(msg):
        report = _parse_message(inner, depth + 1)
        if report.is_bounce and report.bounced:
            return report
    return None


def _last_resort(msg: Message, notice: str, returned: Message | None) -> list[BouncedRecipient]:
    """Recipients of a failure notice that names none in its own words: a notice that returns a
    message sent to a single address is about that address (MMS gateways write only "could not
    be delivered to mobile")."""
    if returned is None:
        return []
    exclude = addresses(header(msg, "To")) | addresses(header(msg, "From")) | addresses(header(returned, "From"))
    candidates = addresses(header(returned, "To")) - exclude
    if len(candidates) != 1:
        return []
    return [_recipient(candidates.pop(), None, "failed", diagnostic_from_region(notice))]


def _parse(raw: bytes) -> BounceReport:
    return _parse_message(message_from_raw(raw), 0)


def _parse_message(msg: Message, depth: int) -> BounceReport:
    if is_feedback(msg):
        return _feedback_report(msg)
    subject = header(msg, "Subject")
    has_delivery_status, dsn_recipients = parse_dsn(msg)
    notice, returned_copy = cut_returned(human_text(msg))
    strong = strong_bounce_signal(msg, subject, has_delivery_status)
    vacation_subject = not REPLY_SUBJECT_RE.match(subject) and AUTO_SUBJECT_RE.search(subject)
    if strong or (not vacation_subject and weak_bounce_signal(subject, notice)):
        returned = _returned_headers(msg, returned_copy)
        bounced = _bounced(msg, notice, returned, dsn_recipients)
        if not bounced and strong and not dsn_recipients:
            inner = _inner_report(msg, depth)
            if inner is not None:
                return inner
            bounced = _last_resort(msg, notice, returned)
        positive_dsn_only = not bounced and bool(dsn_recipients or parse_inline_dsn(notice))
        if not positive_dsn_only and (strong or bounced or automated(msg)):
            message_id, references, headers = _original_info(msg, returned)
            return BounceReport(
                is_bounce=True,
                original_message_id=message_id,
                bounced=bounced,
                original_references=references,
                original_headers=headers,
            )
        if positive_dsn_only:
            # Only delivered / relayed / expanded recipients: a success notice, nothing bounced.
            return BounceReport(is_bounce=False)
    if is_auto_reply(msg, subject):
        return BounceReport(is_bounce=False, is_auto_reply=True)
    return BounceReport(is_bounce=False)


def parse_bounce(raw: bytes) -> BounceReport:
    """Parse one inbound e-mail (raw bytes, as received) into a :class:`BounceReport`.

    Never raises: a message that cannot be read at all is reported as not a bounce.
    """
    try:
        return _parse(raw)
    except Exception:  # a hostile or broken message must never stop the gateway
        logger.warning("bounce parsing failed; treating the message as not a bounce", exc_info=True)
        return BounceReport(is_bounce=False)


def notice_excerpt(raw: bytes, limit: int = MAX_EXCERPT) -> str:
    """The readable part of a notice for a person: its own text (not the returned message), as
    plain text without control characters or runs of blank lines, at most ``limit`` characters.
    Never raises; the caller escapes it when showing it (it is whatever the sender wrote)."""
    try:
        notice, _returned = cut_returned(human_text(message_from_raw(raw)))
    except Exception:  # a message that cannot be read has no readable part
        logger.warning("bounce notice unreadable for its excerpt", exc_info=True)
        return ""
    text = _BLANK_LINES_RE.sub("\n\n", _CONTROL_RE.sub("", notice.replace("\t", "    "))).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text
