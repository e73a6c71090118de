"""Reason categories and hard/soft for one bounced recipient, and the evidence that decided.

The rule (only hard bounces count against a contact):

* ``hard`` means *this address is dead*: the delivery was given up (``action == "failed"``),
  the failure is permanent (enhanced status class 5, or no enhanced code and no 4xx reply), and
  the reason is ``user_unknown`` (no such mailbox) or ``host_unknown`` (no such domain, or a
  domain that receives no mail).
* Everything else is soft: ``mailbox_full`` (the mailbox exists), ``spam_blocked`` (our message
  or our server was refused, not the address), ``expired`` (we never got an answer), ``other``
  (a suspended or disabled account that may come back, rate limits, relay refusals, network
  and protocol errors...), and every delay notice (``action == "delayed"``).

The best evidence decides, and the result says which (``evidence``):

1. a provider's own numbered reason code (Spectrum's ``AUP#In-1310``), then a few diagnostic
   phrases that no status code overrides, because servers send them with
   whatever code they like: spam / policy verdicts ("blocked using Spamhaus", "Refused due to
   recipient preferences", DMARC, a refused *sender* address), rate limits, relay refusals,
   suspended accounts, network errors, given-up deliveries, domains that take no mail;
2. a specific enhanced status code (RFC 3463: ``5.1.1`` no such mailbox, ``5.2.2`` mailbox
   full, ``5.7.x`` policy...) — ``"status"``;
3. the other diagnostic phrases (English and the phrasings of Gmail, Microsoft, Yahoo, Apple,
   GMX, Mail.ru, Yandex, French, German and Japanese providers) — ``"text"``;
4. the basic SMTP reply code (``552`` storage exceeded) — ``"reply_code"``.

A "user unknown" is only believed when something proves the mailbox is meant: a mailbox status
code (``x.1.1``...), the RCPT TO it answered, or the reporting system's own words. A refusal at
the end of DATA is a content filter's answer (the server had accepted the recipient), a bare
remote reply under no or a generic code may be one too, and under ``x.2.0`` the mailbox exists:
those are ``spam_blocked``, never hard.

The SMTP command that was refused says more: a refusal of HELO or MAIL FROM is a refusal of our
server or sender (``spam_blocked``), whatever the words; a permanent refusal of DATA with no
reason we can read is a content filter's (``spam_blocked``); and a remote server's answer to RCPT
TO in words only ("553 Invalid recipient") is read before the Status the reporting MTA summarised
it with.
"""

from __future__ import annotations

import re
from typing import Literal

from bounces.dsn.patterns import ci, lowered
from bounces.dsn.types import EXPIRED, HOST_UNKNOWN, MAILBOX_FULL, OTHER, SPAM_BLOCKED, USER_UNKNOWN, Action

Evidence = Literal["status", "reply_code", "text"]

# An enhanced status code, not part of an IP address or a version number.
STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")
# A basic SMTP reply code at a word boundary ("550 ", "550-", "#550").
BASIC_CODE_RE = re.compile(r"(?<![\d.])([245])\d\d(?=[\s\-:;,)\]]|$)")

_FULL_WORDS = ci(
    r"quota|mailbox (?:is )?full|mailbox (?:size )?exceeds|exceeds (?:the )?(?:allowed|maximum) (?:mailbox )?size|"
    r"mailbox has exceeded|mailbox exceeded|over ?quota|insufficient (?:system )?storage|"
    r"exceeded storage|storage (?:allocation|limit|space)|mail ?box size limit|mailfolder is full|"
    r"inbox is full|account is full|full mailbox|mailbox is full|their mailbox is full|"
    r"postfach (?:ist )?voll|speicherplatz|"
    r"bo[iî]te (?:aux lettres |de r[ée]ception )?(?:est )?pleine|d[ée]passement de quota|"
    r"переполнен|превышен(?:а|ие)? квот|容量|メールボックスがいっぱい|いっぱいです"
)
# qmail's "I'm not going to try again; this message has been in the queue too long" ends every
# failure it gives up on, whatever the cause: a weak hint, read after the status code.
_GAVE_UP_WORDS = ci(r"has been in the queue too long")

# -- 1. phrases that decide whatever the status code says ------------------------------------
_STRONG_TEXT: tuple[tuple[str, re.Pattern[str]], ...] = (
    (OTHER, ci(r"grey ?list|gray ?list")),  # "come back later", not a verdict
    # Yahoo's "dd" answer names a mailbox that does not exist, even when it comes after DATA.
    (USER_UNKNOWN, ci(r"\bdd this user doesn't have an? \S+ account")),
    # MessageLabs (Symantec Email Security.cloud) answers "542 <address> Rejected" for an address
    # its customer's directory does not list, under a generic Status 5.0.0.
    (USER_UNKNOWN, ci(r"(?<![\d.])542 <?[^\s@<>]+@[^\s@<>]+>? rejected")),
    (SPAM_BLOCKED, ci(r"reputation")),  # "rate limited due to IP reputation" is a verdict
    (
        OTHER,
        ci(
            r"frequency limit|rate limit|too many (?:connections|concurrent|messages|sessions)|"
            r"sending rate|exceeded the rate|connection limit"
        ),
    ),
    (OTHER, ci(r"relay(?:ing)? (?:access )?(?:denied|not permitted|prohibited)|unable to relay")),
    # ("may be blacklisted" is a hedge in a list of possible causes, not a verdict.)
    (
        SPAM_BLOCKED,
        ci(
            r"spamhaus|spamcop|barracuda|\bsorbs\b|(?<!may be )blacklist|black list|blocklist|block list|denylist|"
            r"blocked using|\brbl\b|dnsbl|uribl|\bspam\b|unsolicited|unwanted messages|"
            r"recipient preferences|poor reputation|sender reputation|\bdmarc\b|\bspf\b|dkim|"
            r"sender (?:address )?(?:rejected|refused|denied|blocked)|sender rejected|"
            r"domain of sender address|unroutable sender|sender verify failed|"
            r"mismatches client ip|unverif[iy]able sending|reverse dns|\bptr\b|"
            r"message filtered|content filter|mail rejete|message content rejected|virus|malware|"
            r"smtp server of your isp|purported responsible address|header error|"
            r"reject\w*\b[^.]{0,40}?polic(?:y|ies)|polic(?:y|ies)\b[^.]{0,40}?reject|policy violation|"
            r"network not allowed|not authorized to (?:send|post)|not allowed to post|"
            r"(?:do|does) not have (?:the )?permission to post|not a member|phish|投稿する権限|"
            # Google Groups refuses a post in the poster's language; the help link is constant.
            r"groups\.google\.com/support|"
            # EZweb's domain filter (the recipient chose which senders may reach them).
            r"recipients was rejected by a remote mail server"
        ),
    ),
    (
        OTHER,
        ci(
            r"(?:account|mailbox|user)[^.;]{0,40}?(?:is |has been )?(?:disabled|suspended|inactive|deactivated|"
            r"locked|blocked|frozen)|compte du destinataire est bloqu|recipient account is blocked|"
            r"temporarily (?:disabled|deactivated)"
        ),
    ),
    # A full mailbox outranks a size limit and the retry that gave up on it ("mailbox is full: retry timeout exceeded").
    (MAILBOX_FULL, _FULL_WORDS),
    (
        OTHER,
        ci(
            r"malformed or unexpected name server reply|dns query failed|name server failure|"
            r"host name lookup failure|"
            r"hop count exceeded|mail loop|routing loop|message (?:is )?too (?:big|large)|size limit|"
            r"no route to host|network is unreachable"
        ),
    ),
    (
        HOST_UNKNOWN,
        ci(
            r"null mx|doesn't receive email|does not accept mail|no mx (?:record|host|found)|"
            r"domain is not reachable|host/domain does not accept"
        ),
    ),
    (
        EXPIRED,
        ci(
            r"delivery time expired|retry time ?out exceeded|retry timeout exceeded|message expired|"
            r"(?:too long|timed out) (?:in|on) (?:the )?queue|maximum time in queue|queue\.expired|"
            r"cannot send message for \d+ days?|could not be delivered for \d+ days?|"
            r"expired after \d+|time limit exceeded|"
            r"retry time not reached for any host after a long failure period|lifetime exceeded|"
            r"will be retried for \d+ more|connection timed out|timed out|host not reachable|"
            r"socket error|resources temporarily unavailable|deferred: 421|"
            r"did not accept our requests to connect|unable to deliver in \d+ minutes|connection refused|"
            r"not delivered within \d+ days|host is not responding"
        ),
    ),
)

# -- 3. the other phrases, read after a specific status code ----------------------------------
_HOST_WORDS = ci(
    r"host or domain name not found|host not found|host \S+ not found|domain (?:name )?not found|nxdomain|"
    r"unrouteable|unroutable|no such domain|domain (?:name )?does not exist|unknown domain|"
    r"mx lookup failed|name service error|non-existent hosts?|domain (?:is )?(?:invalid|not valid)|"
    r"unknown host|host unknown|dns lookup failure|domain may not exist|"
    r"dom[aä]ne existiert nicht|domaine (?:introuvable|inexistant)"
)
_USER_WORDS = ci(
    r"user unknown|unknown user|no such user|user (?:not found|doesn't exist|does not exist)|"
    r"(?:account|address|mailbox|recipient|user|e-?mail account)[^.;]{0,60}?"
    r"(?:does not exist|doesn't exist|not exist|is not valid|is invalid|not found|unknown)|"
    r"does not exist|mailbox unavailable|mailbox not found|no mailbox|no such mailbox|"
    r"recipient ?not ?found|recipient unknown|unknown recipient|invalid recipient|invalid mailbox|"
    r"recipient address rejected: (?:user|unknown|undeliverable)|not listed in|"
    r"doesn't have an? [\w.-]+ account|no longer (?:available|active|in use|valid)|"
    r"unknown or illegal alias|no mailbox here by that name|bad destination mailbox|"
    r"address (?:unknown|not found|rejected)|unknown address|not our customer|"
    r"name is not recognized|invalid address|invalid user|invalid final delivery userid|"
    r"no valid recipients|mailbox has moved|has moved|"
    r"benutzer unbekannt|empf[aä]nger unbekannt|unbekannter empf[aä]nger|existiert nicht|"
    r"destinataire inconnu|adresse inconnue|utilisateur inconnu|n'existe pas|introuvable|"
    r"нет такого|не существует|не найден|宛先不明|存在しない|見つかりません"
)


# Spectrum (Charter) states its reason as a numbered code, "AUP#In-1310" (incoming) or
# "AUP#O-1000" (outgoing), under a reply text that often says something else ("sender rejected"
# for a connection limit). The code ranges are Spectrum's published table.
_SPECTRUM_RE = re.compile(r"aup#[a-z]*-?(\d{4})")
_SPECTRUM_RANGES: tuple[tuple[int, int, str], ...] = (
    (1000, 1000, SPAM_BLOCKED),  # the sending IP address is blocked
    (1010, 1080, SPAM_BLOCKED),  # the sending account is blocked or limited
    (1090, 1090, OTHER),  # the message cannot be processed now
    (1100, 1250, SPAM_BLOCKED),  # DNS of the sending IP, Cloudmark, Spamhaus, domain policy
    (1260, 1260, OTHER),  # IPv6 not accepted
    (1300, 1490, OTHER),  # connection, message and recipient rate limits
    (1500, 1520, SPAM_BLOCKED),  # sending as another address or domain
    (1530, 1550, OTHER),  # message too big, too many messages or recipients in one session
    (1560, 1560, SPAM_BLOCKED),  # too many invalid recipients: a policy refusal
)


def _by_provider_code(low: str) -> str | None:
    """The category a provider's own numbered reason code means, or None."""
    match = _SPECTRUM_RE.search(low)
    if match:
        number = int(match.group(1))
        for first, last, category in _SPECTRUM_RANGES:
            if first <= number <= last:
                return category
    return None


def find_status(text: str) -> str | None:
    """The first enhanced status code in ``text`` (``"5.1.1"``), or None."""
    match = STATUS_RE.search(text or "")
    return ".".join(match.groups()) if match else None


def pick_status(reported: str | None, diagnostic: str) -> str | None:
    """The code that describes the failure best: the remote server's own enhanced code in the
    diagnostic when it differs from the DSN Status within the same class (the reporting MTA often
    summarises, as in ``Status: 5.1.0`` over ``550 5.7.1 Access denied``); else the Status."""
    if not reported:
        return find_status(diagnostic)
    chosen = reported
    for match in STATUS_RE.finditer(diagnostic or ""):
        code = ".".join(match.groups())
        if code != reported and code[0] == reported[0] and not code.endswith(".0.0"):
            chosen = code  # the last one: the innermost server's word in a quoted chain
    return chosen


def _by_status(status: str) -> str | None:
    """The category a specific enhanced status code means, or None for generic codes."""
    _cls, subject, detail = status.split(".")
    code = f"{subject}.{detail}"
    if subject == "7":
        return SPAM_BLOCKED  # security or policy status (RFC 3463, RFC 7372)
    return {
        "1.1": USER_UNKNOWN,
        "1.6": USER_UNKNOWN,  # mailbox has moved, no forwarding address
        "1.2": HOST_UNKNOWN,
        # RFC 7505 made 5.1.10 "null MX", but Microsoft sends it for an unknown recipient
        # (RESOLVER.ADR.RecipientNotFound); a null MX says so in words, read before the code.
        "1.10": USER_UNKNOWN,
        "4.4": HOST_UNKNOWN,  # unable to route
        "1.7": SPAM_BLOCKED,  # our sender address was refused
        "1.8": SPAM_BLOCKED,
        "2.2": MAILBOX_FULL,
        "4.7": EXPIRED,
        "4.0": EXPIRED,  # a network or routing problem that outlived the retries
        "4.1": EXPIRED,  # no answer from the host
        "4.2": EXPIRED,  # bad connection
        "2.3": OTHER,  # message too big
        "3.4": OTHER,
        "4.6": OTHER,  # routing loop
        "6.0": OTHER,  # media / content error
    }.get(code)


def _weak_text(low: str) -> str | None:
    if _HOST_WORDS.search(low):
        return HOST_UNKNOWN
    if _USER_WORDS.search(low):
        return USER_UNKNOWN
    if _GAVE_UP_WORDS.search(low):
        return EXPIRED
    return None


def _by_reply_code(text: str) -> str | None:
    match = BASIC_CODE_RE.search(text)
    if match and match.group(0) == "552":
        return MAILBOX_FULL  # RFC 5321: "exceeded storage allocation"
    return None


def classify_reason(status: str | None, diagnostic: str, command: str = "") -> tuple[str, Evidence]:
    """The reason category for an enhanced status code, the server's text and the SMTP command
    it answered (``"LOCAL"`` for a local delivery program), and which of them decided."""
    text = diagnostic or ""
    low = lowered(text)
    reason: str | None = None
    evidence: Evidence = "text"
    reason = _by_provider_code(low) if "aup#" in low else None
    if reason is None:
        for category, pattern in _STRONG_TEXT:
            if pattern.search(low):
                reason = category
                break
    decisive = reason is not None
    if reason is None and status and command == "RCPT" and not STATUS_RE.search(text):
        # The remote server answered RCPT TO in words only; the Status is the reporting MTA's
        # summary of that answer, so the answer's own words come first.
        reason = _weak_text(low)
    if reason is None and status:
        reason = _by_status(status)
        evidence = "status"
    if reason is None:
        reason = _weak_text(low)
        evidence = "text"
    if reason is None:
        reason = _by_reply_code(text)
        evidence = "reply_code"
    unexplained = reason is None
    if reason is None:
        reason = OTHER
        evidence = "status" if status else "reply_code" if BASIC_CODE_RE.search(text) else "text"
    if reason == USER_UNKNOWN and not decisive:
        reason = _user_unknown_unless_refused(status, text, command)
    if unexplained and command == "DATA" and is_permanent(status, text):
        # Every recipient was accepted, then the message was refused for good with no reason we
        # know: the receiving system refused the content (a 4xx "try later" is not a verdict).
        return SPAM_BLOCKED, evidence
    if (
        command in ("HELO", "MAIL")
        and not decisive
        and (unexplained or reason in (USER_UNKNOWN, HOST_UNKNOWN, EXPIRED))
    ):
        # Refused before any recipient was named (RFC 5321 section 3.3): the refusal is of our
        # server or our sender address, not of the recipient, whatever words came with it.
        return SPAM_BLOCKED, "text"
    return reason, evidence


def _user_unknown_unless_refused(status: str | None, text: str, command: str) -> str:
    """``user_unknown``, unless the circumstances say a filter or a mailer spoke, not the mailbox."""
    if command == "DATA" or (status or "")[1:] == ".2.0":
        # Accepted at RCPT TO, refused after DATA: a filter refused the content. And "user unknown"
        # under x.2.0 (the mailbox's own status, RFC 3463) is what NTT docomo and au answer when
        # the recipient's domain filter refuses the sender: the mailbox exists.
        return SPAM_BLOCKED
    if command != "RCPT" and _unproven_reply(status, text):
        # A remote server's "no such user" with neither a mailbox status code nor the RCPT TO it
        # answered may be a filter speaking after DATA: not proof that the address is dead.
        return SPAM_BLOCKED
    if command == "LOCAL" and not BASIC_CODE_RE.search(text):
        return OTHER  # the local delivery program failed and said so in its own words (a mailer error)
    return USER_UNKNOWN


def _unproven_reply(status: str | None, text: str) -> bool:
    """An SMTP reply (a basic code in the text) under no status or a generic ``x.0.0`` one."""
    return (not status or status[1:] == ".0.0") and BASIC_CODE_RE.search(text) is not None


def is_permanent(status: str | None, diagnostic: str) -> bool:
    """Class 5 status, or no enhanced code and no 4xx basic code in the text."""
    if status:
        return status.startswith("5")
    match = BASIC_CODE_RE.search(diagnostic or "")
    return not (match and match.group(1) == "4")


def classify(status: str | None, diagnostic: str, action: Action, command: str = "") -> tuple[str, bool, Evidence]:
    """``(reason, hard, evidence)`` for one recipient, by the rule in this module's docstring."""
    reason, evidence = classify_reason(status, diagnostic, command)
    hard = action == "failed" and reason in (USER_UNKNOWN, HOST_UNKNOWN) and is_permanent(status, diagnostic)
    return reason, hard, evidence
