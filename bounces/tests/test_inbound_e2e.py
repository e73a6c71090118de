"""End to end over real sockets with a real worker: post → the sink receives it → reply through the
gateway → the reply is in the chatter and followers are told → a DSN for it → the envelope is red."""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from email import message_from_bytes
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any

from django.contrib.contenttypes.models import ContentType

from bounces.models import InboundDecision, InboundMessage, InboundState
from bounces.tests.conftest import RunningGateway
from bounces.tests.dsn_builder import make_dsn
from bounces.tests.smtp_talk import SmtpTalk, make_mail
from chatter.models import FailureType, Message, MessageType, Notification, NotificationKind, NotificationStatus
from chatter.services import message_post
from chatter.tests.factories import PartnerFactory, inbox_user_partner
from demo.models import Lead
from mailcore.models import Alias, AliasDomain
from mailcore.testing.smtp import SmtpSink
from tests.celery_fixtures import wait_until


def test_reply_and_bounce_round_trip(
    start_gateway: Callable[[], RunningGateway],
    celery_worker_factory: Callable[..., Any],
    smtp_sink: SmtpSink,
) -> None:
    gateway = start_gateway()
    celery_worker_factory()
    lead = Lead.objects.create(name="Round trip")
    salesman = inbox_user_partner("Salesman")
    bob = PartnerFactory(name="Bob", email="bob@example.net")
    lead.message_subscribe([salesman, bob])

    # 1. Post: the worker sends it to the sink (the built-in outgoing server in tests).
    original = message_post(
        record=lead, body="<p>Here is our offer.</p>", subject="Offer", subtype="mt_comment", author=salesman
    )
    delivered = smtp_sink.wait_for(1, timeout=30)
    assert len(delivered) == 1, "the worker did not deliver the notification"
    sent = delivered[0]
    headers = message_from_bytes(sent.data)
    assert headers["Message-ID"] == original.message_id
    assert sent.mail_from.startswith("bounce+") and sent.mail_from.endswith("@mailcore.localhost")
    reply_to = getaddresses([headers["Reply-To"]])[0][1]
    assert reply_to.startswith("catchall+")

    # 2. Bob replies from his mail client, through the gateway.
    reply = EmailMessage()
    reply["From"] = "Bob <bob@example.net>"
    reply["To"] = headers["Reply-To"]
    reply["Subject"] = "Re: Offer"
    reply["Message-ID"] = "<bob-reply-1@example.net>"
    reply["In-Reply-To"] = original.message_id
    reply["References"] = original.message_id
    reply.set_content("Looks great, let's sign.")
    with smtplib.SMTP(gateway.host, gateway.port, timeout=15) as client:
        refused = client.send_message(reply, from_addr="bob@example.net", to_addrs=[reply_to])
    assert refused == {}
    row = InboundMessage.objects.get(message_id="<bob-reply-1@example.net>")
    assert row.decision == InboundDecision.ACCEPTED

    def posted() -> Message | None:
        return Message.objects.filter(message_id="<bob-reply-1@example.net>").first()

    assert wait_until(lambda: posted() is not None, timeout=30), "the worker did not process the reply"
    message = posted()
    assert message is not None
    assert (message.model_id, message.res_id) == (ContentType.objects.get_for_model(Lead).pk, lead.pk)
    assert message.message_type == MessageType.EMAIL
    assert message.author == bob
    assert "Looks great" in message.body
    row.refresh_from_db()
    assert row.state == InboundState.DONE and row.chatter_message_id == message.pk
    # The salesman (inbox) is notified; Bob wrote it and is not.
    notified = Notification.objects.get(message=message)
    assert (notified.res_partner, notified.notification_type) == (salesman, NotificationKind.INBOX)

    # 3. Bob's server later bounces the original offer, to its Return-Path.
    headers_block = sent.data.split(b"\r\n\r\n", 1)[0].decode().replace("\r\n", "\n")
    dsn = make_dsn(recipient="bob@example.net", original_headers=headers_block, to=sent.mail_from)
    with smtplib.SMTP(gateway.host, gateway.port, timeout=15) as client:
        assert client.sendmail("", [sent.mail_from], dsn) == {}

    def bob_notification() -> Notification:
        return Notification.objects.get(message=original, res_partner=bob)

    assert wait_until(lambda: bob_notification().notification_status == NotificationStatus.BOUNCE, timeout=30), list(
        InboundMessage.objects.filter(decision=InboundDecision.BOUNCE).values("state", "reason", "error")
    )
    n = bob_notification()
    assert n.failure_type == FailureType.MAIL_BOUNCE
    assert n.failure_reason == "550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown"
    bob.refresh_from_db()
    assert bob.message_bounce == 1
    assert InboundMessage.objects.get(decision=InboundDecision.BOUNCE).state == InboundState.DONE
    assert gateway.controller.handler.received == 2


def test_an_alias_named_1200_times_in_one_message_creates_one_lead(
    start_gateway: Callable[[], RunningGateway], celery_worker_factory: Callable[..., Any]
) -> None:
    """It created 50 leads: every RCPT up to the recipient limit was a route of its own."""
    gateway = start_gateway()
    celery_worker_factory()
    domain = AliasDomain.objects.get(name="mailcore.localhost")
    Alias.objects.create(alias_name="leads", alias_domain=domain, alias_model=ContentType.objects.get_for_model(Lead))
    with SmtpTalk(gateway.host, gateway.port) as talk:
        talk.cmd("EHLO client.example.com")
        assert talk.cmd("MAIL FROM:<carol@example.org>") == "250 2.1.0 Ok"
        for i in range(1200):
            address = "leads@mailcore.localhost" if i % 2 else "LEADS@mailcore.localhost"
            assert talk.cmd(f"RCPT TO:<{address}>") == "250 2.1.5 Ok"
        reply = talk.data(make_mail(sender="carol@example.org", to="leads@mailcore.localhost", subject="One lead"))
    assert reply.startswith("250 2.0.0 Ok: queued as ")
    row = InboundMessage.objects.get()
    assert row.rcpt_tos == ["LEADS@mailcore.localhost", "leads@mailcore.localhost"]
    assert wait_until(lambda: InboundMessage.objects.filter(pk=row.pk, state=InboundState.DONE).exists(), timeout=30)
    assert list(Lead.objects.values_list("name", flat=True)) == ["One lead"]
