"""One-line summaries of SMTP answers ("Sender refused", "Recipient unknown", "Mailbox full" …).

A delivery failure is recorded with its full reason in Odoo's form
``Mail delivery failed via SMTP server 'HOST'.\\n<Exception>: <code> <text>``; this module owns
that form (:func:`delivery_failure_reason` writes it, :func:`parse_delivery_failure` reads it)
and the words a user sees for it (:func:`summarize_smtp_reply`). The envelope, the queue and the
API all show the summary through the same functions, so they never disagree.

The recorded reason stays as the server wrote it (English protocol text: support searches for it);
only the summary is translated, into the language active when it is shown.

The decision follows what a mail administrator reads first: the SMTP stage the answer came at
(connection, AUTH, MAIL, RCPT, DATA), the basic code (RFC 5321), the enhanced status code
(RFC 3463: class.subject.detail) and, last, the server's text, because many providers put the
real reason only in words (SendGrid's "verified Sender Identity", Amazon SES's "Email address is
not verified" come without an enhanced code).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class SmtpStage(enum.StrEnum):
    CONNECT = "connect"
    AUTH = "auth"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"
    UNKNOWN = "unknown"  # a bounce's diagnostic: the remote server does not say where it refused


class Summary(enum.StrEnum):
    """The kinds of refusal; the value is the English summary, :attr:`label` the one shown."""

    CONNECTION_FAILED = "Connection failed"
    AUTHENTICATION_REQUIRED = "Authentication required"
    AUTHENTICATION_FAILED = "Authentication failed"
    SENDER_REFUSED = "Sender refused"
    SENDER_NOT_AUTHENTICATED = "Sender not authenticated (SPF/DKIM/DMARC)"
    RELAY_DENIED = "Relaying denied"
    RECIPIENT_UNKNOWN = "Recipient unknown"
    RECIPIENT_DOMAIN_UNKNOWN = "Recipient domain not found"
    RECIPIENT_REFUSED = "Recipient refused"
    MAILBOX_DISABLED = "Mailbox disabled"
    MAILBOX_FULL = "Mailbox full"
    MESSAGE_TOO_BIG = "Message too big"
    SPAM = "Message rejected as spam"
    RATE_LIMITED = "Too many messages (rate limited)"
    MESSAGE_REFUSED = "Message refused"
    TEMPORARY = "Temporarily refused by the server"
    REFUSED = "Refused by the server"

    @property
    def label(self) -> str:
        """The summary in the active language."""
        return str(_SUMMARY_LABELS[self])


_SUMMARY_LABELS = {
    Summary.CONNECTION_FAILED: _("Connection failed"),
    Summary.AUTHENTICATION_REQUIRED: _("Authentication required"),
    Summary.AUTHENTICATION_FAILED: _("Authentication failed"),
    Summary.SENDER_REFUSED: _("Sender refused"),
    Summary.SENDER_NOT_AUTHENTICATED: _("Sender not authenticated (SPF/DKIM/DMARC)"),
    Summary.RELAY_DENIED: _("Relaying denied"),
    Summary.RECIPIENT_UNKNOWN: _("Recipient unknown"),
    Summary.RECIPIENT_DOMAIN_UNKNOWN: _("Recipient domain not found"),
    Summary.RECIPIENT_REFUSED: _("Recipient refused"),
    Summary.MAILBOX_DISABLED: _("Mailbox disabled"),
    Summary.MAILBOX_FULL: _("Mailbox full"),
    Summary.MESSAGE_TOO_BIG: _("Message too big"),
    Summary.SPAM: _("Message rejected as spam"),
    Summary.RATE_LIMITED: _("Too many messages (rate limited)"),
    Summary.MESSAGE_REFUSED: _("Message refused"),
    Summary.TEMPORARY: _("Temporarily refused by the server"),
    Summary.REFUSED: _("Refused by the server"),
}


# The smtplib and socket exceptions our sender records, by the stage they come from.
_EXCEPTION_STAGES: dict[str, SmtpStage] = {
    "SMTPSenderRefused": SmtpStage.MAIL,
    "SMTPRecipientsRefused": SmtpStage.RCPT,
    "SMTPDataError": SmtpStage.DATA,
    "SMTPAuthenticationError": SmtpStage.AUTH,
    "SMTPNotSupportedError": SmtpStage.CONNECT,
    "SMTPConnectError": SmtpStage.CONNECT,
    "SMTPHeloError": SmtpStage.CONNECT,
    "SMTPServerDisconnected": SmtpStage.CONNECT,
    "SMTPResponseException": SmtpStage.CONNECT,
    "SMTPException": SmtpStage.CONNECT,
    "ConnectionRefusedError": SmtpStage.CONNECT,
    "ConnectionResetError": SmtpStage.CONNECT,
    "ConnectionAbortedError": SmtpStage.CONNECT,
    "BrokenPipeError": SmtpStage.CONNECT,
    "TimeoutError": SmtpStage.CONNECT,
    "timeout": SmtpStage.CONNECT,
    "gaierror": SmtpStage.CONNECT,
    "herror": SmtpStage.CONNECT,
    "OSError": SmtpStage.CONNECT,
    "SSLError": SmtpStage.CONNECT,
    "SSLCertVerificationError": SmtpStage.CONNECT,
}

_PREFIX = "Mail delivery failed via SMTP server '{host}'.\n"
_REASON_RE = re.compile(
    r"\AMail delivery failed via SMTP server '[^'\n]*'\.\s+(?P<error>\w+)(?::[ ]?(?P<detail>.*))?\Z", re.S
)
_CODE_RE = re.compile(r"\A(?:[a-z][\w-]*;\s*)?(?P<code>[2-5]\d\d)(?:[ -]|\Z)(?P<text>.*)\Z", re.S | re.I)
# An enhanced status code (RFC 3463), not part of an IP address or a version number.
_ENHANCED_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")

_AUTH_REQUIRED_WORDS = re.compile(
    r"authentication (?:is )?required|must (?:be )?authenticat|not authenticated|auth(?:entication)? first|"
    r"requires? authentication|client was not authenticated|authrequired",
    re.I,
)
_SENDER_WORDS = re.compile(
    r"sender identity|(?:address|identity|identities|domain|sender) (?:is |are )?not (?:yet )?verified|"
    r"failed the check|from address|sender address|sender (?:is )?(?:not allowed|rejected|refused|denied|unknown)|"
    r"not owned by|sender domain|envelope sender|mail from",
    re.I,
)
_SPF_WORDS = re.compile(r"\bspf\b|dkim|dmarc|unauthenticated (?:sender|email|mail)|sender is unauthenticated", re.I)
_SPAM_WORDS = re.compile(
    r"spam|unsolicited|junk|blacklist|black list|blocklist|block list|blocked|denylist|reputation|"
    r"\brbl\b|dnsbl|phish|virus|malware|content filter|content rejected|security issue",
    re.I,
)
_RELAY_WORDS = re.compile(
    r"relay(?:ing)? (?:access )?(?:denied|not permitted|not allowed|prohibited)|unable to relay", re.I
)
_FULL_WORDS = re.compile(
    r"quota|mailbox (?:is )?full|over ?quota|insufficient (?:system )?storage|mailbox (?:size )?exceeds|"
    r"inbox is full|account is full|full mailbox",
    re.I,
)
_SIZE_WORDS = re.compile(
    r"too (?:big|large)|size exceeds|exceeds (?:the )?(?:fixed |maximum |message )*size|message size|"
    r"message length exceeds",
    re.I,
)
_RATE_WORDS = re.compile(r"too many|rate limit|unusual rate|rate of|throttl|try again later", re.I)
_DOMAIN_WORDS = re.compile(
    r"domain not found|host or domain name not found|no such domain|domain (?:name )?does not exist|"
    r"unrout(?:e)?able|no mx|nxdomain",
    re.I,
)
_USER_WORDS = re.compile(
    r"user unknown|unknown user|no such (?:user|mailbox|recipient)|does not exist|doesn't exist|"
    r"recipient (?:address )?(?:not found|unknown|rejected: user)|unknown recipient|invalid recipient|"
    r"invalid mailbox|mailbox (?:not found|unavailable)|address (?:not found|unknown)|recipientnotfound",
    re.I,
)
_DISABLED_WORDS = re.compile(r"disabled|deactivated|suspended|inactive", re.I)


@dataclass(frozen=True)
class SmtpReply:
    """One refusal: where it came (stage), its basic code (0 when no server answered) and text."""

    stage: SmtpStage
    code: int
    text: str

    @property
    def enhanced(self) -> tuple[int, int, int] | None:
        """The RFC 3463 status (class, subject, detail) the text starts with or carries."""
        match = _ENHANCED_RE.search(self.text)
        return (int(match[1]), int(match[2]), int(match[3])) if match else None


def delivery_failure_reason(host: str, error_name: str, detail: str = "") -> str:
    """The reason recorded for a failed delivery, in Odoo's form plus the code and text."""
    reason = _PREFIX.format(host=host) + error_name
    return f"{reason}: {detail}" if detail else reason


def parse_delivery_failure(reason: str) -> SmtpReply | None:
    """Read back what :func:`delivery_failure_reason` wrote, or a bounce's diagnostic code.

    ``None`` when the reason carries no SMTP answer (a missing address, an unusable From, the
    daily quota …): then the failure type's label is the summary.
    """
    match = _REASON_RE.match(reason.strip())
    if match is not None:
        stage = _EXCEPTION_STAGES.get(match["error"])
        if stage is None:
            return None
        detail = (match["detail"] or "").strip()
        coded = _CODE_RE.match(detail)
        if coded is not None:
            return SmtpReply(stage, int(coded["code"]), coded["text"].strip())
        return SmtpReply(stage, 0, detail)
    # A bounce's Diagnostic-Code ("smtp; 550 5.1.1 …") or bare status ("5.2.2 mailbox full").
    coded = _CODE_RE.match(reason.strip())
    if coded is not None:
        return SmtpReply(SmtpStage.UNKNOWN, int(coded["code"]), coded["text"].strip())
    status = _ENHANCED_RE.match(reason.strip())
    if status is not None:
        return SmtpReply(SmtpStage.UNKNOWN, int(status[1]) * 100 + 50, reason.strip())
    return None


def summarize_smtp_reply(reply: SmtpReply) -> Summary:
    """The one-line summary of an SMTP refusal, decided by stage, code, enhanced status, text."""
    stage, code, text = reply.stage, reply.code, reply.text
    enhanced = reply.enhanced
    subject, detail = (enhanced[1], enhanced[2]) if enhanced else (-1, -1)

    # Nobody answered, the greeting refused us, or the server is closing the channel (RFC 5321
    # 421): the connection itself is the problem, unless the server says we are sending too fast.
    if stage is SmtpStage.CONNECT and code != 530:
        if code == 421 and _RATE_WORDS.search(text):
            return Summary.RATE_LIMITED
        if code == 535 or (subject, detail) == (7, 8):
            return Summary.AUTHENTICATION_FAILED
        return Summary.CONNECTION_FAILED
    if stage is SmtpStage.AUTH:
        return Summary.AUTHENTICATION_FAILED
    if code == 421:
        return Summary.RATE_LIMITED if _RATE_WORDS.search(text) else Summary.CONNECTION_FAILED
    # 530 is "authentication required" (RFC 4954), 5.7.0 / 5.7.57 with words saying so.
    if code == 530 or (subject == 7 and _AUTH_REQUIRED_WORDS.search(text)):
        return Summary.AUTHENTICATION_REQUIRED
    if code == 535 or (subject, detail) == (7, 8):
        return Summary.AUTHENTICATION_FAILED
    # 4.2.2 / 5.2.2: mailbox full; 5.3.4: message too big for the system, 5.2.3: for this
    # mailbox. The codes first, then the words (a full mailbox often speaks of its "size").
    if (subject, detail) == (2, 2):
        return Summary.MAILBOX_FULL
    if (subject, detail) in ((3, 4), (2, 3)):
        return Summary.MESSAGE_TOO_BIG
    if _FULL_WORDS.search(text):
        return Summary.MAILBOX_FULL
    if _SIZE_WORDS.search(text):
        return Summary.MESSAGE_TOO_BIG
    # Our sender: refused at MAIL, 5.1.7 / 5.1.8 (bad sender address / system), or a provider
    # saying the From is not one of the account's verified identities.
    if (subject, detail) in ((1, 7), (1, 8)) or _SENDER_WORDS.search(text):
        return Summary.SENDER_REFUSED
    # 5.7.23 (SPF), 5.7.26 / 5.7.27 (DMARC, null MX of the sender) or the words.
    if (subject, detail) in ((7, 23), (7, 25), (7, 26), (7, 27)) or _SPF_WORDS.search(text):
        return Summary.SENDER_NOT_AUTHENTICATED
    if _RELAY_WORDS.search(text):
        return Summary.RELAY_DENIED
    if _SPAM_WORDS.search(text):
        return Summary.SPAM
    if stage is SmtpStage.MAIL:
        return Summary.SENDER_REFUSED
    if code // 100 == 4 and _RATE_WORDS.search(text):
        return Summary.RATE_LIMITED
    # Subject 1 is the address status: 5.1.1 bad mailbox, 5.1.10 Exchange's RecipientNotFound,
    # 5.1.2 bad domain.
    if (subject, detail) == (1, 2) or _DOMAIN_WORDS.search(text):
        return Summary.RECIPIENT_DOMAIN_UNKNOWN
    if (subject, detail) == (2, 1) or (subject == 2 and _DISABLED_WORDS.search(text)):
        return Summary.MAILBOX_DISABLED
    if subject == 1 or _USER_WORDS.search(text):
        return Summary.RECIPIENT_UNKNOWN
    if code // 100 == 4:
        return Summary.TEMPORARY
    if stage is SmtpStage.RCPT:
        return Summary.RECIPIENT_REFUSED
    if stage is SmtpStage.DATA:
        return Summary.MESSAGE_REFUSED
    return Summary.REFUSED


def summarize_delivery_failure(reason: str) -> str | None:
    """The summary of a recorded failure reason in the active language, or ``None`` when it holds
    no SMTP answer."""
    reply = parse_delivery_failure(reason)
    return summarize_smtp_reply(reply).label if reply is not None else None


def describe_unknown_failure(reason: str = "") -> str:
    """Odoo's "Unknown error" summary (``format_failure_reason``), with the reason when there is one."""
    if not reason:
        return gettext("Unknown error")
    return gettext("Unknown error: %(reason)s") % {"reason": reason}
