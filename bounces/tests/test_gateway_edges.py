"""Input that is wrong the same way every time never gets a 4xx: NUL bytes, invalid UTF-8."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType

from bounces import services
from bounces.models import InboundDecision, InboundMessage, InboundRefusal
from bounces.tests.conftest import RunningGateway
from bounces.tests.smtp_talk import SmtpTalk, make_mail
from demo.models import Lead
from mailcore.models import AliasDomain
from mailcore.signed_addresses import reply_address
from tests.celery_fixtures import wait_until
from tests.services import require_postgres

DOMAIN = "mailcore.localhost"
NUL_REPLY = "501 5.5.2 Syntax error: the command contains a NUL character"
UTF8_REPLY = "501 5.5.2 Syntax error: the command is not valid UTF-8"


def _reply_address() -> tuple[Lead, str]:
    lead = Lead.objects.create(name="Edges")
    ct = ContentType.objects.get_for_model(Lead)
    return lead, reply_address(alias_domain=AliasDomain.objects.get(name=DOMAIN), model_id=ct.pk, res_id=lead.pk)


def _nul_mail(rcpt: str) -> bytes:
    return (
        "From: Mal\x00lory <mallory@example.com>\r\n"
        f"To: {rcpt}\r\n"
        "Subject: Hi\x00there\r\n"
        "Message-ID: <nul\x00id@example.com>\r\n"
        "In-Reply-To: <parent\x00@example.com>\r\n"
        "References: <a@example.com> <b\x00@example.com>\r\n"
        "\r\n"
        "Body with a \x00 too.\r\n"
    ).encode()


def test_nul_in_headers_is_stored_raw_and_cleaned_in_text_columns(gateway: RunningGateway) -> None:
    """On PostgreSQL this answered 451 ("text fields cannot contain NUL") every time."""
    lead, rcpt = _reply_address()
    raw = _nul_mail(rcpt)
    with SmtpTalk(gateway.host, gateway.port) as talk:
        talk.cmd("EHLO client.example.com")
        assert talk.cmd("MAIL FROM:<mallory@example.com>") == "250 2.1.0 Ok"
        assert talk.cmd(f"RCPT TO:<{rcpt}>") == "250 2.1.5 Ok"
        reply = talk.data(raw)
    row = InboundMessage.objects.get()
    assert reply == f"250 2.0.0 Ok: queued as {row.queue_id}"
    assert bytes(row.raw) == raw
    assert row.subject == "Hi\ufffdthere"
    assert row.email_from == "Mal\ufffdlory <mallory@example.com>"
    assert row.message_id == "<nul\ufffdid@example.com>"
    assert row.decision == InboundDecision.ACCEPTED
    assert row.routed_res_id == lead.pk


@pytest.mark.django_db
def test_nul_in_headers_on_postgresql_at_the_service() -> None:
    require_postgres()
    _lead, rcpt = _reply_address()
    reception = services.inbound_receive(raw=_nul_mail(rcpt), mail_from="mallory@example.com", rcpt_tos=[rcpt])
    assert reception.reply.startswith("250 2.0.0 Ok: queued as ")
    assert InboundMessage.objects.get(pk=reception.inbound_id).subject == "Hi\ufffdthere"


def test_nul_in_ehlo_or_mail_from_is_a_5xx_that_says_why(gateway: RunningGateway) -> None:
    _lead, rcpt = _reply_address()
    with SmtpTalk(gateway.host, gateway.port) as talk:
        assert talk.cmd(b"EHLO bad\x00name.example.com") == NUL_REPLY
        assert talk.cmd("EHLO client.example.com").startswith("250-")
        assert talk.cmd(b"MAIL FROM:<mal\x00lory@example.com>") == NUL_REPLY
        assert talk.cmd("MAIL FROM:<mallory@example.com>") == "250 2.1.0 Ok"
        assert talk.cmd(b"RCPT TO:<x\x00@mailcore.localhost>") == NUL_REPLY
        assert talk.cmd(f"RCPT TO:<{rcpt}>") == "250 2.1.5 Ok"
        assert talk.data(make_mail(to=rcpt)).startswith("250 2.0.0 Ok: queued as ")
    assert InboundMessage.objects.get().helo == "client.example.com"
    assert wait_until(lambda: InboundRefusal.objects.filter(reply=NUL_REPLY).count() == 3)
    assert set(InboundRefusal.objects.filter(reply=NUL_REPLY).values_list("command", "reason")) == {
        ("EHLO bad\ufffdname.example.com", "A NUL character in the command."),
        ("MAIL FROM:<mal\ufffdlory@example.com>", "A NUL character in the command."),
        ("RCPT TO:<x\ufffd@mailcore.localhost>", "A NUL character in the command."),
    }


def test_invalid_utf8_in_the_envelope_is_a_5xx_in_the_dialogue(gateway: RunningGateway) -> None:
    """The reply quoting the address could not be encoded: aiosmtpd answered 451 ("try again")."""
    _lead, rcpt = _reply_address()
    with SmtpTalk(gateway.host, gateway.port) as talk:
        assert talk.cmd(b"EHLO caf\xe9.example.com") == UTF8_REPLY
        assert talk.cmd("EHLO client.example.com").startswith("250-")
        assert talk.cmd(b"MAIL FROM:<jos\xe9@example.com>") == UTF8_REPLY
        assert talk.cmd("MAIL FROM:<jos\u00e9@example.com> SMTPUTF8") == "250 2.1.0 Ok"  # valid UTF-8 is fine
        assert talk.cmd(b"RCPT TO:<\xff\xfe@mailcore.localhost>") == UTF8_REPLY
        assert talk.cmd(b"RCPT TO:<nobody\xff@example.org>") == UTF8_REPLY
        assert talk.cmd(f"RCPT TO:<{rcpt}>") == "250 2.1.5 Ok"
        assert talk.data(make_mail(to=rcpt)).startswith("250 2.0.0 Ok: queued as ")
    assert InboundMessage.objects.get().mail_from == "jos\u00e9@example.com"
    assert wait_until(lambda: InboundRefusal.objects.filter(reply=UTF8_REPLY).count() == 4)
    assert "RCPT TO:<\ufffd\ufffd@mailcore.localhost>" in set(InboundRefusal.objects.values_list("command", flat=True))
