"""Bounce parsing and classification — pure code, no database.

``parse_bounce(raw)`` reads one inbound e-mail and says whether it is a bounce (a delivery
failure or delay notice), which message it returns, and for every failed or delayed recipient
the address, enhanced status code, the remote server's diagnostic, a reason category and
whether the address is dead (the hard/soft rule is in :mod:`bounces.dsn.classify`).

Detection: Odoo's ``_detect_is_bounce`` signals (From MAILER-DAEMON, a ``multipart/report``
delivery status) plus postmaster / "Mail Delivery System" senders and Exim's
``X-Failed-Recipients`` decide alone. A bounce subject ("Undeliverable:", "failure notice"...) or
an MTA's sentence ("This is the mail system at host") only counts when the text names a failed
recipient or the mail is marked automated: people write "Delivery failure on order 42" too.
Vacation replies and ARF feedback (abuse) reports are recognised and reported as *not* bounces;
a delivery report whose recipients were all delivered / relayed is not a bounce either. The
gateway adds what only the envelope knows (the ``bounce+token`` recipient) on top of this.

Recipients come from, in this order: the RFC 3464 ``message/delivery-status`` blocks; DSN
fields found in the text of a broken MIME message; the readable text of the non-standard
formats (:mod:`bounces.dsn.heuristics`); Exim's ``X-Failed-Recipients`` header. The returned
message is the ``message/rfc822`` / ``text/rfc822-headers`` part, else the copy pasted in the text.
"""

from __future__ import annotations

import logging
import re
from email.message import Message

from bounces.dsn.classify import classify, find_status, pick_status
from bounces.dsn.heuristics import TextHit, after_intro, cut_returned, diagnostic_from_region, parse_text
from bounces.dsn.mime import (
    EMAIL_SEARCH_RE,
    RETURNED_TYPES,
    content_type,
    header,
    human_text,
    iter_parts,
    message_from_raw,
    message_ids,
    normalize_email,
    one_message_id,
    param,
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
    "parse_bounce",
]

logger = logging.getLogger(__name__)

MAX_DIAGNOSTIC = 1000
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

_BOUNCE_SUBJECT_RE = re.compile(
    r"(?i)undeliver|undelivered mail|returned mail|return(?:ed|ing) (?:message )?to sender|"
    r"delivery status notification \((?:failure|delay)|delivery (?:status )?notification: (?:failed|delay)|"
    r"mail delivery (?:failed|failure|problem|delayed|subsystem)|failure notice|delivery failure|"
    r"delivery (?:has )?failed|delivery delayed|delayed mail|message not delivered|not delivered:|"
    r"could not send message for past|nondeliverable|non-delivery|non remis|"
    r"[ée]chec de (?:la )?(?:remise|distribution)|"
    r"unzustellbar|nicht zustellbar|unzustellbare|mail system error|delivery problem|"
    r"warning: message .* delayed|message delayed|delivery notification|"
    r"配信|配送|送信できません|エラー"
)
_DAEMON_FROM_RE = re.compile(
    r"(?i)^(?:mailer-daemon|postmaster|mail-daemon|microsoftexchange[0-9a-f]*|double-bounce)@|"
    r"^mailer-daemon$"
)
_DAEMON_NAME_RE = re.compile(r"(?i)mail delivery (?:system|subsystem)|mailer-daemon|mail administrator|\bndr\b")
# Sentences mail software writes and people do not.
_SIGNATURE_RE = re.compile(
    r"(?i)this is the mail system at host|created automatically by mail delivery software|"
    r"this is the qmail-send program|this is a delivery status notification|running the courier mail server|"
    r"delivery has failed to these recipients|delivery to the following recipients? failed permanently|"
    r"this is the mailer-daemon|your message wasn't delivered to \S+ because|"
    r"following addresses had permanent fatal errors|your message did not reach some or all of the intended|"
    r"unable to deliver your message to the following address|the following address\(es\) failed|"
    r"your mail sent on:|there was an error delivering your mail to|we had trouble delivering your message"
)
_REPLY_SUBJECT_RE = re.compile(r"(?i)^\s*(?:re|fwd?|aw|wg|tr|sv|vs|antw)\s*:")
# Vacation subjects: these words leading the subject, or a few phrases no human subject uses.
_AUTO_SUBJECT_RE = re.compile(
    r"(?i)^\s*\[?(?:automatic reply|auto(?:matic)?[- ]?(?:reply|response|responder|antwort)|autoreply|"
    r"out of (?:the )?office|(?:i am |i'm )?on vacation|away from (?:the|my) office|on holiday|abwesenheit|"
    r"automatische antwort|r[ée]ponse automatique|(?:vacation|absence|absent)\s*(?:[:\-]|$)|"
    r"respuesta autom[áa]tica|fuera de la oficina|risposta automatica|fuori sede|不在)|"
    r"automatic reply|autoreply|auto-reply|out of office autoreply|abwesenheitsnotiz|r[ée]ponse automatique"
)
_AUTO_HEADERS = (
    "X-Autoreply",
    "X-Autorespond",
    "X-Autorespond-From",
    "X-Mail-Autoreply",
    "X-Vacation",
    "X-Autogenerated",
)


_INLINE_MESSAGE_ID_RE = re.compile(r"(?im)^(?:message-id|x-mailcore-message-id)[ \t]*:")
_HEADER_OR_FOLD_RE = re.compile(r"(?:[\w-]+:\s|[ \t]+\S)")
_HEADER_OR_CONTINUATION_RE = re.compile(r"(?:[\w-]+:|[ \t]+\S)")


def _addresses(value: str) -> set[str]:
    """The addresses in a header value (a display name's words are not addresses)."""
    if "@" not in value:
        return set()
    found = set()
    for addr in EMAIL_SEARCH_RE.findall(value):
        email = normalize_email(addr)
        if email:
            found.add(email)
    return found


def _is_feedback(msg: Message) -> bool:
    if content_type(msg) == "multipart/report" and param(msg, "report-type") == "feedback-report":
        return True
    return any(content_type(p) == "message/feedback-report" for p in iter_parts(msg))


def _is_auto_reply(msg: Message, subject: str) -> bool:
    auto_submitted = header(msg, "Auto-Submitted").lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return True  # RFC 3834
    for name in _AUTO_HEADERS:
        value = header(msg, name).lower()
        if value and value not in ("no", "false", "0"):
            return True
    if header(msg, "Precedence").lower() == "auto_reply":
        return True
    if "autoresponder" in header(msg, "X-POST-MessageClass").lower():
        return True
    # "Re: Vacation request" is a person answering; a vacation responder does not write "Re:" first.
    return not _REPLY_SUBJECT_RE.match(subject) and bool(_AUTO_SUBJECT_RE.search(subject))


def _strong_bounce_signal(msg: Message, subject: str, has_delivery_status: bool) -> bool:
    if has_delivery_status:
        return True
    if content_type(msg) == "multipart/report" and param(msg, "report-type") == "delivery-status":
        return True
    from_value = header(msg, "From")
    reply = bool(_REPLY_SUBJECT_RE.match(subject))
    daemon = (
        any(_DAEMON_FROM_RE.match(a) for a in _addresses(from_value))
        or _DAEMON_FROM_RE.match(from_value.strip())
        or _DAEMON_NAME_RE.search(from_value.split("<")[0])
    )
    if daemon and not (reply and "mailer-daemon" not in from_value.lower()):
        return True  # a human answering from postmaster@ writes "Re: ..."; MAILER-DAEMON never does
    return bool(header(msg, "X-Failed-Recipients"))


def _weak_bounce_signal(subject: str, notice: str) -> bool:
    """A bounce subject or an MTA's sentence: a bounce only if it names a failed recipient (or is
    marked automated), since a person may well write "Delivery failure on order 42"."""
    if _REPLY_SUBJECT_RE.match(subject):
        return False
    return bool(_BOUNCE_SUBJECT_RE.search(subject) or _SIGNATURE_RE.search(notice[:3000]))


def _automated(msg: Message) -> bool:
    auto_submitted = header(msg, "Auto-Submitted").lower()
    return bool(auto_submitted and not auto_submitted.startswith("no")) or header(msg, "Return-Path") == "<>"


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
    # Some servers thread the notice to what bounced; Odoo falls back on these too (spec §7.1).
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
        email = next(iter(sorted(_addresses(header(returned, "To")))), None)
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
    exclude = _addresses(header(msg, "To")) | _addresses(header(msg, "From"))
    if returned is not None:
        exclude |= _addresses(header(returned, "From")) | _addresses(header(returned, "Return-Path"))
    text_hits = parse_text(notice, exclude=exclude)
    if dsn:
        return _from_dsn(dsn, text_hits)
    inline = parse_inline_dsn(notice)
    if inline:
        return _from_dsn(inline, text_hits)
    bounced = _from_text(text_hits)
    if not bounced:  # Exim names them in a header even when its text says nothing readable
        failed = sorted(_addresses(header(msg, "X-Failed-Recipients")))
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
    exclude = _addresses(header(msg, "To")) | _addresses(header(msg, "From")) | _addresses(header(returned, "From"))
    candidates = _addresses(header(returned, "To")) - exclude
    if len(candidates) != 1:
        return []
    return [_recipient(candidates.pop(), None, "failed", diagnostic_from_region(notice))]


def _parse(raw: bytes) -> BounceReport:
    return _parse_message(message_from_raw(raw), 0)


def _parse_message(msg: Message, depth: int) -> BounceReport:
    if _is_feedback(msg):
        return _feedback_report(msg)
    subject = header(msg, "Subject")
    has_delivery_status, dsn_recipients = parse_dsn(msg)
    notice, returned_copy = cut_returned(human_text(msg))
    strong = _strong_bounce_signal(msg, subject, has_delivery_status)
    vacation_subject = not _REPLY_SUBJECT_RE.match(subject) and _AUTO_SUBJECT_RE.search(subject)
    if strong or (not vacation_subject and _weak_bounce_signal(subject, notice)):
        returned = _returned_headers(msg, returned_copy)
        bounced = _bounced(msg, notice, returned, dsn_recipients)
        if not bounced and strong and not dsn_recipients:
            inner = _inner_report(msg, depth)
            if inner is not None:
                return inner
            bounced = _last_resort(msg, notice, returned)
        positive_dsn_only = not bounced and bool(dsn_recipients or parse_inline_dsn(notice))
        if not positive_dsn_only and (strong or bounced or _automated(msg)):
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
    if _is_auto_reply(msg, subject):
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
