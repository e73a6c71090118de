"""The sender against a real aiosmtpd sink: headers, sessions, results per recipient, retries."""

from __future__ import annotations

import asyncio
import datetime as dt
from email import message_from_bytes
from email import policy as email_policy
from email.utils import getaddresses
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from chatter.models import FailureType, Message, Notification, NotificationStatus
from chatter.tests.factories import LeadFactory, PartnerFactory, inbox_user_partner
from demo.models import Lead
from mailcore.exceptions import NO_FOUND_FROM
from mailcore.models import AliasDomain, MailServer, Partner
from mailcore.quota import quota_status
from mailcore.signed_addresses import SignedBounce, signed_address_read
from mailcore.testing.smtp import SmtpSink, free_port
from mailqueue.models import DeliveryLog, Mail, MailRecipient, MailState, RecipientState
from mailqueue.sender import NO_VALID_RECIPIENT, due_mails, next_due_at, process_email_queue, send_mails

pytestmark = pytest.mark.django_db


# --- helpers (imported by the other test_sender_* modules) -------------------------------------
def post(
    *recipients: Partner,
    lead: Lead | None = None,
    author: Partner | None = None,
    **kwargs: Any,
) -> Message:
    """Post a comment on a lead to ``recipients``: one outgoing row (up to 50 recipients)."""
    lead = lead or LeadFactory(name="Deal")
    author = author or PartnerFactory(name="Ann", email="ann@example.com")
    return lead.message_post(
        body=kwargs.pop("body", "<p>Hello</p>"),
        subtype="mt_comment",
        author=author,
        partner_ids=[p.pk for p in recipients],
        **kwargs,
    )


def row_of(message: Message) -> Mail:
    return Mail.objects.get(message=message)


def notification(message: Message, partner: Partner) -> Notification:
    return Notification.objects.get(message=message, res_partner=partner)


def make_due(*mails: Mail) -> None:
    """Move time forward for these rows: their next attempt is now due."""
    Mail.objects.filter(pk__in=[m.pk for m in mails]).update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))


def sink_server(sink: SmtpSink, **kwargs: Any) -> MailServer:
    return MailServer.objects.create(name="Sink", smtp_host=sink.host, smtp_port=sink.port, **kwargs)


HOST = "127.0.0.1"


def enable_pipelining(sink: SmtpSink) -> None:
    """Make the sink advertise PIPELINING (RFC 2920); aiosmtpd reads pipelined commands in order."""
    original = sink.handler.handle_EHLO

    async def handle_ehlo(server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]) -> list[str]:
        responses = await original(server, session, envelope, hostname, responses)
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    sink.handler.handle_EHLO = handle_ehlo  # type: ignore[method-assign]


@pytest.fixture(params=["plain", "pipelining"])
def sink(request: pytest.FixtureRequest, smtp_sink: SmtpSink) -> SmtpSink:
    """The built-in server's sink, once without and once with PIPELINING."""
    if request.param == "pipelining":
        enable_pipelining(smtp_sink)
    return smtp_sink


# --- success ------------------------------------------------------------------------------------
def test_success_sends_one_message_with_every_header(sink: SmtpSink) -> None:
    lead = LeadFactory(name="Deal")
    bob = PartnerFactory(name="Bob Smith", email="Bob@Example.com")
    ann = PartnerFactory(name="Ann", email="ann@example.com")
    first = post(lead=lead, author=ann)  # a first message in the thread
    message = post(
        bob,
        lead=lead,
        author=ann,
        subject="Offer",
        body="<p>Hello <b>Bob</b></p>",
        attachments=[("terms.txt", b"The terms", "text/plain")],
    )
    root = lead.message_ids.order_by("id").first()
    assert root is not None and first.parent == root
    recipient = MailRecipient.objects.get(mail__message=message)

    report = send_mails()

    assert (report.claimed, report.sent, report.failed, report.retried) == (1, 1, 0, 0)
    (got,) = sink.wait_for(1)
    assert got.rcpt_tos == ["bob@example.com"]
    # The envelope sender names this delivery: bounce+<signed recipient id>@<alias domain>.
    local, _, domain = got.mail_from.partition("@")
    assert domain == "mailcore.localhost" and local.startswith("bounce+")
    assert signed_address_read(local_part=local, alias_domain=AliasDomain.objects.get(name=domain)) == SignedBounce(
        recipient.pk
    )
    msg = got.message
    assert msg["Return-Path"] == f"<{got.mail_from}>"
    assert getaddresses([msg["To"]]) == [("Bob Smith", "bob@example.com")]
    assert msg["From"] == "Ann <ann@example.com>"
    assert msg["Subject"] == "Offer"
    assert msg["Message-ID"] == message.message_id
    assert msg["X-Mailcore-Message-Id"] == message.message_id
    assert msg["In-Reply-To"] == root.message_id
    assert msg["References"] == f"{root.message_id} {message.message_id}"
    assert msg["Reply-To"] == message.reply_to and message.reply_to.startswith("catchall+")
    assert msg["Date"]
    assert msg.get_content_type() == "multipart/mixed"
    alternative, attachment = msg.get_payload()
    plain, html = alternative.get_payload()
    assert (plain.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert "Hello Bob" in plain.get_payload(decode=True).decode()
    assert "<b>Bob</b>" in html.get_payload(decode=True).decode()
    assert attachment.get_filename() == "terms.txt"
    assert attachment.get_payload(decode=True) == b"The terms"

    assert notification(message, bob).notification_status == NotificationStatus.SENT
    assert not Mail.objects.filter(message=message).exists()  # auto-delete
    log = DeliveryLog.objects.get()
    assert (log.message_id, log.recipient, log.server, log.success) == (
        message.message_id,
        "bob@example.com",
        HOST,
        True,
    )
    assert log.smtp_response.startswith("250 ")
    assert log.chatter_message == message
    # The built-in server counts against the daily quota.
    assert quota_status().used == 1


def test_long_identification_headers_are_never_folded(smtp_sink: SmtpSink) -> None:
    # Odoo's IdentificationFieldsNoFoldPolicy: MTAs rewrite Message-IDs they find folded.
    long_id = "<" + "x" * 180 + "@mailcore.localhost>"
    message = post(PartnerFactory(), message_id=long_id)
    assert message.parent is not None and message.parent.message_id
    send_mails()
    (got,) = smtp_sink.wait_for(1)
    lines = got.data.split(b"\r\n")
    assert f"Message-ID: {long_id}".encode() in lines
    assert f"X-Mailcore-Message-Id: {long_id}".encode() in lines
    assert f"References: {message.parent.message_id} {long_id}".encode() in lines


def test_kept_row_records_recipient_state_and_server(smtp_sink: SmtpSink) -> None:
    bob = PartnerFactory()
    message = post(bob, mail_auto_delete=False)
    send_mails()
    row = row_of(message)
    assert (row.state, row.failure_type, row.failure_reason, row.server_used) == (MailState.SENT, "", "", HOST)
    assert row.attempt_count == 1, "every SMTP attempt counts, a successful one too"
    (recipient,) = row.recipients.all()
    assert recipient.state == RecipientState.SENT
    assert recipient.smtp_response.startswith("250 ") and recipient.sent_at is not None
    assert row.lease_owner == "" and row.lease_until is None


def test_one_session_is_reused_for_many_mails_and_recipients(sink: SmtpSink) -> None:
    partners = PartnerFactory.create_batch(3)
    for partner in partners:
        post(partner)
    post(*PartnerFactory.create_batch(4))
    sink.handler.sessions = 0

    report = send_mails()

    assert (report.claimed, report.sent) == (4, 7)
    assert len(sink.wait_for(7)) == 7
    assert sink.handler.sessions == 1  # one EHLO for all seven messages
    # Each recipient got its own message with only its own address.
    assert sorted(len(m.rcpt_tos) for m in sink.messages) == [1] * 7


def test_raw_email_to_rows_and_custom_headers(smtp_sink: SmtpSink) -> None:
    message = post()
    Mail.objects.all().delete()
    row = Mail.objects.create(
        message=message,
        is_notification=False,
        subject="Raw",
        email_from="Ann <ann@example.com>",
        email_to="Zoë <zoe@example.com>, carl@example.com",
        body_html="<p>x</p>",
        headers={"X-Campaign": "42", "Reply-To": "sales@example.com", "Bad Header": "x", "To": "evil@example.com"},
    )
    report = send_mails()
    assert report.sent == 2
    received = {m.rcpt_tos[0]: message_from_bytes(m.data, policy=email_policy.default) for m in smtp_sink.wait_for(2)}
    assert set(received) == {"zoe@example.com", "carl@example.com"}
    zoe = received["zoe@example.com"]
    assert getaddresses([str(zoe["To"])]) == [("Zoë", "zoe@example.com")]
    assert zoe["X-Campaign"] == "42"
    assert zoe["Reply-To"] == "sales@example.com"  # custom headers may override ours (Odoo)
    assert zoe["Bad Header"] is None
    # A non-notification mail takes its message with it when deleted (Odoo).
    assert not Mail.objects.filter(pk=row.pk).exists()
    assert not Message.objects.filter(pk=message.pk).exists()


# --- permanent failures -------------------------------------------------------------------------
def test_550_on_rcpt_fails_that_recipient_with_the_exact_reason(sink: SmtpSink) -> None:
    bob, carl = PartnerFactory(email="bob@example.com"), PartnerFactory(email="carl@example.com")
    sink.fail(
        "RCPT", "550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown", address="bob@example.com"
    )
    message = post(bob, carl, mail_auto_delete=False)

    report = send_mails()

    assert (report.sent, report.failed, report.retried) == (1, 1, 0)
    reason = (
        "Mail delivery failed via SMTP server '127.0.0.1'.\n"
        "SMTPRecipientsRefused: 550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown"
    )
    bad = notification(message, bob)
    assert (bad.notification_status, bad.failure_type, bad.failure_reason) == (
        NotificationStatus.EXCEPTION,
        FailureType.MAIL_EMAIL_INVALID,
        reason,
    )
    assert notification(message, carl).notification_status == NotificationStatus.SENT
    row = row_of(message)
    assert (row.state, row.failure_type, row.failure_reason, row.attempt_count) == (
        MailState.EXCEPTION,
        FailureType.MAIL_EMAIL_INVALID,
        reason,
        1,
    )
    assert [m.rcpt_tos for m in sink.messages] == [["carl@example.com"]]
    assert DeliveryLog.objects.filter(success=False, recipient="bob@example.com", smtp_response=reason).exists()


def test_consecutive_refused_recipients_do_not_fail_the_rest_of_the_group(sink: SmtpSink) -> None:
    # A refusal (RCPT 550) leaves the session usable: it must not count as a lost connection, or
    # two refusals in a row would fail every later recipient with the second one's reason.
    r0, r1, r2, r3 = (PartnerFactory(name=f"R{i}", email=f"r{i}@example.com") for i in range(4))
    sink.fail("RCPT", "550 5.1.1 no such user r0", address="r0@example.com")
    sink.fail("RCPT", "550 5.1.1 no such user r1", address="r1@example.com")
    message = post(r0, r1, r2, mail_auto_delete=False)
    other = post(r3)
    sink.handler.sessions = 0

    report = send_mails()

    assert (report.sent, report.failed, report.retried) == (2, 2, 0)
    assert sorted(m.rcpt_tos[0] for m in sink.wait_for(2)) == ["r2@example.com", "r3@example.com"]
    assert sink.handler.sessions == 1  # a refused recipient does not cost a new session
    assert notification(message, r1).failure_reason.endswith("no such user r1")
    assert notification(message, r2).notification_status == NotificationStatus.SENT
    assert notification(other, r3).notification_status == NotificationStatus.SENT


def test_invalid_address_failures_do_not_keep_an_auto_delete_row(sink: SmtpSink) -> None:
    # As in Odoo: only mail_email_invalid / mail_email_missing failures → the row is still deleted.
    bob = PartnerFactory(email="bob@example.com")
    sink.fail("RCPT", "550 5.1.1 no such user")
    message = post(bob)
    send_mails()
    assert not Mail.objects.filter(message=message).exists()
    assert notification(message, bob).failure_type == FailureType.MAIL_EMAIL_INVALID


def test_policy_refusal_is_unknown_and_keeps_the_row(sink: SmtpSink) -> None:
    bob = PartnerFactory(email="bob@example.com")
    sink.fail("RCPT", "554 5.7.1 Relay access denied")
    message = post(bob)
    send_mails()
    row = row_of(message)
    assert row.state == MailState.EXCEPTION and row.failure_type == FailureType.UNKNOWN
    assert row.failure_reason.endswith("SMTPRecipientsRefused: 554 5.7.1 Relay access denied")
    assert notification(message, bob).format_failure_reason() == "Relaying denied"


def test_5xx_on_mail_from_is_a_server_problem(sink: SmtpSink) -> None:
    bob = PartnerFactory()
    sink.fail("MAIL", "553 5.7.1 Sender address rejected: not owned by user")
    message = post(bob)
    send_mails()
    row = row_of(message)
    assert row.state == MailState.EXCEPTION and row.failure_type == FailureType.MAIL_SMTP
    assert row.failure_reason == (
        "Mail delivery failed via SMTP server '127.0.0.1'.\n"
        "SMTPSenderRefused: 553 5.7.1 Sender address rejected: not owned by user"
    )
    assert notification(message, bob).notification_status == NotificationStatus.EXCEPTION


def test_5xx_after_data_is_a_server_problem(sink: SmtpSink) -> None:
    bob = PartnerFactory()
    sink.fail("DATA", "550 5.7.0 The from address does not match a verified Sender Identity")
    message = post(bob)
    send_mails()
    row = row_of(message)
    assert row.failure_type == FailureType.MAIL_SMTP
    assert row.failure_reason.endswith(
        "SMTPDataError: 550 5.7.0 The from address does not match a verified Sender Identity"
    )


def test_missing_and_invalid_addresses_and_blacklist(sink: SmtpSink) -> None:
    missing = PartnerFactory(name="No Mail", email="")
    invalid = PartnerFactory(name="Typo", email="bob@@example")
    blacklisted = PartnerFactory(name="Gone", email="gone@example.com", is_blacklisted=True)
    good = PartnerFactory(email="good@example.com")
    message = post(missing, invalid, blacklisted, good, mail_auto_delete=False)

    report = send_mails()

    assert (report.sent, report.failed, report.canceled) == (1, 2, 1)
    assert [m.rcpt_tos for m in sink.wait_for(1)] == [["good@example.com"]]
    n_missing, n_invalid, n_bl = (notification(message, p) for p in (missing, invalid, blacklisted))
    assert (n_missing.notification_status, n_missing.failure_type, n_missing.failure_reason) == (
        NotificationStatus.EXCEPTION,
        FailureType.MAIL_EMAIL_MISSING,
        NO_VALID_RECIPIENT,
    )
    assert (n_invalid.notification_status, n_invalid.failure_type) == (
        NotificationStatus.EXCEPTION,
        FailureType.MAIL_EMAIL_INVALID,
    )
    assert "bob@@example" in n_invalid.failure_reason
    assert (n_bl.notification_status, n_bl.failure_type) == (NotificationStatus.CANCELED, FailureType.MAIL_BL)
    row = row_of(message)
    # The first failure (in recipient order) names the row.
    assert (row.state, row.failure_type) == (MailState.EXCEPTION, FailureType.MAIL_EMAIL_MISSING)


def test_no_from_at_all_fails_with_odoo_text(smtp_sink: SmtpSink) -> None:
    AliasDomain.objects.all().delete()  # no notifications address to fall back to
    bob = PartnerFactory()
    message = post(bob, author=PartnerFactory(name="Nobody", email=""))
    assert row_of(message).email_from == ""

    report = send_mails()

    assert (report.sent, report.failed) == (0, 1)
    assert smtp_sink.messages == []
    row = row_of(message)
    assert (row.state, row.failure_type, row.failure_reason) == (
        MailState.EXCEPTION,
        FailureType.MAIL_FROM_MISSING,
        NO_FOUND_FROM,
    )
    n = notification(message, bob)
    assert (n.notification_status, n.failure_type) == (NotificationStatus.EXCEPTION, FailureType.MAIL_FROM_MISSING)


def test_no_from_uses_the_notifications_address(smtp_sink: SmtpSink) -> None:
    post(PartnerFactory(), author=PartnerFactory(name="Nobody", email=""))
    send_mails()
    (got,) = smtp_sink.wait_for(1)
    assert got.message["From"] == "notifications@mailcore.localhost"


def test_a_row_without_any_recipient_fails_as_missing(smtp_sink: SmtpSink) -> None:
    message = post()
    row = Mail.objects.create(message=message, subject="Nobody", email_from="ann@example.com", auto_delete=False)
    send_mails()
    row.refresh_from_db()
    assert (row.state, row.failure_type, row.failure_reason) == (
        MailState.EXCEPTION,
        FailureType.MAIL_EMAIL_MISSING,
        NO_VALID_RECIPIENT,
    )


# --- temporary failures -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("stage", "reply", "reason_tail"),
    [
        ("RCPT", "450 4.2.1 Mailbox busy, try later", "SMTPRecipientsRefused: 450 4.2.1 Mailbox busy, try later"),
        ("MAIL", "421 4.3.2 Service shutting down", "SMTPSenderRefused: 421 4.3.2 Service shutting down"),
        ("DATA", "451 4.3.0 Local error in processing", "SMTPDataError: 451 4.3.0 Local error in processing"),
    ],
)
def test_4xx_retries_with_backoff_then_succeeds(
    sink: SmtpSink, settings: Any, stage: str, reply: str, reason_tail: str
) -> None:
    settings.MAILQUEUE_RETRY_BASE_SECONDS = 60
    bob = PartnerFactory()
    sink.fail(stage, reply, times=1)
    message = post(bob, mail_auto_delete=False)

    before = timezone.now()
    report = send_mails()

    assert (report.sent, report.failed, report.retried) == (0, 0, 1)
    row = row_of(message)
    assert (row.state, row.attempt_count) == (MailState.OUTGOING, 1)
    assert row.next_attempt_at is not None
    assert before + dt.timedelta(seconds=60) <= row.next_attempt_at <= timezone.now() + dt.timedelta(seconds=60)
    assert row.failure_reason == f"Mail delivery failed via SMTP server '127.0.0.1'.\n{reason_tail}"
    n = notification(message, bob)
    assert (n.notification_status, n.failure_reason) == (NotificationStatus.READY, row.failure_reason)
    assert quota_status().used == 0  # what did not leave is given back

    assert send_mails().claimed == 0  # not due before its next attempt
    make_due(row)
    report = send_mails()

    assert report.sent == 1
    row.refresh_from_db()
    assert (row.state, row.failure_reason) == (MailState.SENT, "")
    n.refresh_from_db()
    assert (n.notification_status, n.failure_reason) == (NotificationStatus.SENT, "")
    assert len(sink.messages) == 1


def test_421_closes_the_session_and_the_next_mail_reconnects(sink: SmtpSink) -> None:
    first, second = post(PartnerFactory()), post(PartnerFactory())
    sink.fail("MAIL", "421 4.4.2 Timeout, closing", times=1)
    sink.handler.sessions = 0

    report = send_mails()

    assert (report.sent, report.retried) == (1, 1)
    assert sink.handler.sessions == 2
    assert row_of(first).attempt_count == 1
    assert not Mail.objects.filter(message=second).exists()


@pytest.mark.parametrize("stage", ["MAIL", "RCPT", "DATA"])
def test_dropped_connection_retries(sink: SmtpSink, stage: str) -> None:
    bob = PartnerFactory()
    sink.fail(stage, "DROP", times=1)
    message = post(bob)

    report = send_mails()

    assert (report.sent, report.retried) == (0, 1)
    row = row_of(message)
    assert row.attempt_count == 1 and row.state == MailState.OUTGOING
    assert "SMTPServerDisconnected" in row.failure_reason
    make_due(row)
    assert send_mails().sent == 1
    assert [m.rcpt_tos for m in sink.messages] == [[bob.email_normalized]]


def test_drop_in_the_middle_of_a_row_reconnects_for_the_rest(sink: SmtpSink) -> None:
    # Names fix the recipients' order (contacts are ordered by name): the drop is in the middle.
    first, second, third = (PartnerFactory(name=f"R{i}", email=f"r{i}@example.com") for i in range(3))
    sink.fail("DATA", "DROP", times=1, address="r1@example.com")
    message = post(first, second, third)
    sink.handler.sessions = 0

    report = send_mails()

    assert (report.sent, report.retried) == (2, 1)
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == ["r0@example.com", "r2@example.com"]
    assert sink.handler.sessions == 2
    row = row_of(message)
    assert row.recipients.get(state=RecipientState.PENDING).partner == second
    assert notification(message, second).notification_status == NotificationStatus.READY
    assert notification(message, third).notification_status == NotificationStatus.SENT
    make_due(row)
    assert send_mails().sent == 1
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == ["r0@example.com", "r1@example.com", "r2@example.com"]


def test_a_server_that_keeps_dropping_stops_the_group(sink: SmtpSink) -> None:
    for _ in range(4):
        post(PartnerFactory())
    sink.fail("MAIL", "DROP")  # always
    sink.handler.sessions = 0

    report = send_mails()

    # One drop, one reconnect, one more drop: the other two are not even tried.
    assert (report.sent, report.retried) == (0, 4)
    assert sink.handler.sessions == 2
    assert set(Mail.objects.values_list("attempt_count", flat=True)) == {1}


def test_refused_connection_retries_then_fails_as_mail_smtp(settings: Any) -> None:
    settings.MAILQUEUE_RETRY_WINDOW_SECONDS = 3600
    settings.MAILQUEUE_RETRY_BASE_SECONDS = 10
    port = free_port()  # nothing listens there
    MailServer.objects.create(name="Down", smtp_host="127.0.0.1", smtp_port=port)
    bob = PartnerFactory()
    message = post(bob)
    row = row_of(message)

    delays = []
    for attempt in (1, 2):
        start = timezone.now()
        assert send_mails().retried == 1
        row.refresh_from_db()
        assert (row.state, row.attempt_count, row.failure_type) == (MailState.OUTGOING, attempt, "")
        assert row.next_attempt_at is not None
        delays.append(round((row.next_attempt_at - start).total_seconds()))
        make_due(row)
    assert delays == [10, 20]  # exponential backoff: base * 2^(attempt-1)
    # The retry window (counted from the first failure) is over: the next failure is final.
    Mail.objects.filter(pk=row.pk).update(first_failure_at=timezone.now() - dt.timedelta(seconds=3600))

    report = send_mails()

    assert (report.failed, report.retried) == (1, 0)
    row.refresh_from_db()
    assert (row.state, row.attempt_count, row.failure_type) == (MailState.EXCEPTION, 3, FailureType.MAIL_SMTP)
    assert row.failure_reason.startswith("Mail delivery failed via SMTP server '127.0.0.1'.\nConnectionRefusedError:")
    n = notification(message, bob)
    assert (n.notification_status, n.failure_type, n.failure_reason) == (
        NotificationStatus.EXCEPTION,
        FailureType.MAIL_SMTP,
        row.failure_reason,
    )


def test_misconfigured_builtin_server_retries(settings: Any) -> None:
    settings.MAILCORE_SMTP_HOST = ""
    message = post(PartnerFactory())
    assert send_mails().retried == 1
    row = row_of(message)
    assert "Missing SMTP Server" in row.failure_reason and row.state == MailState.OUTGOING


# --- crash safety, leases, ordering -------------------------------------------------------------
def test_crash_mid_row_never_resends_to_served_recipients(sink: SmtpSink) -> None:
    partners = PartnerFactory.create_batch(3)
    message = post(*partners)
    row = row_of(message)
    served = list(row.recipients.order_by("id")[:2])
    # A worker sent to the first two, recorded it, then died holding the lease.
    MailRecipient.objects.filter(pk__in=[r.pk for r in served]).update(state=RecipientState.SENT)
    Mail.objects.filter(pk=row.pk).update(
        lease_owner="dead-worker", lease_until=timezone.now() + dt.timedelta(minutes=5)
    )

    assert send_mails().claimed == 0  # its lease is still live

    Mail.objects.filter(pk=row.pk).update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    report = send_mails()

    assert (report.claimed, report.sent) == (1, 1)
    assert [m.rcpt_tos for m in sink.wait_for(1)] == [[partners[2].email_normalized]]
    # The dead worker's notifications are healed too.
    assert {notification(message, p).notification_status for p in partners} == {NotificationStatus.SENT}
    assert not Mail.objects.filter(pk=row.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_lease_is_kept_while_a_long_row_is_being_sent(sink: SmtpSink, settings: Any) -> None:
    # A row of many recipients on a slow server can take longer than the lease: the lease must be
    # renewed between its messages, or another worker would claim the row and send to the same
    # pending recipients while this one is still at it.
    settings.MAILQUEUE_LEASE_SECONDS = 1
    partners = [PartnerFactory(name=f"R{i}", email=f"r{i}@example.com") for i in range(4)]
    message = post(*partners)
    row_pk = row_of(message).pk
    claimable: list[bool] = []
    original = sink.handler.handle_RCPT

    def second_worker_could_claim() -> bool:
        try:
            return due_mails().filter(pk=row_pk).exists()
        finally:
            connection.close()

    async def slow_rcpt(server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        await asyncio.sleep(0.45)
        if address == "r3@example.com":
            claimable.append(await asyncio.to_thread(second_worker_could_claim))
        return await original(server, session, envelope, address, options)

    sink.handler.handle_RCPT = slow_rcpt  # type: ignore[method-assign]

    report = send_mails()

    assert report.sent == 4
    assert claimable == [False], "the row's lease expired while it was being sent"


@pytest.mark.django_db(transaction=True)
def test_a_worker_whose_lease_was_taken_over_stops_sending_that_row(sink: SmtpSink, settings: Any) -> None:
    # A worker that stalled past its lease finds, at its next renewal, that another worker owns the
    # row: it must leave the recipients it has not served to that worker instead of racing it.
    settings.MAILQUEUE_LEASE_SECONDS = 1
    partners = [PartnerFactory(name=f"T{i}", email=f"t{i}@example.com") for i in range(4)]
    message = post(*partners)
    row_pk = row_of(message).pk
    original = sink.handler.handle_RCPT

    def take_over() -> None:
        try:
            Mail.objects.filter(pk=row_pk).update(
                lease_owner="other-worker", lease_until=timezone.now() + dt.timedelta(minutes=5)
            )
        finally:
            connection.close()

    async def slow_rcpt(server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        await asyncio.sleep(0.45)
        if address == "t1@example.com":
            await asyncio.to_thread(take_over)
        return await original(server, session, envelope, address, options)

    sink.handler.handle_RCPT = slow_rcpt  # type: ignore[method-assign]

    report = send_mails()

    assert report.sent == 2
    assert [m.rcpt_tos for m in sink.messages] == [["t0@example.com"], ["t1@example.com"]]
    row = Mail.objects.get(pk=row_pk)
    assert row.lease_owner == "other-worker", "the row stays with the worker that owns it now"
    states = dict(row.recipients.values_list("partner__email", "state"))
    assert states == {
        "t0@example.com": RecipientState.SENT,
        "t1@example.com": RecipientState.SENT,
        "t2@example.com": RecipientState.PENDING,
        "t3@example.com": RecipientState.PENDING,
    }


def test_fifo_by_scheduled_date_then_id(smtp_sink: SmtpSink) -> None:
    now = timezone.now()
    a, b, c, d = (post(PartnerFactory()) for _ in range(4))
    Mail.objects.filter(message=a).update(scheduled_date=now - dt.timedelta(minutes=1))
    Mail.objects.filter(message=b).update(scheduled_date=now - dt.timedelta(minutes=5))
    Mail.objects.filter(message=d).update(scheduled_date=now + dt.timedelta(hours=1))  # not due

    ids = {name: row_of(m).pk for name, m in zip("abc", (a, b, c), strict=True)}

    order = [send_mails(limit=1).mail_ids for _ in range(4)]

    # Unscheduled first (nulls first), then the oldest scheduled; the future one waits.
    assert order == [[ids["c"]], [ids["b"]], [ids["a"]], []]
    assert next_due_at() == row_of(d).scheduled_date


def test_next_due_at_sees_scheduled_and_retry_times() -> None:
    assert next_due_at() is None
    soon, later = timezone.now() + dt.timedelta(minutes=2), timezone.now() + dt.timedelta(hours=3)
    first, second = post(PartnerFactory()), post(PartnerFactory())
    Mail.objects.filter(message=first).update(next_attempt_at=later)
    Mail.objects.filter(message=second).update(scheduled_date=later, next_attempt_at=soon)  # due at the later one
    assert next_due_at() == later
    Mail.objects.filter(message=first).update(next_attempt_at=soon)
    assert next_due_at() == soon
    Mail.objects.filter(message=first).update(state=MailState.EXCEPTION)
    assert next_due_at() == later


def test_given_ids_are_sent_only_when_due(smtp_sink: SmtpSink) -> None:
    due, scheduled, other = post(PartnerFactory()), post(PartnerFactory()), post(PartnerFactory())
    Mail.objects.filter(message=scheduled).update(scheduled_date=timezone.now() + dt.timedelta(hours=1))
    due_id = row_of(due).pk
    report = send_mails(mail_ids=[due_id, row_of(scheduled).pk])
    assert (report.mail_ids, report.sent) == ([due_id], 1)
    assert Mail.objects.filter(message=scheduled).exists() and Mail.objects.filter(message=other).exists()


def test_process_email_queue_works_in_batches_until_empty(smtp_sink: SmtpSink) -> None:
    for _ in range(5):
        post(PartnerFactory())
    later = post(PartnerFactory())
    Mail.objects.filter(message=later).update(scheduled_date=timezone.now() + dt.timedelta(hours=1))

    result = process_email_queue(batch_size=2)

    assert (result.done, result.remaining) == (5, 0)
    assert len(smtp_sink.wait_for(5)) == 5
    assert Mail.objects.count() == 1


def test_process_email_queue_stops_at_the_time_budget(smtp_sink: SmtpSink) -> None:
    for _ in range(3):
        post(PartnerFactory())
    result = process_email_queue(time_budget=0, batch_size=1)
    assert (result.done, result.remaining) == (1, 2)


# --- server choice, end to end ------------------------------------------------------------------
def test_server_restricted_to_the_alias_domain_encapsulates_the_from(smtp_sink: SmtpSink) -> None:
    sink_server(smtp_sink, from_filter="mailcore.localhost")
    bob = PartnerFactory()
    post(bob)
    recipient_id = MailRecipient.objects.get().pk

    send_mails()

    (got,) = smtp_sink.wait_for(1)
    assert got.message["From"] == "Ann <notifications@mailcore.localhost>"
    assert got.mail_from.endswith("@mailcore.localhost")
    local = got.mail_from.split("@")[0]
    domain = AliasDomain.objects.get(name="mailcore.localhost")
    assert signed_address_read(local_part=local, alias_domain=domain) == SignedBounce(recipient_id)
    assert quota_status().used == 0  # an external server is independent of the quota


def test_server_that_cannot_send_bounce_address_uses_its_own_sender(smtp_sink: SmtpSink) -> None:
    sink_server(smtp_sink, from_filter="ann@example.com")
    post(PartnerFactory())
    send_mails()
    (got,) = smtp_sink.wait_for(1)
    # As in Odoo: the bounce address is the envelope only when the server may send as it.
    assert got.mail_from == "ann@example.com"
    assert got.message["From"] == "Ann <ann@example.com>"


def test_forced_server_of_the_message_is_used(smtp_sink: SmtpSink) -> None:
    other = SmtpSink().start()
    try:
        sink_server(smtp_sink, sequence=1)
        forced = sink_server(other, sequence=50)
        message = post(PartnerFactory())
        Mail.objects.filter(message=message).update(mail_server=forced)
        send_mails()
        assert len(other.wait_for(1)) == 1 and smtp_sink.messages == []
    finally:
        other.stop()


def test_inbox_users_get_no_mail(smtp_sink: SmtpSink) -> None:
    inbox = inbox_user_partner()
    bob = PartnerFactory()
    post(inbox, bob)
    send_mails()
    assert [m.rcpt_tos for m in smtp_sink.wait_for(1)] == [[bob.email_normalized]]
    assert quota_status().used == 1
