"""One-line summaries of real SMTP answers: stage, basic code, enhanced status, then the text."""

from __future__ import annotations

import pytest

from mailcore.smtp_replies import (
    SmtpReply,
    SmtpStage,
    Summary,
    delivery_failure_reason,
    parse_delivery_failure,
    summarize_delivery_failure,
)

HOST = "smtp.example.net"

# (the exception our sender records, the server's answer as smtplib reports it, the summary)
ANSWERS = [
    # SendGrid refuses an unverified From at DATA, without an enhanced code.
    (
        "SMTPDataError",
        "550 The from address does not match a verified Sender Identity. Mail cannot be sent until this error is "
        "resolved. Visit https://sendgrid.com/docs/for-developers/sending-email/sender-identity/ to see the "
        "Sender Identity requirements",
        Summary.SENDER_REFUSED,
    ),
    # Amazon SES (sandbox or unverified domain).
    (
        "SMTPDataError",
        "554 Message rejected: Email address is not verified. The following identities failed the check in region "
        "EU-WEST-1: sales@example.com",
        Summary.SENDER_REFUSED,
    ),
    (
        "SMTPSenderRefused",
        "553 5.7.1 <sales@example.com>: Sender address rejected: not owned by user bob",
        Summary.SENDER_REFUSED,
    ),
    (
        "SMTPRecipientsRefused",
        "450 4.1.8 <sales@example.com>: Sender address rejected: Domain not found",
        Summary.SENDER_REFUSED,
    ),
    ("SMTPSenderRefused", "550 5.1.8 Bad sender's system address", Summary.SENDER_REFUSED),
    ("SMTPSenderRefused", "501 5.5.4 Syntax error in parameters", Summary.SENDER_REFUSED),
    # Authentication required before MAIL: Gmail, Exchange Online, Postfix submission.
    (
        "SMTPSenderRefused",
        "530 5.7.0 Authentication Required. Learn more at\n5.7.0  https://support.google.com/mail/?p=WantAuthError",
        Summary.AUTHENTICATION_REQUIRED,
    ),
    (
        "SMTPSenderRefused",
        "530 5.7.57 Client not authenticated to send mail during MAIL FROM "
        "[AM0PR01CA0001.eurprd01.prod.exchangelabs.com]",
        Summary.AUTHENTICATION_REQUIRED,
    ),
    (
        "SMTPRecipientsRefused",
        "554 5.7.1 <bob@example.org>: Recipient address rejected: Authentication required",
        Summary.AUTHENTICATION_REQUIRED,
    ),
    (
        "SMTPAuthenticationError",
        "535 5.7.8 Username and Password not accepted. Learn more at\n5.7.8  https://support.google.com/mail/?p=BadCredentials",
        Summary.AUTHENTICATION_FAILED,
    ),
    # Unknown recipients: Postfix, Gmail, Exchange, a server without enhanced codes.
    (
        "SMTPRecipientsRefused",
        "550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown in local recipient table",
        Summary.RECIPIENT_UNKNOWN,
    ),
    (
        "SMTPRecipientsRefused",
        "550 5.1.1 The email account that you tried to reach does not exist. Please try\n"
        "5.1.1 double-checking the recipient's email address for typos",
        Summary.RECIPIENT_UNKNOWN,
    ),
    (
        "SMTPRecipientsRefused",
        "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
        Summary.RECIPIENT_UNKNOWN,
    ),
    ("SMTPRecipientsRefused", "550 No such user here", Summary.RECIPIENT_UNKNOWN),
    (
        "SMTPRecipientsRefused",
        "550 5.1.2 <bob@nowhere.invalid>: Recipient address rejected: Domain not found",
        Summary.RECIPIENT_DOMAIN_UNKNOWN,
    ),
    (
        "SMTPRecipientsRefused",
        "550 5.2.1 The email account that you tried to reach is disabled.",
        Summary.MAILBOX_DISABLED,
    ),
    ("SMTPRecipientsRefused", "554 5.7.1 <bob@example.org>: Relay access denied", Summary.RELAY_DENIED),
    # Full mailboxes: Gmail (temporary and permanent), Exchange.
    ("SMTPDataError", "552 5.2.2 The email account that you tried to reach is over quota.", Summary.MAILBOX_FULL),
    (
        "SMTPRecipientsRefused",
        "452 4.2.2 The email account that you tried to reach is over quota.",
        Summary.MAILBOX_FULL,
    ),
    (
        "SMTPDataError",
        "554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException",
        Summary.MAILBOX_FULL,
    ),
    (
        "SMTPRecipientsRefused",
        "552 Requested mail action aborted: mailbox size exceeds its limit",
        Summary.MAILBOX_FULL,
    ),
    # Spam and sender authentication.
    ("SMTPDataError", "554 5.7.1 Message rejected as spam", Summary.SPAM),
    (
        "SMTPDataError",
        "550 5.7.1 [203.0.113.9] Our system has detected an unusual rate of unsolicited mail originating\n"
        "5.7.1 from your IP address. To protect our users from spam, mail sent from your IP address has been blocked.",
        Summary.SPAM,
    ),
    (
        "SMTPRecipientsRefused",
        "554 5.7.1 Service unavailable; Client host [203.0.113.9] blocked using zen.spamhaus.org",
        Summary.SPAM,
    ),
    (
        "SMTPDataError",
        "550 5.7.26 This mail has been blocked because the sender is unauthenticated.",
        Summary.SENDER_NOT_AUTHENTICATED,
    ),
    # Size.
    ("SMTPDataError", "552 5.3.4 Message size exceeds fixed limit", Summary.MESSAGE_TOO_BIG),
    ("SMTPSenderRefused", "552 5.3.4 Message size exceeds fixed maximum message size", Summary.MESSAGE_TOO_BIG),
    # Connection and throttling.
    ("ConnectionRefusedError", "[Errno 111] Connection refused", Summary.CONNECTION_FAILED),
    ("TimeoutError", "timed out", Summary.CONNECTION_FAILED),
    ("gaierror", "[Errno -2] Name or service not known", Summary.CONNECTION_FAILED),
    ("SMTPServerDisconnected", "Connection unexpectedly closed", Summary.CONNECTION_FAILED),
    ("SMTPConnectError", "554 5.7.1 Service unavailable; access denied", Summary.CONNECTION_FAILED),
    ("SMTPRecipientsRefused", "421 4.4.2 connection dropped", Summary.CONNECTION_FAILED),
    (
        "SMTPDataError",
        "421 4.7.28 Our system has detected an unusual rate of mail from your IP. Try again later.",
        Summary.RATE_LIMITED,
    ),
    ("SMTPRecipientsRefused", "450 4.7.1 Too many messages, slow down", Summary.RATE_LIMITED),
    # Nothing more specific: the stage decides.
    ("SMTPRecipientsRefused", "450 4.2.0 Greylisted, see http://postgrey.schweikert.ch/", Summary.TEMPORARY),
    ("SMTPRecipientsRefused", "550 5.7.0 Forbidden", Summary.RECIPIENT_REFUSED),
    ("SMTPDataError", "554 5.6.0 Message corrupted", Summary.MESSAGE_REFUSED),
]


@pytest.mark.parametrize(("error", "answer", "summary"), ANSWERS, ids=[a[1][:40] for a in ANSWERS])
def test_summary_of_a_recorded_failure(error: str, answer: str, summary: Summary) -> None:
    reason = delivery_failure_reason(HOST, error, answer)
    assert summarize_delivery_failure(reason) == summary


def test_a_sender_identity_refusal_at_data_is_not_a_connection_failure() -> None:
    """The case that misled users: Odoo's ``mail_smtp`` label said "Connection failed"."""
    reply = parse_delivery_failure(
        delivery_failure_reason(HOST, "SMTPDataError", "550 The from address does not match a verified Sender Identity")
    )
    assert reply == SmtpReply(SmtpStage.DATA, 550, "The from address does not match a verified Sender Identity")
    assert summarize_delivery_failure(delivery_failure_reason(HOST, "SMTPDataError", f"550 {reply.text}")) == (
        "Sender refused"
    )


def test_the_stage_decides_an_unspecific_answer() -> None:
    answer = "550 5.7.0 Refused"
    assert summarize_delivery_failure(delivery_failure_reason(HOST, "SMTPSenderRefused", answer)) == "Sender refused"
    assert summarize_delivery_failure(delivery_failure_reason(HOST, "SMTPRecipientsRefused", answer)) == (
        "Recipient refused"
    )
    assert summarize_delivery_failure(delivery_failure_reason(HOST, "SMTPDataError", answer)) == "Message refused"


@pytest.mark.parametrize(
    ("diagnostic", "summary"),
    [
        ("smtp; 550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown", Summary.RECIPIENT_UNKNOWN),
        ("smtp; 552-5.2.2 The email account that you tried to reach is over quota.", Summary.MAILBOX_FULL),
        ("5.7.1 spam", Summary.SPAM),
    ],
)
def test_summary_of_a_bounce_diagnostic(diagnostic: str, summary: Summary) -> None:
    assert summarize_delivery_failure(diagnostic) == summary


@pytest.mark.parametrize(
    "reason",
    [
        "",
        "No valid recipient: every address is missing or invalid.",
        f"Mail delivery failed via SMTP server '{HOST}'.\nUnicodeEncodeError: 'ascii' codec can't encode",
        "Daily limit reached: resumes at 23:00 UTC.",
    ],
)
def test_no_smtp_answer_no_summary(reason: str) -> None:
    """Without an SMTP answer the failure type's label speaks (see chatter's ``failure_summary``)."""
    assert summarize_delivery_failure(reason) is None


def test_a_reason_flattened_on_one_line_still_reads() -> None:
    reason = delivery_failure_reason(HOST, "SMTPRecipientsRefused", "550 5.1.1 User unknown").replace("\n", " ")
    assert summarize_delivery_failure(reason) == "Recipient unknown"


def test_the_reason_keeps_odoo_form() -> None:
    assert delivery_failure_reason(HOST, "SMTPRecipientsRefused", "550 5.1.1 unknown") == (
        "Mail delivery failed via SMTP server 'smtp.example.net'.\nSMTPRecipientsRefused: 550 5.1.1 unknown"
    )
    assert delivery_failure_reason(HOST, "SMTPServerDisconnected") == (
        "Mail delivery failed via SMTP server 'smtp.example.net'.\nSMTPServerDisconnected"
    )
