"""Transcript tests of the gateway over a real socket: the exact reply to every case."""

from __future__ import annotations

import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.contenttypes.models import ContentType

from bounces.models import InboundDecision, InboundMessage, InboundRefusal, InboundState
from bounces.tests.conftest import RunningGateway
from bounces.tests.smtp_talk import SmtpTalk, assert_codes_agree, make_mail, reply_text, transaction_reply
from demo.models import Lead
from mailcore.models import Alias, AliasContact, AliasDomain
from mailcore.signed_addresses import bounce_address, reply_address
from tests.celery_fixtures import wait_until

DOMAIN = "mailcore.localhost"


def _domain() -> AliasDomain:
    return AliasDomain.objects.get(name=DOMAIN)


def _lead_alias(name: str = "sales", **values: object) -> Alias:
    return Alias.objects.create(
        alias_name=name, alias_domain=_domain(), alias_model=ContentType.objects.get_for_model(Lead), **values
    )


def _talk(gw: RunningGateway) -> SmtpTalk:
    talk = SmtpTalk(gw.host, gw.port)
    talk.cmd("EHLO client.example.com")
    return talk


def test_greeting_and_ehlo_advertise_size_8bitmime_smtputf8(gateway: RunningGateway) -> None:
    with SmtpTalk(gateway.host, gateway.port) as talk:
        assert talk.greeting == f"220 {DOMAIN} mailcore ESMTP"
        assert talk.cmd("EHLO client.example.com").split("\r\n") == [
            f"250-{DOMAIN}",
            "250-SIZE 26214400",
            "250-8BITMIME",
            "250-SMTPUTF8",
            "250 HELP",
        ]
        assert talk.cmd("NOOP") == "250 2.0.0 OK"
        assert talk.cmd("QUIT") == "221 2.0.0 Bye"


def test_rcpt_replies_for_every_kind_of_address(gateway: RunningGateway) -> None:
    lead = Lead.objects.create(name="Acme")
    _lead_alias("sales")
    _lead_alias("old", active=False)
    ct = ContentType.objects.get_for_model(Lead)
    reply = reply_address(alias_domain=_domain(), model_id=ct.pk, res_id=lead.pk)
    bounce = bounce_address(alias_domain=_domain(), recipient_id=12345)
    expected = {
        "someone@example.com": "550 5.7.1 <someone@example.com>: Relaying denied",
        f"nobody@{DOMAIN}": f"550 5.1.1 <nobody@{DOMAIN}>: Recipient address rejected: mailbox unavailable",
        f"old@{DOMAIN}": f"550 5.1.1 <old@{DOMAIN}>: Recipient address rejected: mailbox unavailable",
        f"catchall+{ct.pk}.{lead.pk}-aaaaaaaaaa@{DOMAIN}": (
            f"550 5.1.1 <catchall+{ct.pk}.{lead.pk}-aaaaaaaaaa@{DOMAIN}>: Recipient address rejected: "
            "mailbox unavailable"
        ),
        f"bounce+12345-aaaaaaaaaa@{DOMAIN}": (
            f"550 5.1.1 <bounce+12345-aaaaaaaaaa@{DOMAIN}>: Recipient address rejected: mailbox unavailable"
        ),
        f"sales@{DOMAIN}": "250 2.1.5 Ok",
        f"SALES@{DOMAIN.upper()}": "250 2.1.5 Ok",
        f"catchall@{DOMAIN}": "250 2.1.5 Ok",
        reply: "250 2.1.5 Ok",
        f"bounce@{DOMAIN}": "250 2.1.5 Ok",
        bounce: "250 2.1.5 Ok",
    }
    with _talk(gateway) as talk:
        assert talk.cmd("MAIL FROM:<alice@example.com>") == "250 2.1.0 Ok"
        for address, reply in expected.items():
            got = talk.cmd(f"RCPT TO:<{address}>")
            assert got == reply, address
            assert_codes_agree(got)


def test_too_many_recipients(settings: pytest.FixtureRequest, start_gateway: Callable[[], RunningGateway]) -> None:
    settings.MAILCORE_GATEWAY_MAX_RECIPIENTS = 2  # type: ignore[attr-defined]
    _lead_alias("sales")
    gw = start_gateway()
    with _talk(gw) as talk:
        talk.cmd("MAIL FROM:<alice@example.com>")
        assert talk.cmd(f"RCPT TO:<catchall@{DOMAIN}>") == "250 2.1.5 Ok"
        assert talk.cmd(f"RCPT TO:<bounce@{DOMAIN}>") == "250 2.1.5 Ok"
        assert talk.cmd(f"RCPT TO:<catchall@{DOMAIN}>") == "250 2.1.5 Ok"  # the same again: one recipient
        assert talk.cmd(f"RCPT TO:<sales@{DOMAIN}>") == "452 4.5.3 Too many recipients"


def test_message_too_big_at_mail_and_at_data(
    settings: pytest.FixtureRequest, start_gateway: Callable[[], RunningGateway]
) -> None:
    settings.MAILCORE_GATEWAY_MAX_MESSAGE_SIZE = 10_000  # type: ignore[attr-defined]
    gw = start_gateway()
    with _talk(gw) as talk:
        assert talk.cmd("MAIL FROM:<alice@example.com> SIZE=20000") == "552 5.3.4 Message too big"
        assert talk.cmd("MAIL FROM:<alice@example.com> SIZE=2000") == "250 2.1.0 Ok"
        talk.cmd(f"RCPT TO:<catchall@{DOMAIN}>")
        big = make_mail(body="x" * 70 + "\n" + ("y" * 70 + "\n") * 200)
        assert talk.data(big) == "552 5.3.4 Message too big"
    assert not InboundMessage.objects.exists()


def test_long_lines_smtputf8_and_8bit_bodies_are_stored_byte_for_byte(gateway: RunningGateway) -> None:
    lead = Lead.objects.create(name="Long lines")
    ct = ContentType.objects.get_for_model(Lead)
    rcpt = reply_address(alias_domain=_domain(), model_id=ct.pk, res_id=lead.pk)
    long_line = b"<p>" + b"a" * 50_000 + b"</p>"
    raw = (
        (
            "From: Jos\u00e9 <jos\u00e9@exampl\u00e9.com>\r\n"
            f"To: {rcpt}\r\n"
            "Subject: \u00e9t\u00e9 \u65e5\u672c\r\n"
            "Message-ID: <long-1@example.com>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/html; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n"
        ).encode()
        + long_line
        + b"\r\n"
        + "caf\u00e9 \u65e5\u672c\u8a9e\r\n".encode()
        + b".leading dot\r\n"
    )
    with _talk(gateway) as talk:
        assert talk.cmd("MAIL FROM:<jos\u00e9@exampl\u00e9.com> SMTPUTF8 BODY=8BITMIME") == "250 2.1.0 Ok"
        assert talk.cmd(f"RCPT TO:<{rcpt}>") == "250 2.1.5 Ok"
        reply = talk.data(raw)
    row = InboundMessage.objects.get()
    assert reply == f"250 2.0.0 Ok: queued as {row.queue_id}"
    assert bytes(row.raw) == raw
    assert row.mail_from == "jos\u00e9@exampl\u00e9.com"
    assert row.subject == "\u00e9t\u00e9 \u65e5\u672c"
    assert row.decision == InboundDecision.ACCEPTED
    assert row.state == InboundState.RECEIVED
    assert row.routed_res_id == lead.pk


def test_catchall_without_reference_is_refused_with_odoos_explanation(gateway: RunningGateway) -> None:
    reply = transaction_reply(
        gateway.host,
        gateway.port,
        mail_from="alice@example.com",
        rcpt=[f"catchall@{DOMAIN}"],
        message=make_mail(to=f"catchall@{DOMAIN}"),
    )
    assert reply_text(reply, "550", "5.7.1") == (
        f"The email sent to catchall@{DOMAIN} cannot be processed. This address is used to collect "
        "replies and should not be used to directly contact us. "
        f"Please contact us instead using notifications@{DOMAIN}."
    )
    row = InboundMessage.objects.get()
    assert row.decision == InboundDecision.REJECTED
    assert row.state == InboundState.DONE
    assert row.smtp_reply == reply
    assert row.reason == "Written directly to the catchall address without any reference."
    assert bytes(row.raw).startswith(b"From: Alice <alice@example.com>\r\n")


def test_alias_policy_refusals_use_odoos_default_or_the_custom_text(gateway: RunningGateway) -> None:
    _lead_alias("vip", alias_contact=AliasContact.PARTNERS)
    _lead_alias("club", alias_contact=AliasContact.PARTNERS, alias_bounced_content="<p>Members <b>only</b>.</p>")
    _lead_alias("board", alias_contact=AliasContact.FOLLOWERS)  # no record to follow: a configuration error
    replies = {
        name: transaction_reply(
            gateway.host,
            gateway.port,
            mail_from="stranger@example.com",
            rcpt=[f"{name}@{DOMAIN}"],
            message=make_mail(sender="stranger@example.com", to=f"{name}@{DOMAIN}"),
        )
        for name in ("vip", "club", "board")
    }
    assert reply_text(replies["vip"], "550", "5.7.1") == (
        f"The message below could not be accepted by the address vip@{DOMAIN}. Only addresses linked to "
        "registered partners are allowed to contact it. Please make sure you are using the correct address or "
        f"contact us at notifications@{DOMAIN} instead."
    )
    assert replies["club"] == "550 5.7.1 Members only."
    assert reply_text(replies["board"], "451", "4.3.0") == (
        f"The message below could not be accepted by the address board@{DOMAIN}. "
        f"Please try again later or contact notifications@{DOMAIN} instead."
    )
    for reply in replies.values():
        assert_codes_agree(reply)
    reasons = set(InboundMessage.objects.values_list("reason", flat=True))
    assert reasons == {
        f"Alias vip@{DOMAIN}: restricted to known authors.",
        f"Alias club@{DOMAIN}: restricted to known authors.",
        f"Alias board@{DOMAIN}: incorrectly configured alias (unknown reference record).",
    }


def test_automatic_mail_is_never_refused_at_the_end_of_data(gateway: RunningGateway) -> None:
    """RFC 3834: a refusal would make the sender's server write to an auto-responder; accept, ignore.

    Its recipients are checked at RCPT like any mail's: no message exists yet to lose."""
    with _talk(gateway) as talk:
        assert talk.cmd("MAIL FROM:<>") == "250 2.1.0 Ok"
        assert talk.cmd(f"RCPT TO:<nobody@{DOMAIN}>") == (
            f"550 5.1.1 <nobody@{DOMAIN}>: Recipient address rejected: mailbox unavailable"
        )
    message = make_mail(to=f"catchall@{DOMAIN}", headers={"Auto-Submitted": "auto-replied"})
    reply = transaction_reply(
        gateway.host, gateway.port, mail_from="robot@example.com", rcpt=[f"catchall@{DOMAIN}"], message=message
    )
    null_sender = transaction_reply(
        gateway.host, gateway.port, mail_from="", rcpt=[f"catchall@{DOMAIN}"], message=make_mail()
    )
    rows = list(InboundMessage.objects.order_by("id"))
    assert reply == f"250 2.0.0 Ok: queued as {rows[0].queue_id}"
    assert null_sender == f"250 2.0.0 Ok: queued as {rows[1].queue_id}"
    assert [r.decision for r in rows] == [InboundDecision.IGNORED, InboundDecision.IGNORED]
    assert "Auto-Submitted: auto-replied" in rows[0].reason
    assert "a null sender" in rows[1].reason
    assert rows[1].mail_from == ""


def test_duplicate_message_id_is_accepted_and_ignored(gateway: RunningGateway) -> None:
    lead = Lead.objects.create(name="Dup")
    ct = ContentType.objects.get_for_model(Lead)
    rcpt = reply_address(alias_domain=_domain(), model_id=ct.pk, res_id=lead.pk)
    message = make_mail(to=rcpt, message_id="<same@example.com>")
    first = transaction_reply(gateway.host, gateway.port, mail_from="a@example.com", rcpt=[rcpt], message=message)
    second = transaction_reply(gateway.host, gateway.port, mail_from="a@example.com", rcpt=[rcpt], message=message)
    rows = list(InboundMessage.objects.order_by("id"))
    assert first == f"250 2.0.0 Ok: queued as {rows[0].queue_id}"
    assert second == f"250 2.0.0 Ok: queued as {rows[1].queue_id}"
    assert [r.decision for r in rows] == [InboundDecision.ACCEPTED, InboundDecision.IGNORED]
    assert rows[1].reason == "Duplicate Message-Id <same@example.com>: already received."
    assert rows[1].state == InboundState.DONE


def test_loop_protection_refuses_past_the_threshold(
    settings: pytest.FixtureRequest, start_gateway: Callable[[], RunningGateway]
) -> None:
    settings.MAILCORE_GATEWAY_LOOP_THRESHOLD = 3  # type: ignore[attr-defined]
    gw = start_gateway()
    lead = Lead.objects.create(name="Looping")
    ct = ContentType.objects.get_for_model(Lead)
    rcpt = reply_address(alias_domain=_domain(), model_id=ct.pk, res_id=lead.pk)
    replies = [
        transaction_reply(
            gw.host,
            gw.port,
            mail_from="bot@example.com",
            rcpt=[rcpt],
            message=make_mail(sender="bot@example.com", to=rcpt),
        )
        for _ in range(4)
    ]
    assert all(r.startswith("250 2.0.0 Ok: queued as ") for r in replies[:3])
    assert reply_text(replies[3], "550", "5.7.1") == (
        "Message refused: too many messages from bot@example.com to this address within 120 minutes "
        "(mail loop protection)."
    )
    assert InboundMessage.objects.order_by("-id").first().decision == InboundDecision.LOOP  # type: ignore[union-attr]


def test_internal_error_answers_451_never_500(
    settings: pytest.FixtureRequest, start_gateway: Callable[[], RunningGateway], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bounces import services

    def broken(items: object) -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(services, "inbound_receive_many", broken)
    gateway = start_gateway()
    with _talk(gateway) as talk:
        talk.cmd("MAIL FROM:<alice@example.com>")
        talk.cmd(f"RCPT TO:<catchall@{DOMAIN}>")
        assert talk.data(make_mail()) == "451 4.3.0 Error: internal server error, please try again later"
        # The session goes on.
        assert talk.cmd("RSET") == "250 2.0.0 OK"


def test_aiosmtpd_builtin_replies_carry_agreeing_enhanced_codes(gateway: RunningGateway) -> None:
    with _talk(gateway) as talk:
        assert talk.cmd("FOO") == '500 5.5.2 Error: command "FOO" not recognized'
        assert talk.cmd("DATA") == "503 5.5.1 Error: need RCPT command"
        assert talk.cmd("RCPT TO:<x@example.com>") == "503 5.5.1 Error: need MAIL command"
        assert talk.cmd("MAIL FROM:<a@example.com>") == "250 2.1.0 Ok"
        assert talk.cmd("MAIL FROM:<a@example.com>") == "503 5.5.1 Error: nested MAIL command"
        assert talk.cmd("MAIL FROM:<a@example.com> FOO=BAR").startswith("503 5.5.1")
        assert talk.cmd("RSET") == "250 2.0.0 OK"
        assert talk.cmd("MAIL TO:<a@example.com>") == "501 5.5.4 Syntax: MAIL FROM: <address> [SP <mail-parameters>]"


def test_malformed_paths_are_syntax_errors_not_internal_ones(gateway: RunningGateway) -> None:
    """aiosmtpd's parser crashes on a lone ``<`` (which would answer 451: "try again")."""
    malformed = "553 5.1.3 Error: malformed address"
    with _talk(gateway) as talk:
        assert talk.cmd("MAIL FROM:<") == malformed
        assert talk.cmd('MAIL FROM:"') == malformed
        assert talk.cmd("MAIL FROM:a@[") == malformed
        assert talk.cmd("MAIL FROM:<a@b> (comment) SIZE=10") == "250 2.1.0 Ok"
        assert talk.cmd("RCPT TO:<") == malformed
        assert talk.cmd(f"RCPT TO:<catchall@{DOMAIN}>") == "250 2.1.5 Ok"


def test_idle_connection_gets_a_421_goodbye(
    settings: pytest.FixtureRequest, start_gateway: Callable[[], RunningGateway]
) -> None:
    settings.MAILCORE_GATEWAY_IDLE_TIMEOUT = 1  # type: ignore[attr-defined]
    gw = start_gateway()
    with _talk(gw) as talk:
        started = time.monotonic()
        assert talk.read_reply() == f"421 4.4.2 {DOMAIN} Error: timeout exceeded"
        assert time.monotonic() - started < 5
        assert talk.file.readline() == b""  # closed


def test_connection_limit_gets_a_421_goodbye(
    settings: pytest.FixtureRequest, start_gateway: Callable[[], RunningGateway]
) -> None:
    settings.MAILCORE_GATEWAY_MAX_CONNECTIONS = 2  # type: ignore[attr-defined]
    gw = start_gateway()
    deadline = time.monotonic() + 5
    while gw.controller.handler.connections and time.monotonic() < deadline:  # the Controller's start probe
        time.sleep(0.02)
    first, second = SmtpTalk(gw.host, gw.port), SmtpTalk(gw.host, gw.port)
    try:
        with socket.create_connection((gw.host, gw.port), timeout=5) as third:
            assert (
                third.makefile("rb").readline()
                == f"421 4.3.2 {DOMAIN} Error: too many connections, try again later\r\n".encode()
            )
        assert first.cmd("NOOP") == "250 2.0.0 OK"
    finally:
        first.close()
        second.close()
    deadline = time.monotonic() + 5
    while gw.controller.handler.connections and time.monotonic() < deadline:
        time.sleep(0.02)
    with SmtpTalk(gw.host, gw.port) as again:
        assert again.greeting.startswith("220 ")


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={DOMAIN}",
            "-addext",
            f"subjectAltName=DNS:{DOMAIN}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def test_starttls_with_the_configured_certificate(
    settings: pytest.FixtureRequest, start_gateway: Callable[[], RunningGateway], tls_files: tuple[Path, Path]
) -> None:
    cert, key = tls_files
    settings.MAILCORE_GATEWAY_TLS_CERT = str(cert)  # type: ignore[attr-defined]
    settings.MAILCORE_GATEWAY_TLS_KEY = str(key)  # type: ignore[attr-defined]
    gw = start_gateway()
    context = ssl.create_default_context(cafile=str(cert))
    with SmtpTalk(gw.host, gw.port) as talk:
        assert "250-STARTTLS" in talk.cmd("EHLO client.example.com").split("\r\n")
        assert talk.cmd("STARTTLS") == "220 Ready to start TLS"
        talk.starttls(context, DOMAIN)
        assert "250-STARTTLS" not in talk.cmd("EHLO client.example.com")
        talk.cmd("MAIL FROM:<alice@example.com>")
        assert talk.cmd(f"RCPT TO:<catchall@{DOMAIN}>") == "250 2.1.5 Ok"
        assert talk.data(make_mail()).startswith("550-5.7.1 The email sent to catchall@")
    assert gw.controller.handler.connections <= 1


def _settled(gw: RunningGateway) -> None:
    """The Controller's start probe has gone: only the test's connections count."""
    deadline = time.monotonic() + 5
    while gw.controller.handler.connections and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_flood_of_connections_from_one_address_leaves_another_address_served(
    settings: pytest.FixtureRequest, start_gateway: Callable[[], RunningGateway]
) -> None:
    """The global cap alone let one client's idle sockets turn every other sender away with 421."""
    settings.MAILCORE_GATEWAY_MAX_CONNECTIONS = 10  # type: ignore[attr-defined]
    settings.MAILCORE_GATEWAY_MAX_CONNECTIONS_PER_ADDRESS = 4  # type: ignore[attr-defined]
    gw = start_gateway()
    _settled(gw)
    held: list[socket.socket] = []
    try:
        greetings = []
        for _ in range(12):
            sock = socket.create_connection((gw.host, gw.port), timeout=5, source_address=("127.0.0.1", 0))
            held.append(sock)
            greetings.append(sock.makefile("rb").readline().decode())
        assert greetings[:4] == [f"220 {DOMAIN} mailcore ESMTP\r\n"] * 4
        refused = f"421 4.7.0 {DOMAIN} Error: too many connections from 127.0.0.1, try again later\r\n"
        assert greetings[4:] == [refused] * 8
        with SmtpTalk(gw.host, gw.port, source="127.0.0.2") as other:
            assert other.greeting == f"220 {DOMAIN} mailcore ESMTP"
            other.cmd("EHLO other.example.com")
            assert other.cmd("MAIL FROM:<bob@example.net>") == "250 2.1.0 Ok"
            assert other.cmd(f"RCPT TO:<catchall@{DOMAIN}>") == "250 2.1.5 Ok"
    finally:
        for sock in held:
            sock.close()
    assert wait_until(lambda: InboundRefusal.objects.filter(command="(connect)").count() == 8)
    assert set(InboundRefusal.objects.values_list("remote_address", "reason")) == {("127.0.0.1", "Connection limit.")}


def test_junk_commands_between_messages_are_limited(
    settings: pytest.FixtureRequest, start_gateway: Callable[[], RunningGateway]
) -> None:
    """A client sending NOOP before every idle timeout kept its connection forever."""
    settings.MAILCORE_GATEWAY_JUNK_COMMAND_LIMIT = 3  # type: ignore[attr-defined]
    gw = start_gateway()
    with _talk(gw) as talk:
        assert [talk.cmd(c) for c in ("NOOP", "RSET", "NOOP")] == ["250 2.0.0 OK"] * 3
        talk.cmd("MAIL FROM:<alice@example.com>")
        talk.cmd(f"RCPT TO:<catchall@{DOMAIN}>")
        assert talk.data(make_mail()).startswith("550-5.7.1 ")  # a message: the count starts again
        assert [talk.cmd(c) for c in ("NOOP", "HELP", "NOOP")][::2] == ["250 2.0.0 OK"] * 2
        assert talk.cmd("NOOP") == f"421 4.7.0 {DOMAIN} Error: too many commands without mail, try again later"
        assert talk.file.readline() == b""  # closed


def test_a_session_has_a_time_limit(
    settings: pytest.FixtureRequest, start_gateway: Callable[[], RunningGateway]
) -> None:
    settings.MAILCORE_GATEWAY_SESSION_TIMEOUT = 1  # type: ignore[attr-defined]
    gw = start_gateway()
    with _talk(gw) as talk:
        assert talk.cmd("NOOP") == "250 2.0.0 OK"
        time.sleep(1.1)  # the limit is a duration: nothing to wait for but the clock
        assert talk.cmd("NOOP") == f"421 4.4.2 {DOMAIN} Error: session time limit exceeded, try again later"
        assert talk.file.readline() == b""
