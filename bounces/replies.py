"""Every SMTP reply of the inbound gateway, in one table.

Each carries an enhanced status code (RFC 3463) whose class agrees with the basic code, including
aiosmtpd's own answers, which :func:`with_enhanced_code` completes. Placeholders in braces are
filled with ``str.format``; :func:`policy_reply` writes a refusal whose text is Odoo's.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Reply(StrEnum):
    MAIL_OK = "250 2.1.0 Ok"
    RCPT_OK = "250 2.1.5 Ok"
    QUEUED = "250 2.0.0 Ok: queued as {queue_id}"
    RELAYING_DENIED = "550 5.7.1 <{address}>: Relaying denied"
    MAILBOX_UNAVAILABLE = "550 5.1.1 <{address}>: Recipient address rejected: mailbox unavailable{detail}"
    NO_ROUTE = "550 5.1.1 Mailbox unavailable - no route for this message"
    TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
    # The line is not valid UTF-8, or holds a NUL: no address or name can be made of it, and the
    # same line would fail again (a 5xx, never "try again").
    INVALID_UTF8 = "501 5.5.2 Syntax error: the command is not valid UTF-8"
    NUL = "501 5.5.2 Syntax error: the command contains a NUL character"
    # The message is not stored: the sender keeps it and tries again.
    INTERNAL_ERROR = "451 4.3.0 Error: internal server error, please try again later"
    # Limits; the connection is closed after them.
    TOO_MANY_CONNECTIONS = "421 4.3.2 {host} Error: too many connections, try again later"
    TOO_MANY_FROM_ADDRESS = "421 4.7.0 {host} Error: too many connections from {address}, try again later"
    IDLE_TIMEOUT = "421 4.4.2 {host} Error: timeout exceeded"
    SESSION_TIMEOUT = "421 4.4.2 {host} Error: session time limit exceeded, try again later"
    JUNK_COMMANDS = "421 4.7.0 {host} Error: too many commands without mail, try again later"
    # aiosmtpd's own answers that carry no enhanced code or a vague one, as we send them.
    OK = "250 2.0.0 OK"
    BYE = "221 2.0.0 Bye"
    TOO_BIG = "552 5.3.4 Message too big"
    LINE_TOO_LONG = "500 5.5.2 Error: line too long"
    MALFORMED_ADDRESS = "553 5.1.3 Error: malformed address"  # aiosmtpd's text, kept as it is


class Policy(StrEnum):
    """The codes of a refusal whose text is Odoo's (an alias's policy, the catchall, the loop guard)."""

    REFUSED = "550 5.7.1"
    NO_ROUTE = "550 5.1.1"
    # A configuration error is ours to fix: a temporary failure lets the sender's server retry
    # once it is fixed (Odoo loses such mail after mailing a bounce).
    CONFIGURATION = "451 4.3.0"


def policy_reply(policy: Policy, text: str, width: int = 200) -> str:
    """``text`` as one reply, folded onto several lines when long (RFC 5321 §4.5.3.1.5 caps a
    reply line at 512 octets)."""
    code, enhanced = policy.value.split(" ")
    lines: list[str] = []
    current = ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    lines.append(current)
    return "\r\n".join(f"{code}{'-' if i < len(lines) - 1 else ' '}{enhanced} {line}" for i, line in enumerate(lines))


# aiosmtpd's answers as it writes them -> ours.
AIOSMTPD_REPLIES = {
    "250 OK": Reply.OK,
    "221 Bye": Reply.BYE,
    "552 Error: Too much mail data": Reply.TOO_BIG,
    "552 Error: message size exceeds fixed maximum message size": Reply.TOO_BIG,
    "500 Line too long (see RFC5321 4.5.3.1.6)": Reply.LINE_TOO_LONG,
}
# For aiosmtpd's other answers: the enhanced code added to each basic code.
_DEFAULT_ENHANCED = {
    "421": "4.3.0",
    "451": "4.3.0",
    "452": "4.3.1",
    "454": "4.7.0",
    "500": "5.5.2",
    "501": "5.5.4",
    "502": "5.5.1",
    "503": "5.5.1",
    "504": "5.5.4",
    "530": "5.7.0",
    "550": "5.0.0",
    "552": "5.3.4",
    "553": "5.1.3",
    "554": "5.7.0",
    "555": "5.5.4",
}
_HAS_ENHANCED = re.compile(r"^\d{3}[ -][245]\.\d{1,3}\.\d{1,3}(?: |$)")


def with_enhanced_code(reply: str) -> str:
    """``reply`` with an enhanced status code whose class agrees with the basic code."""
    if reply in AIOSMTPD_REPLIES:
        return AIOSMTPD_REPLIES[reply].value
    fixed: list[str] = []
    for line in reply.split("\r\n"):
        code = line[:3]
        if code in _DEFAULT_ENHANCED and not _HAS_ENHANCED.match(line) and len(line) > 3 and line[3] in " -":
            line = f"{code}{line[3]}{_DEFAULT_ENHANCED[code]} {line[4:]}"
        fixed.append(line)
    return "\r\n".join(fixed)
