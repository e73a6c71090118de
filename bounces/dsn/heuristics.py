"""Non-standard bounces: the readable text of Postfix, Sendmail (V5 too), Exim, qmail, Exchange,
Gmail, Yahoo, Courier, Domino / Notes, OpenSMTPD, DragonFly, GMX, Zoho, KDDI, EZweb, McAfee,
MXLogic, MailFoundry, m-FILTER, IMail, SendGrid, the unnamed X1-X6 formats and plain
"could not be delivered" notices.

Rather than one parser per vendor, the notices are read with the few layouts they share:

* ``<user@example.com>: diagnostic`` (Postfix, qmail, Yahoo, Courier, OpenSMTPD), the
  diagnostic possibly on the following lines;
* an address alone on an indented line after an introduction ("The following address(es)
  failed:", "was not delivered to:", "failed permanently:"), the diagnostic indented below or
  after a label ("because:", "The error that the other server returned was:");
* a sentence naming the address ("Your message wasn't delivered to user@example.com because",
  "There was an error delivering your mail to <user@x>", "target mail address: user@x");
* one line holding the address and its reason (Zoho's "user@x Invalid Address, ERROR_CODE :550",
  SendGrid's "name:0:<user@x> : reason", Sendmail's "554 <user@x>... reason");
* the address alone under its reason (Lotus Notes' "Failure Reasons").

Each address gets the text between it and the next address; the diagnostic is taken from that
region by the most specific rule that matches (an SMTP transcript reply, Exchange's "Remote
Server returned '...'", "said:", a line starting with an SMTP code, else the first lines).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from bounces.dsn.classify import BASIC_CODE_RE, STATUS_RE
from bounces.dsn.mime import EMAIL_SEARCH_RE, normalize_email
from bounces.dsn.patterns import ci, lowered

_ADDR = EMAIL_SEARCH_RE.pattern


RETURNED_MARKER_RE = ci(
    r"(?im)^[ \t>-]*(?:"
    r"-+ ?Below this line is a copy of the message|"
    r"-+ This is a copy of the (?:message|body of the message)|"
    r"Below is a copy of the original message|"
    r"-+ ?Original message(?: follows)? ?-+|"
    r"-+ ?Unsent message follows ?-+|"
    r"Original message follows\.?[ \t]*$|"
    r"-+ ?Message header follows ?-+|"
    r"-+ ?Returned message ?-+|"
    r"-+ ?The header of the original message is following|"
    r"Original message headers:|"
    r"-+ ?Original Message ?-+|"
    r"--- ?Kopie der Nachricht|"
    r"--- ?Copie du message|"
    r"Message headers follow\.?[ \t]*$|"
    r"-+ ?Returned Message ?-+|"
    r"-+ ?original (?:message|mail info)[ \t]*$|"
    r"Included is a copy of the message header|"
    r"Original Message:[ \t]*$|"
    r"bounced E-Mail:[ \t]*$"
    r")"
)

_INTRO_RE = ci(
    r"(?i)following address(?:\(es\)|es)? failed|"
    r"following recipients? (?:failed permanently|has been delayed|could not be reached)|"
    r"recipient\(?s?\)? (?:cannot|could not) be reached|"
    r"was not delivered to:|"
    r"(?:could not|couldn't|cannot) be delivered to (?:one or more|the following)|"
    r"delivery has failed to these recipients|"
    r"addresses had (?:permanent fatal|transient non-fatal) errors|"
    r"not yet been delivered|has not been delivered|address to which the message has not yet|"
    r"following (?:list of )?recipient|to the following (?:address|recipient)|undeliverable to the following|"
    r"following (?:destination )?addresses? (?:could not|couldn't|cannot|were)|"
    r"folgende[n]? Empf[äa]nger|nicht zugestellt werden|"
    r"destinataires? suivants?|n[’']a pas pu [êe]tre (?:remis|distribu[ée])|"
    r"Diagnostic information for administrators|"
    r"following addresses had (?:permanent )?delivery (?:errors|problems)|"
    r"Failure Reasons|"
    r"送信に失敗しました"
)
# "<user@x>: reason" (Postfix, qmail...), "user@x: reason", GMX's '"user@x":'. When Postfix
# expanded an alias ("<user@x> (expanded from <alias@x>):") the address that failed is the first.
_ANGLE_COLON_RE = ci(rf"(?m)^[ \t]*[<\"]({_ADDR})[>\"](?:[ \t]*\(expanded from <{_ADDR}>\))?[ \t]*:?")
_BARE_COLON_RE = ci(rf"(?m)^({_ADDR})[ \t]*:(?:[ \t]+\S.*)?$")
# An address alone on its line after an introduction, possibly bulleted ("* user@x",
# ">>> user@x <user@x>"), with a note after it ("(reason)", "[reason]").
_OWN_LINE_RE = ci(
    rf"(?m)^[ \t]*(?:[*•][ \t]+|>>>[ \t]+)?<?({_ADDR})>?"
    rf"(?:[ \t]*<mailto:[^>]*>|[ \t]+on[ \t].*|[ \t]*\(([^)]*)\)|[ \t]*\[([^\]]*)\]|[ \t]+<{_ADDR}>)?[ \t]*$"
)
# One line: the address first, then the reason ("user@x Invalid Address, ERROR_CODE :550, ...";
# "name:00000:<user@x> : Connection timed out"; "[Status: Error, Address: <user@x>, ResponseCode 421, ...]").
_LINE_REASON_RES = [
    ci(rf"(?m)^({_ADDR})[ \t]+(Invalid Address\b.*)$"),
    ci(rf"(?m)^[^\s:<>]+:\d+:<({_ADDR})>[ \t]*:[ \t]*(.+)$"),
    # Sendmail (V5 and later) in its transcript: "554 <user@x>... 550 Host unknown".
    ci(rf"(?m)^[245]\d\d <({_ADDR})>\.\.\. (.+)$"),
    ci(rf"(?i)Address: <({_ADDR})>, (ResponseCode [^\]\n]*)"),
]
# fml's refusals name the list that refused the post, and the line is the reason: "You are not a
# member of this mailing list <list@x>.", "Duplicated Message-ID in <list@x>."
_FML_NEEDLES = ("mailing list <", "duplicated message-id in <")
_FML_LINE_RE = ci(rf"(?m)^(?=[^\n]*(?:not a member of this mailing list|duplicated message-id in) <({_ADDR})>)(.+)$")
# (a word the sentence cannot do without, the sentence): the word is looked for first, since a
# plain substring test is far cheaper than running the pattern over the notice.
_SENTENCE_RES = [
    (
        "delivered",
        ci(
            rf"(?i)(?:wasn't|was not|could not be|couldn't be|cannot be|can't be|has not been) delivered"
            rf" to:?\s*<?({_ADDR})>?"
        ),
    ),
    (
        "your message to",
        ci(
            rf"(?i)your message to (?:[^<>\n@]{{0,60}}<)?({_ADDR})>?"
            r"(?= (?:couldn't|could not|can't|cannot|wasn't|was not|has not))"
        ),
    ),
    ("recipient address:", ci(rf"(?i)recipient address:\s*<?({_ADDR})>?")),
    ("problem delivering", ci(rf"(?i)problem delivering your message to <?({_ADDR})>?")),
    ("delivery to", ci(rf"(?i)delivery to <?({_ADDR})>? (?:has )?(?:failed|been delayed|is delayed)")),
    ("unable to deliver", ci(rf"(?i)unable to deliver (?:your |the )?(?:message |mail )?to:?\s*<?({_ADDR})>?")),
    ("error delivering", ci(rf"(?i)error delivering your mail to <?({_ADDR})>?")),
    ("recipients returned", ci(rf"(?i)recipients returned (?:permanent|temporary|transient) errors: <?({_ADDR})>?")),
    ("undeliverable to", ci(rf"(?i)\bundeliverable to <?({_ADDR})>?")),
    ("recipient:", ci(rf"(?im)^[ \t]*Recipient:[ \t]*<?({_ADDR})>?[ \t]*$")),
    ("target mail address", ci(rf"(?i)target mail address:[ \t]*<?({_ADDR})>?")),
    # A "Message details" block listing the envelope (Apache James).
    ("rcpt to:", ci(rf"(?m)^[ \t]+RCPT TO:[ \t]*<?({_ADDR})>?[ \t]*$")),
    (
        "delivered",
        ci(
            rf"(?i)(?:message|mail) (?:for|to) <?({_ADDR})>?"
            r"(?= (?:could not|couldn't|was not|wasn't|can ?not) be delivered)"
        ),
    ),
]
# The reason written before the address: "User mailbox exceeds allowed size: user@host" (SMTP32...);
# the whole line is the diagnostic.
_REASON_FIRST_RE = ci(
    r"(?im)^[ \t]*((?:user )?(?:mailbox exceeds allowed size|user unknown|unknown user|no such user|user not found|"
    r"invalid final delivery userid|"
    rf"mailbox unavailable|invalid recipient|recipient unknown)\s*:\s*<?({_ADDR})>?)[ \t]*$"
)

_PERMANENT_MARKERS = ci(
    r"(?i)permanent fatal errors|failed permanently|this is a permanent error|permanent error|"
    r"following address(?:\(es\)|es)? failed|I've given up|delivery has failed|could not be delivered|"
    r"couldn't be delivered|wasn't delivered|was not delivered|cannot be delivered|unable to deliver|"
    r"cannot be reached|error has occurred while attempting to deliver|undeliverable|"
    r"nicht zugestellt|n[’']a pas pu [êe]tre"
)
_TRANSIENT_MARKERS = ci(
    r"(?i)transient non-fatal errors|this is a warning only|has been delayed|not yet been delivered|"
    r"will (?:continue to )?(?:retry|try)|delays have been reported|temporary problem delivering|"
    r"still (?:trying|being retried)|delivery (?:is )?delayed|could not send message for past|"
    r"delivery incomplete|no action is required on your part|"
    r"this is a warning message only|(?:is|been) delayed for more than|only a temporary failure"
)

MAX_NOTICE = 256 * 1024
MAX_HITS = 1000
_SKIP_LOCALS = ("mailer-daemon", "double-bounce", "noreply", "no-reply")


@dataclass(frozen=True)
class TextHit:
    email: str
    diagnostic: str
    delayed: bool
    command: str = ""  # the SMTP command the failure answered ("DATA", "RCPT", "MAIL"), when said


# Where notices say which SMTP command was refused.
_COMMAND_RES = (
    re.compile(r"in reply to (?:end of )?(data|rcpt|mail)\b", re.I),
    re.compile(r"after (end of data|rcpt|mail|data)\b", re.I),
    re.compile(r"did not like our (final data|rcpt|mail)", re.I),
    re.compile(r"smtp command\s*\n\s*(data|rcpt|mail)\b", re.I),
    re.compile(r"\((data|rcpt|mail)\)", re.I),
    re.compile(r"(?m)^\s*>>>\s*(rcpt|mail)\b[^\n]*\n\s*<<<\s*[45]", re.I),
    # qmail: "Connected to 192.0.2.1 but my name was rejected." (HELO) / "... but sender was rejected."
    re.compile(r"connected to \S+ but (my name|sender) was rejected", re.I),
)


def smtp_command(region: str) -> str:
    """``"DATA"``, ``"RCPT"``, ``"MAIL"`` or ``"HELO"``: the command a failure answered, when the notice says
    so in words. (A Sendmail transcript's ``>>> DATA`` is not enough: with pipelining, refusals of
    RCPT TO are read after DATA is sent.)"""
    for pattern in _COMMAND_RES:
        match = pattern.search(region)
        if match:
            word = match.group(1).lower()
            if word in ("my name", "sender"):
                return "HELO" if word == "my name" else "MAIL"
            return "DATA" if "data" in word else word.upper()
    return ""


_TALKING_TO = "while talking to "
_DATA_REFUSED_RE = re.compile(r"(?m)^\s*>>>\s*DATA\s*\n\s*<<<\s*5", re.I)


def _session_refusal(notice: str, low: str, position: int) -> str:
    """``"MAIL"`` or ``"HELO"`` when the Sendmail transcript block this recipient is listed in
    ("While talking to host: >>> MAIL From:... <<< 501 ...", then one line per recipient) shows
    the session refused before any RCPT TO: every recipient of that block failed with it."""
    start = low.rfind(_TALKING_TO, 0, position)
    if start < 0:
        return ""
    command = smtp_command(notice[start:position])
    if command in ("MAIL", "HELO"):
        return command
    # Only in a recipient's own block: its line carries no reply, so the refused DATA is its failure.
    return "DATA" if _DATA_REFUSED_RE.search(notice, start, position) else ""


def cut_returned(text: str) -> tuple[str, str]:
    """``(notice, returned_copy)``: the text split where the copy of the message starts."""
    match = RETURNED_MARKER_RE.search(lowered(text))
    if not match:
        return text, ""
    return text[: match.start()], text[match.end() :]


def _one_line(text: str) -> str:
    return " ".join(text.split())


_IN_REPLY_TO_RE = re.compile(r"\s*\(in reply to [^)]*\)\.?")
_GIVING_UP_RE = re.compile(r"\s*Giving up on [\d.:a-fA-F]+\.?\s*$")
_HASHES_RE = re.compile(r"^\s*#\s*|\s*##\s*$")
_TYPE_PREFIX_RE = re.compile(r"^\s*(?:smtp|x-[\w-]+)\s*;\s*", re.IGNORECASE)
_REPLY_LINE_RE = re.compile(r"[245]\d\d(?:[\s\-:]|$)")
_BLOCK_END_RE = re.compile(r"\s*(?:Giving up|Generating server|Remote-MTA)")


def _trim(diag: str) -> str:
    diag = _IN_REPLY_TO_RE.sub("", diag)
    diag = _GIVING_UP_RE.sub("", diag)
    diag = _HASHES_RE.sub("", diag)
    diag = _TYPE_PREFIX_RE.sub("", _one_line(diag))
    diag = diag.strip().lstrip(".: ")
    if len(diag) > 1 and diag[0] == diag[-1] and diag[0] in "'\"":
        diag = diag[1:-1].strip()
    return diag


def _smtp_line_block(lines: list[str]) -> str:
    """From the first line starting with an SMTP reply code to the end of its paragraph."""
    for index, line in enumerate(lines):
        stripped = line.strip().lstrip("#")
        if _REPLY_LINE_RE.match(stripped):
            taken = [stripped]
            for follow in lines[index + 1 :]:
                if not follow.strip() or _BLOCK_END_RE.match(follow):
                    break
                taken.append(follow.strip())
            return " ".join(taken)
    return ""


def diagnostic_from_region(region: str) -> str:
    """The remote server's words from the text that follows one recipient."""
    # An SMTP transcript: the first failure reply, with its continuation lines ("550-...", "550 ...").
    # A "503 Need RCPT" that follows a refused RCPT is only the consequence.
    replies = [r for r in re.findall(r"(?m)^\s*<<<\s*([45]\d\d[ -].*)$", region) if not r.startswith("503")]
    if replies:
        code = replies[0][:3]
        taken = []
        for reply in replies:
            if not reply.startswith(code):
                break
            taken.append(reply)
            if reply[3] == " ":
                break
        return _trim(" ".join(taken))
    rules = (
        r"^\.\.\.\s*(.+)",  # Sendmail's "<user@host>... Deferred: reason"
        r"Remote Server returned '(.+)'",
        r"(?m)#\d\.\d+\.\d+ smtp;\s*(.*)>[ \t]*(?:#SMTP#)?[ \t]*$",
        # One paragraph: the first line, then every following non-blank line.
        r"(?:The error that the other server returned was|The response from the remote server was|"
        r"The response was):[ \t]*\n\s*(.+(?:\n[ \t]*\S.*)*)",
        r"said:\s*(.+(?:\n[ \t]*\S.*)*)",
        r"because:\s*\n\s*(.+)",
        r"Diagnostic[- ]code:\s*(.+)",
        r"\(reason:\s*([^)]*)\)",
    )
    for rule in rules:
        match = re.search(rule, region, re.IGNORECASE)
        if match and match.group(1).strip():
            return _trim(match.group(1))
    lines = region.split("\n")
    block = _smtp_line_block(lines)
    if block:
        return _trim(block)
    match = re.search(r"(?:Grund|Raison|Reason|Fehler|Erreur)\s*:\s*(.+)", region, re.IGNORECASE)
    if match and match.group(1).strip():
        return _trim(match.group(1))
    for line in lines:  # a reply code inside a sentence ("... returned 550 5.1.1 ...")
        if STATUS_RE.search(line) or BASIC_CODE_RE.search(line):
            return _trim(line)
    first: list[str] = []
    for line in lines:
        if not line.strip(" \t.:-=*"):
            if first:
                break
            continue
        first.append(line.strip())
        if len(first) == 3:
            break
    return _trim(" ".join(first))


def _only_labels(line: str, email: str) -> bool:
    """The line is the address alone, or a label and the address ("target mail address: x")."""
    rest = lowered(line).replace(email, "").strip(" \t<>\"'")
    return not rest or rest.endswith(":")


def _reason_above(before: str) -> str:
    """The reason written above an address: the nearest paragraph that is not the notice's
    introduction of the recipients nor a separator (Lotus Notes, EZweb, plain notices)."""
    paragraphs = [p for p in re.split(r"\n[ \t]*\n", before) if p.strip(" \t\n-=*")]
    for paragraph in reversed(paragraphs[-3:]):
        lines = [line for line in paragraph.split("\n") if line.strip(" \t-=*")]
        lines = [line for line in lines if not _INTRO_RE.search(lowered(line))]
        if lines:
            return _trim(" ".join(lines[-3:]))
    return ""


def after_intro(notice: str) -> str:
    """The notice after its (last) introduction of the failed recipients; all of it without one."""
    end = 0
    for match in _INTRO_RE.finditer(lowered(notice)):
        end = match.end()
    return notice[end:]


def _wanted(email: str | None, exclude: set[str]) -> bool:
    if not email or email in exclude:
        return False
    return not email.split("@")[0].startswith(_SKIP_LOCALS)


class _Sections:
    """Where the permanent / transient sections of a notice start, for bisecting (linear time)."""

    def __init__(self, low: str) -> None:
        self.permanent = [m.end() for m in _PERMANENT_MARKERS.finditer(low)]
        self.transient = [m.end() for m in _TRANSIENT_MARKERS.finditer(low)]

    def delayed_at(self, position: int) -> bool:
        """A recipient is delayed when the nearest section marker before it is a transient one;
        with no marker before it, when the notice only speaks of delays."""
        perm = bisect.bisect_right(self.permanent, position)
        temp = bisect.bisect_right(self.transient, position)
        last_perm = self.permanent[perm - 1] if perm else -1
        last_temp = self.transient[temp - 1] if temp else -1
        if last_perm >= 0 or last_temp >= 0:
            return last_temp > last_perm
        return bool(self.transient) and not self.permanent


def _score(diag: str) -> int:
    if diag.startswith("-"):
        return 0  # a section heading ("----- Transcript of session follows -----"), not a reason
    if STATUS_RE.search(diag):
        return 3
    if BASIC_CODE_RE.search(diag):
        return 2
    return 1 if diag else 0


def parse_text(notice: str, *, exclude: set[str] | None = None) -> list[TextHit]:
    """Failed (or delayed) recipients named in a notice's readable text."""
    exclude = exclude or set()
    # A notice is a few kilobytes; bound the work on hostile or huge input.
    notice = notice[:MAX_NOTICE]
    # Every pattern runs on the lower-cased text; what is kept as a diagnostic is cut from the
    # notice itself at the same positions.
    low = lowered(notice)

    def original(match: re.Match[str], group: int) -> str:
        return notice[match.start(group) : match.end(group)] if match.start(group) >= 0 else ""

    # (position where the address occurs, where its region starts, raw address, diagnostic on its line)
    found: list[tuple[int, int, str, str]] = []
    found += [(m.start(), m.end(), m.group(1), "") for m in _ANGLE_COLON_RE.finditer(low)]
    found += [(m.start(), m.end(1) + 1, m.group(1), "") for m in _BARE_COLON_RE.finditer(low)]
    intro = _INTRO_RE.search(low)
    if intro:
        own_lines = _OWN_LINE_RE.finditer(low, intro.end())
        found += [(m.start(), m.end(), m.group(1), original(m, 2) or original(m, 3)) for m in own_lines]
    for pattern in _LINE_REASON_RES:
        found += [(m.start(), m.end(), m.group(1), original(m, 2)) for m in pattern.finditer(low)]
    if any(needle in low for needle in _FML_NEEDLES):
        found += [(m.start(), m.end(), m.group(1), original(m, 2)) for m in _FML_LINE_RE.finditer(low)]
    for needle, pattern in _SENTENCE_RES:
        if needle in low:
            found += [(m.start(), m.end(), m.group(1), "") for m in pattern.finditer(low)]
    found += [(m.start(), m.end(), m.group(2), original(m, 1)) for m in _REASON_FIRST_RE.finditer(low)]
    found.sort()
    kept = [
        (pos, start, email, inline)
        for pos, start, raw, inline in found
        if (email := normalize_email(raw)) and _wanted(email, exclude)
    ][:MAX_HITS]
    positions = [hit[0] for hit in kept]
    sections = _Sections(low)
    hits: dict[str, TextHit] = {}
    for position, region_start, email, inline in kept:
        # The region ends where the next address starts (one nested in this hit's own line is skipped).
        after = bisect.bisect_left(positions, region_start)
        region = notice[region_start : positions[after] if after < len(positions) else len(notice)]
        diag = _trim(inline) if inline.strip() else diagnostic_from_region(region)
        if not diag:
            # Nothing after the address: the reason was written before it, on its own line.
            line_start = notice.rfind("\n", 0, position) + 1
            line_end = notice.find("\n", position)
            diag = _trim(notice[line_start : line_end if line_end >= 0 else len(notice)])
            if _only_labels(diag, email):
                diag = _reason_above(notice[:line_start])
        # A Sendmail transcript's next "While talking to" block is another session, not this one.
        session_end = low.find(_TALKING_TO, region_start, region_start + len(region))
        # From the start of the address's own line: ">>> RCPT To:<x>" then "<<< 553 ..." answers it.
        own_start = notice.rfind("\n", 0, position) + 1
        own = notice[own_start : region_start + len(region) if session_end < 0 else session_end]
        command = smtp_command(own)
        if not command and not BASIC_CODE_RE.search(diag):
            # A line with no reply of its own ("554 <x>... Remote protocol error") failed with the session.
            command = _session_refusal(notice, low, position)
        if email not in hits:
            hits[email] = TextHit(email, diag, sections.delayed_at(position), command)
        elif _score(diag) > _score(hits[email].diagnostic):
            # Exchange names the address twice; the second mention carries the SMTP reply.
            hits[email] = TextHit(email, diag, hits[email].delayed, command or hits[email].command)
    # Several addresses sharing one explanation (Gmail lists them, then explains once).
    shared = next((hit.diagnostic for hit in reversed(hits.values()) if hit.diagnostic), "")
    return [hit if hit.diagnostic else TextHit(hit.email, shared, hit.delayed, hit.command) for hit in hits.values()]
