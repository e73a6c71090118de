"""Reason categories and hard/soft for one bounced recipient.

The rule (product.md item 5: only hard bounces count against a contact):

* ``hard`` means *this address is dead*: the delivery was given up (``action == "failed"``),
  the failure is permanent (enhanced status class 5, or no enhanced code and no 4xx reply), and
  the reason is ``user_unknown`` or ``host_unknown``.
* Everything else is soft: ``mailbox_full`` (the mailbox exists), ``spam_blocked`` (our message
  or our server was refused, not the address), ``expired`` (we never got an answer),
  ``other``, and every delay notice (``action == "delayed"``).

The enhanced status code (RFC 3463) decides first when it is specific; the remote server's text
decides when the code is missing or generic (``5.0.0``, ``5.5.0``...), since many servers put
the real reason only in words.
"""

from __future__ import annotations

import re

from bounces.dsn.types import EXPIRED, HOST_UNKNOWN, MAILBOX_FULL, OTHER, SPAM_BLOCKED, USER_UNKNOWN, Action

# An enhanced status code, not part of an IP address or a version number.
STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")
# A basic SMTP reply code at a word boundary ("550 ", "550-", "#550").
BASIC_CODE_RE = re.compile(r"(?<![\d.])([245])\d\d(?=[\s\-:;)])")

_EXPIRED_WORDS = re.compile(
    r"delivery time expired|retry time ?out exceeded|retry timeout exceeded|message expired|"
    r"(?:too long|timed out) (?:in|on) (?:the )?queue|maximum time in queue|"
    r"cannot send message for \d+ days?|could not be delivered for \d+ days?|"
    r"expired after \d+|has been in the queue too long|time limit exceeded|"
    r"retry time not reached for any host after a long failure period|lifetime exceeded",
    re.IGNORECASE,
)
_FULL_WORDS = re.compile(
    r"quota|mailbox (?:is )?full|mailbox (?:size )?exceeds|exceeds (?:the )?(?:allowed|maximum) (?:mailbox )?size|"
    r"mailbox has exceeded|over ?quota|insufficient (?:system )?storage|"
    r"exceeded storage|storage (?:allocation|limit)|mail ?box size limit|mailfolder is full|"
    r"inbox is full|account is full|full mailbox|postfach (?:ist )?voll|speicherplatz|"
    r"bo[iî]te (?:aux lettres |de r[ée]ception )?(?:est )?pleine|d[ée]passement de quota",
    re.IGNORECASE,
)
_HOST_WORDS = re.compile(
    r"host or domain name not found|host not found|domain (?:name )?not found|nxdomain|"
    r"unrouteable|unroutable|no such domain|domain (?:name )?does not exist|unknown domain|"
    r"no mx (?:record|host)|mx lookup failed|name service error|does not accept mail \(nullmx\)|"
    r"non-existent hosts|domain (?:is )?(?:invalid|not valid)|unknown host|"
    r"dom[aä]ne existiert nicht|domaine (?:introuvable|inexistant)",
    re.IGNORECASE,
)
_USER_WORDS = re.compile(
    r"user unknown|unknown user|no such user|user (?:not found|doesn't exist|does not exist)|"
    r"(?:account|address|mailbox|recipient|user|e-?mail account)[^.;]{0,60}?"
    r"(?:does not exist|doesn't exist|not exist|is disabled|has been disabled|is not valid|is invalid|"
    r"deactivated|not found|unknown)|"
    r"does not exist|mailbox unavailable|mailbox not found|no mailbox|no such mailbox|"
    r"recipient ?not ?found|recipient unknown|unknown recipient|invalid recipient|invalid mailbox|"
    r"recipient address rejected: (?:user|unknown|undeliverable)|not listed in|"
    r"doesn't have an? [\w.-]+ account|no longer (?:available|active|in use|valid)|"
    r"unknown or illegal alias|no mailbox here by that name|bad destination mailbox|"
    r"address (?:unknown|not found|rejected)|unknown address|not our customer|"
    r"benutzer unbekannt|empf[aä]nger unbekannt|unbekannter empf[aä]nger|existiert nicht|"
    r"destinataire inconnu|adresse inconnue|utilisateur inconnu|n'existe pas|introuvable",
    re.IGNORECASE,
)
# Words that, with a 5.7.x code, mean our message or our server was refused.
_POLICY_WORDS = re.compile(
    r"spam|block|blacklist|black list|blocklist|denylist|polic|reputation|rbl|dnsbl|spamhaus|"
    r"barracuda|junk|unsolicited|abuse|banned|denied|refused|not accepted|content|virus|"
    r"malware|dmarc|spf|dkim|authenticat|spoof|phish|suspicious|reject",
    re.IGNORECASE,
)
# Without a 5.7.x code the same verdict needs stronger words (a bare "rejected" is not enough).
_SPAM_WORDS = re.compile(
    r"spam|blacklist|black list|blocklist|block list|blocked using|blocked by|denylist|spamhaus|"
    r"barracuda|spamcop|\brbl\b|dnsbl|unsolicited|poor reputation|sender reputation|reputation|"
    r"dmarc|\bspf\b|dkim|spoof|phish|listed (?:at|on|in|by) [^.;]{0,40}?(?:bl\b|rbl|block|black|spam|sorbs)|"
    r"reject\w*\b[^.]{0,40}?polic(?:y|ies)|polic(?:y|ies)\b[^.]{0,40}?reject|"
    r"(?:\b|[-/])blocked\b|message content rejected|content filter",
    re.IGNORECASE,
)
# A relay refusal is the remote side's routing problem, not a verdict on our message.
_RELAY_WORDS = re.compile(r"relay(?:ing)? (?:denied|not permitted|prohibited)|unable to relay", re.IGNORECASE)
_GREYLIST_WORDS = re.compile(r"grey ?list|gray ?list", re.IGNORECASE)
_RATE_WORDS = re.compile(r"rate|too many|try again later", re.IGNORECASE)


def find_status(text: str) -> str | None:
    """The first enhanced status code in ``text`` (``"5.1.1"``), or None."""
    match = STATUS_RE.search(text or "")
    return ".".join(match.groups()) if match else None


def pick_status(reported: str | None, diagnostic: str) -> str | None:
    """The DSN's Status, unless it is generic (``x.0.0``) and the diagnostic names a precise one
    of the same class; a missing Status is taken from the diagnostic."""
    from_text = find_status(diagnostic)
    if not reported:
        return from_text
    if reported.endswith(".0.0") and from_text and from_text[0] == reported[0] and not from_text.endswith(".0.0"):
        return from_text
    return reported


def _by_text(text: str) -> str | None:
    if _GREYLIST_WORDS.search(text):
        return OTHER  # greylisting is a "come back later", not a verdict on us
    if _EXPIRED_WORDS.search(text):
        return EXPIRED
    if _FULL_WORDS.search(text):
        return MAILBOX_FULL
    if _HOST_WORDS.search(text):
        return HOST_UNKNOWN
    if _SPAM_WORDS.search(text):
        return SPAM_BLOCKED
    if _USER_WORDS.search(text):
        return USER_UNKNOWN
    return None


def classify_reason(status: str | None, diagnostic: str) -> str:
    """The reason category for an enhanced status code and the server's text."""
    text = diagnostic or ""
    if status:
        _cls, subject, detail = status.split(".")
        code = f"{subject}.{detail}"
        if code == "4.7":
            return EXPIRED
        if code == "2.2":
            return MAILBOX_FULL
        if code in ("1.1", "1.10", "1.3", "1.6"):
            return USER_UNKNOWN
        if code in ("1.2", "4.4"):
            return HOST_UNKNOWN
        if code == "2.1":
            # "mailbox disabled": a dead account, unless the server means rate limiting.
            return OTHER if _RATE_WORDS.search(text) else USER_UNKNOWN
        if subject == "7" and not _GREYLIST_WORDS.search(text) and not _RELAY_WORDS.search(text):
            if code in ("7.23", "7.25", "7.26", "7.27", "7.5", "7.7", "7.9"):
                return SPAM_BLOCKED  # SPF / reverse DNS / DMARC / policy failures (RFC 7372)
            if _POLICY_WORDS.search(text):
                return SPAM_BLOCKED
            return _by_text(text) or OTHER
    return _by_text(text) or OTHER


def is_permanent(status: str | None, diagnostic: str) -> bool:
    """Class 5 status, or no enhanced code and no 4xx basic code in the text."""
    if status:
        return status.startswith("5")
    match = BASIC_CODE_RE.search(diagnostic or "")
    return not (match and match.group(1) == "4")


def classify(status: str | None, diagnostic: str, action: Action) -> tuple[str, bool]:
    """``(reason, hard)`` for one recipient, by the rule in this module's docstring."""
    reason = classify_reason(status, diagnostic)
    hard = action == "failed" and reason in (USER_UNKNOWN, HOST_UNKNOWN) and is_permanent(status, diagnostic)
    return reason, hard
