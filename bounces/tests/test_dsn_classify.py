"""Reason / hard classification, the public types, and robustness of the parser."""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from pathlib import Path

import pytest

from bounces.dsn import BouncedRecipient, BounceReport, classify, parse_bounce
from bounces.dsn.classify import find_status, pick_status

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(
    ("status", "diagnostic", "action", "command", "expected"),
    [
        ("5.1.1", "550 5.1.1 User unknown", "failed", "", ("user_unknown", True, "status")),
        ("5.1.10", "550 5.1.10 RESOLVER.ADR.RecipientNotFound", "failed", "", ("user_unknown", True, "status")),
        (None, "550 No such user here", "failed", "RCPT", ("user_unknown", True, "text")),
        (None, "550 Requested action not taken: mailbox unavailable", "failed", "RCPT", ("user_unknown", True, "text")),
        ("5.0.0", "554 the account jo@x.example does not exist", "failed", "RCPT", ("user_unknown", True, "text")),
        # The same replies with nothing saying which command they answered: maybe a filter after DATA.
        (None, "550 No such user here", "failed", "", ("spam_blocked", False, "text")),
        ("5.0.0", "554 the account jo@x.example does not exist", "failed", "", ("spam_blocked", False, "text")),
        # The reporting system's own words (no SMTP reply) are believed.
        (None, "User not listed in public Name & Address Book", "failed", "", ("user_unknown", True, "text")),
        # Yahoo's "dd" answer is a missing mailbox, even after DATA.
        (None, "554 delivery error: dd This user doesn't have a yahoo.com account", "failed", "DATA",
         ("user_unknown", True, "text")),
        # The code says "no such user" but the words say the recipient refuses us: the words win.
        ("5.1.1", "550 5.1.1 RCP-P2 Refused due to recipient preferences", "failed", "",
         ("spam_blocked", False, "text")),
        # "may be blacklisted" among possible causes is a hedge; "domain may not exist" decides.
        (None, "The account or domain may not exist, they may be blacklisted, or missing the proper dns entries.",
         "failed", "", ("host_unknown", True, "text")),
        # A suspended or disabled account may come back: not a dead address.
        ("5.2.1", "550 5.2.1 The email account that you tried to reach is disabled", "failed", "",
         ("other", False, "text")),
        ("5.2.1", "550 5.2.1 receiving mail at a rate that prevents additional messages", "failed", "",
         ("other", False, "status")),
        ("5.2.1", "5.2.1 <a@x.example>... User Unknown", "failed", "", ("user_unknown", True, "text")),  # GMX
        ("5.1.2", "550 5.1.2 Host unknown", "failed", "", ("host_unknown", True, "status")),
        ("5.4.4", "Host or domain name not found", "failed", "", ("host_unknown", True, "status")),
        ("5.4.4", "Name service error: Malformed or unexpected name server reply", "failed", "",
         ("other", False, "text")),
        (None, "DNS Error: lookup of example.invalid responded with code NXDOMAIN", "failed", "",
         ("host_unknown", True, "text")),
        ("5.1.10", "550 5.1.10 host/domain does not accept mail", "failed", "", ("host_unknown", True, "text")),
        ("5.2.2", "552 5.2.2 Mailbox full", "failed", "", ("mailbox_full", False, "text")),
        ("4.2.2", "452 4.2.2 Over quota", "delayed", "", ("mailbox_full", False, "text")),
        (None, "552 Quota exceeded", "failed", "", ("mailbox_full", False, "text")),
        (None, "552 Requested mail action aborted", "failed", "", ("mailbox_full", False, "reply_code")),
        ("5.2.2", "552 5.2.2 see https://support.example/p", "failed", "", ("mailbox_full", False, "status")),
        ("5.7.1", "554 5.7.1 Service unavailable; Client host blocked using zen.spamhaus.org", "failed", "",
         ("spam_blocked", False, "text")),
        ("5.7.1", "550 5.7.1 Message rejected as spam", "failed", "", ("spam_blocked", False, "text")),
        ("5.7.26", "550 5.7.26 Unauthenticated email is not accepted", "failed", "", ("spam_blocked", False, "status")),
        ("5.7.1", "550 5.7.1 Access denied, banned sending IP", "failed", "", ("spam_blocked", False, "status")),
        ("5.1.8", "501 5.1.8 Sender address rejected", "failed", "", ("spam_blocked", False, "text")),
        ("5.7.1", "550 5.7.1 Relaying denied for this recipient", "failed", "", ("other", False, "text")),
        ("5.7.1", "550 5.7.1 Unable to relay", "failed", "", ("other", False, "text")),
        ("4.7.1", "451 4.7.1 Greylisted, try again later", "delayed", "", ("other", False, "text")),
        ("4.7.650", "451 4.7.650 temporarily rate limited due to IP reputation", "failed", "",
         ("spam_blocked", False, "text")),
        ("5.0.0", "550 Ip frequency limited, Blocked IP 192.0.2.1", "failed", "", ("other", False, "text")),
        ("4.4.7", "delivery temporarily suspended: connection refused", "failed", "", ("expired", False, "text")),
        ("5.4.7", "550 5.4.7 Delivery time expired", "failed", "", ("expired", False, "text")),
        (None, "retry timeout exceeded", "failed", "", ("expired", False, "text")),
        (None, "mailbox is full: retry timeout exceeded", "failed", "", ("mailbox_full", False, "text")),
        ("4.4.1", "connect to mx.example[192.0.2.1]:25: Connection timed out", "delayed", "",
         ("expired", False, "text")),
        # A delay is never hard.
        ("5.1.1", "550 5.1.1 User unknown", "delayed", "", ("user_unknown", False, "status")),
        # Not permanent: a class 4 status, or a 4xx basic code.
        ("4.1.1", "450 4.1.1 User unknown, try again", "failed", "", ("user_unknown", False, "status")),
        (None, "450 User unknown", "failed", "RCPT", ("user_unknown", False, "text")),
        # "User unknown" at the end of DATA: the recipient was accepted, a content filter refused us.
        (None, "550 Unknown user kijitora@example.net", "failed", "DATA", ("spam_blocked", False, "text")),
        (None, "550 Unknown user kijitora@example.net", "failed", "RCPT", ("user_unknown", True, "text")),
        # Under x.2.0 the mailbox exists: NTT docomo's and au's answer when a domain filter refuses us.
        ("5.2.0", "550 Unknown user taro@docomo.example.jp", "failed", "", ("spam_blocked", False, "text")),
        # A local delivery program's own words are a mailer error, not a dead address; a reply code
        # under X-Unix (old Sendmail's DNS failures) is still read.
        (None, 'procmail: Couldn\'t create "/var/spool/mail/x": No such user', "failed", "LOCAL",
         ("other", False, "text")),
        ("5.1.2", "550 5.1.2 Host unknown (Name server: x.example: host not found)", "failed", "LOCAL",
         ("host_unknown", True, "status")),
        ("5.3.0", "554 5.3.0 Other mail system problem", "failed", "", ("other", False, "status")),
        (None, "554 Transaction failed", "failed", "", ("other", False, "reply_code")),
        (None, "", "failed", "", ("other", False, "text")),
    ],
)  # fmt: skip
def test_classify(
    status: str | None, diagnostic: str, action: str, command: str, expected: tuple[str, bool, str]
) -> None:
    assert classify(status, diagnostic, action, command) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("diagnostic", "reason"),
    [
        ("550 Требуемое действие не выполнено: пользователь не найден", "user_unknown"),  # Mail.ru
        ("552 Почтовый ящик переполнен", "mailbox_full"),  # Yandex
        ("550 Empfänger unbekannt", "user_unknown"),  # GMX, WEB.DE
        ("552 Postfach ist voll", "mailbox_full"),
        ("550 Destinataire inconnu", "user_unknown"),  # Orange, La Poste
        ("552 Boîte aux lettres pleine", "mailbox_full"),
        ("550 Mail rejete. Mail rejected. OFR_999", "spam_blocked"),
        ("550 宛先のメールアドレスが見つかりません", "user_unknown"),  # Japanese providers
        ("552 メールボックスがいっぱいです", "mailbox_full"),
        ("550 5.1.1 <a@icloud.com>: user does not exist", "user_unknown"),  # Apple
        ("552 5.2.2 <a@icloud.com>: user is over quota", "mailbox_full"),
    ],
)
def test_provider_phrasings_in_many_languages(diagnostic: str, reason: str) -> None:
    assert classify(None, diagnostic, "failed", "RCPT")[0] == reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("550 5.1.1 user unknown", "5.1.1"),
        ("#550 5.1.10 RESOLVER.ADR.RecipientNotFound", "5.1.10"),
        ("Sorry, no mailbox here by that name. (#5.1.1)", "5.1.1"),
        ("host mx [192.0.2.5] said: 550 user unknown", None),  # an IP address is not a status
        ("550-5.7.26 DMARC", "5.7.26"),
        ("version 1.5.2.3 of the software", None),
        ("", None),
    ],
)
def test_find_status(text: str, expected: str | None) -> None:
    assert find_status(text) == expected


def test_pick_status_prefers_the_remote_servers_code() -> None:
    assert pick_status("5.0.0", "550 5.1.1 <a@b.example>... User unknown") == "5.1.1"
    assert pick_status("5.0.0", "554 rejected") == "5.0.0"
    # The remote server's own code over the reporting MTA's summary; the last of a quoted chain.
    assert pick_status("5.1.0", "5.1.0 - Unknown address error 550-'5.7.1 ... Access denied'") == "5.7.1"
    assert pick_status("5.1.1", "552 5.2.2 Over quota") == "5.2.2"
    assert pick_status("4.4.7", "554 4.4.7 Message expired <421 4.4.2 Connection timed out>") == "4.4.2"
    assert pick_status("5.1.1", "550 5.1.1 <a@b.example>... User unknown") == "5.1.1"
    assert pick_status("4.0.0", "550 5.1.1 unknown") == "4.0.0"  # a different class is not "more precise"
    assert pick_status(None, "552 5.2.2 full") == "5.2.2"


def test_report_types_and_json_shape() -> None:
    recipient = BouncedRecipient("a@b.example", "5.1.1", "failed", "user_unknown", True, "550 5.1.1 unknown", "status")
    report = BounceReport(is_bounce=True, original_message_id="<x@y>", bounced=[recipient])
    assert report.to_json_dict() == {
        "is_bounce": True,
        "original_message_id": "<x@y>",
        "bounced": [
            {
                "email": "a@b.example",
                "status": "5.1.1",
                "action": "failed",
                "reason": "user_unknown",
                "hard": True,
                "evidence": "status",
                "diagnostic": "550 5.1.1 unknown",
            }
        ],
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        recipient.hard = False  # type: ignore[misc]
    assert report.original_references == [] and report.original_headers == {}
    assert not report.is_auto_reply and not report.is_feedback_report and report.feedback_email is None


def test_original_headers_and_references_for_fallback_matching() -> None:
    report = parse_bounce((DATA / "postfix-user-unknown.eml").read_bytes())
    assert report.original_headers["Message-ID"] == report.original_message_id
    assert report.original_headers["To"] == '"John Doe" <j.doe@partner-corp.example>'
    assert report.original_headers["Return-Path"] == "<bounce+7f3e.12-demo.lead-q4m2x8c1vd@mailcore.localhost>"
    assert report.original_references == ["<0a4b1c9d2e3f4a5b.1718000000.000001-mailcore-12-demo.lead@mailcore>"]


def test_bounce_threaded_to_the_original_keeps_its_references() -> None:
    # No returned message at all, but the notice's own In-Reply-To names what bounced.
    raw = (
        b"From: MAILER-DAEMON@mx.example.com\r\nTo: bounce@mailcore.localhost\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\nIn-Reply-To: <abc.1-mailcore-3-demo.lead@mailcore>\r\n\r\n"
        b"<gone@example.net>: host mx.example.net said: 550 5.1.1 User unknown\r\n"
    )
    report = parse_bounce(raw)
    assert report.is_bounce and report.original_message_id is None
    assert report.original_references == ["<abc.1-mailcore-3-demo.lead@mailcore>"]
    assert [(r.email, r.status, r.hard) for r in report.bounced] == [("gone@example.net", "5.1.1", True)]


def test_bounce_signal_without_a_readable_recipient_is_still_a_bounce() -> None:
    raw = b"From: MAILER-DAEMON@mx.example.com\r\nSubject: failure notice\r\n\r\nSomething went wrong.\r\n"
    report = parse_bounce(raw)
    assert report.is_bounce and report.bounced == []


def test_exim_failed_recipients_header_is_the_last_resort() -> None:
    raw = (
        b"From: Mail Delivery System <Mailer-Daemon@mx.example.com>\r\nX-Failed-Recipients: Gone@Example.net\r\n"
        b"Subject: Mail delivery failed: returning message to sender\r\n\r\nUnreadable notice.\r\n"
    )
    assert [(r.email, r.action) for r in parse_bounce(raw).bounced] == [("gone@example.net", "failed")]


def _mutations(raw: bytes, rng: random.Random) -> list[bytes]:
    step = max(1, len(raw) // 15)
    variants = [raw[:cut] for cut in range(0, len(raw), step)]
    for _ in range(8):
        mutated = bytearray(raw)
        for _ in range(6):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        variants.append(bytes(mutated))
    variants.append(raw.replace(b"\n", b"\r"))
    return variants


def test_damaged_messages_never_reach_the_safety_net(caplog: pytest.LogCaptureFixture) -> None:
    """Truncated and bit-flipped copies of every sample parse without any exception inside."""
    rng = random.Random(20240610)
    with caplog.at_level(logging.WARNING, logger="bounces.dsn"):
        for path in sorted(DATA.glob("*.eml")):
            for variant in _mutations(path.read_bytes(), rng):
                assert isinstance(parse_bounce(variant), BounceReport)
    assert [r.getMessage() for r in caplog.records if r.name == "bounces.dsn"] == []


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x00\xff\xfe", b"Subject: =?utf-8?B?broken?=\r\nContent-Type: multipart/report\r\n\r\n--", b"\r\n" * 50],
)
def test_garbage_is_not_a_bounce(raw: bytes) -> None:
    assert parse_bounce(raw) == BounceReport(is_bounce=False)


def test_huge_notices_stay_linear() -> None:
    # 5,000 recipients listed Exim-style: once took minutes (a quadratic scan), must stay fast.
    body = b"".join(b"  u%d@h.example\n    550 5.1.1 user unknown\n" % i for i in range(5000))
    raw = b"From: MAILER-DAEMON@x.example\nSubject: failure notice\n\nThe following address(es) failed:\n" + body
    started = time.monotonic()
    report = parse_bounce(raw)
    assert time.monotonic() - started < 15
    assert len(report.bounced) == 1000  # bounded: a notice naming more is not a real bounce


@pytest.mark.parametrize(
    ("subject", "is_auto_reply"),
    [
        ("Automatic reply: Quotation S00007", True),
        ("Out of Office: Invoice", True),
        ("Abwesenheitsnotiz: Angebot", True),
        ("I am on vacation", True),
        ("Absent: back on Monday", True),
        ("Re: Vacation request", False),  # a person answering
        ("Vacation request approved", False),
        ("Re: Out of office coverage", False),
        ("Quotation S00007", False),
    ],
)
def test_vacation_subjects(subject: str, is_auto_reply: bool) -> None:
    report = parse_bounce(f"From: Ann <ann@client.example>\r\nSubject: {subject}\r\n\r\nHello\r\n".encode())
    assert (report.is_bounce, report.is_auto_reply) == (False, is_auto_reply)


@pytest.mark.parametrize(
    ("raw", "is_bounce"),
    [
        # A gateway appliance with an ordinary sender: a bounce subject plus a named failed recipient.
        (
            b"From: Mail Gateway <gw@corp.example>\r\nSubject: Undeliverable: Offer\r\n\r\n"
            b"<x@corp.example>: 550 5.1.1 User unknown\r\n",
            True,
        ),
        # The same words from a person, no recipient named, nothing automated: a message to post.
        (
            b"From: Joe <joe@customer.example>\r\nSubject: Delivery failure on order 123\r\n\r\n"
            b"The parcel could not be delivered to our warehouse.\r\n",
            False,
        ),
        # Marked automated (RFC 3834): a bounce even when no recipient can be read.
        (
            b"From: Gateway <gw@corp.example>\r\nSubject: Undeliverable: Offer\r\nAuto-Submitted: auto-replied\r\n\r\n"
            b"It did not work.\r\n",
            True,
        ),
        # postmaster@ writing "Re:" is a person; MAILER-DAEMON never replies.
        (b"From: postmaster@client.example\r\nSubject: Re: our newsletters\r\n\r\nWe whitelisted you.\r\n", False),
        (b"From: MAILER-DAEMON@mx.example\r\nSubject: Re: anything\r\n\r\nfailed.\r\n", True),
    ],
)
def test_weak_bounce_signals_need_evidence(raw: bytes, is_bounce: bool) -> None:
    assert parse_bounce(raw).is_bounce is is_bounce


@pytest.mark.parametrize(
    ("notice", "expected"),
    [
        # Postfix alias expansion: the mailbox that failed is the expanded one (the bounce token
        # still names the delivery we made to the alias).
        (
            b'<real@x.example> (expanded from <alias@x.example>): unknown user: "real"\r\n',
            ("real@x.example", None, "user_unknown", 'unknown user: "real"'),
        ),
        # GroupWise: the reason in parentheses on the address line.
        (
            b"The message that you sent was undeliverable to the following:\r\n\tgw@x.example (user not found)\r\n",
            ("gw@x.example", None, "user_unknown", "user not found"),
        ),
        # Sun Java / iPlanet: "Recipient address:" then "Diagnostic code:".
        (
            b"Your message cannot be delivered to the following recipients:\r\n\r\n"
            b"  Recipient address: sun@x.example\r\n"
            b"  Reason: Remote SMTP server has rejected address\r\n  Diagnostic code: smtp;550 5.1.1 User unknown\r\n",
            ("sun@x.example", "5.1.1", "user_unknown", "550 5.1.1 User unknown"),
        ),
        # A display name before the address in a sentence.
        (
            b"Your message to Mr X <mrx@x.example> could not be delivered because the mailbox is full.\r\n",
            ("mrx@x.example", None, "mailbox_full", "could not be delivered because the mailbox is full."),
        ),
    ],
)
def test_text_layouts(notice: bytes, expected: tuple[str, str | None, str, str]) -> None:
    raw = b"From: MAILER-DAEMON@mx.example\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\n" + notice
    [recipient] = parse_bounce(raw).bounced
    assert (recipient.email, recipient.status, recipient.reason, recipient.diagnostic) == expected
