"""Where the end of DATA is stored: the gateway's storing thread, over a real socket."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.contrib.contenttypes.models import ContentType

from bounces.models import InboundDecision, InboundMessage
from bounces.tests.conftest import RunningGateway
from bounces.tests.smtp_talk import SmtpTalk, make_mail, transaction_reply
from demo.models import Lead
from mailcore.models import AliasDomain
from mailcore.signed_addresses import reply_address

DOMAIN = "mailcore.localhost"
INTERNAL_ERROR = "451 4.3.0 Error: internal server error, please try again later"


def _reply_address() -> str:
    lead = Lead.objects.create(name="Storing")
    ct = ContentType.objects.get_for_model(Lead)
    return reply_address(alias_domain=AliasDomain(name=DOMAIN), model_id=ct.pk, res_id=lead.pk)


def _send(gw: RunningGateway, rcpt: str, message_id: str | None = None) -> str:
    message = make_mail(to=rcpt, message_id=message_id)
    return transaction_reply(gw.host, gw.port, mail_from="alice@example.com", rcpt=[rcpt], message=message)


def test_the_storer_decides_stores_and_answers(start_gateway: Callable[[], RunningGateway]) -> None:
    gw = start_gateway()
    rcpt = _reply_address()
    accepted = _send(gw, rcpt, "<first@example.com>")
    duplicate = _send(gw, rcpt, "<first@example.com>")
    refused = _send(gw, f"catchall@{DOMAIN}")
    rows = list(InboundMessage.objects.order_by("id"))
    assert [r.decision for r in rows] == [InboundDecision.ACCEPTED, InboundDecision.IGNORED, InboundDecision.REJECTED]
    assert accepted == f"250 2.0.0 Ok: queued as {rows[0].queue_id}"
    assert duplicate == f"250 2.0.0 Ok: queued as {rows[1].queue_id}"
    assert refused == rows[2].smtp_reply and refused.startswith("550-5.7.1 The email sent to catchall@")


def test_messages_sent_together_are_answered_each_with_its_own_row(start_gateway: Callable[[], RunningGateway]) -> None:
    """Several sessions at once: batches in the storing thread, each answer to its own session."""
    gw = start_gateway()
    rcpt = _reply_address()
    replies: dict[int, str] = {}

    def send(i: int) -> None:
        replies[i] = _send(gw, rcpt, f"<together-{i}@example.com>")

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    by_message_id = {r.message_id: r for r in InboundMessage.objects.all()}
    assert len(by_message_id) == 8
    for i, reply in replies.items():
        assert reply == f"250 2.0.0 Ok: queued as {by_message_id[f'<together-{i}@example.com>'].queue_id}"


def test_a_broken_setting_answers_451_and_stores_nothing(
    settings: pytest.FixtureRequest, start_gateway: Callable[[], RunningGateway]
) -> None:
    """The sender retries later; the session goes on."""
    settings.MAILCORE_GATEWAY_LOOP_MINUTES = "often"  # type: ignore[attr-defined]
    gw = start_gateway()
    with SmtpTalk(gw.host, gw.port) as talk:
        talk.cmd("EHLO client.example.com")
        talk.cmd("MAIL FROM:<alice@example.com>")
        assert talk.cmd(f"RCPT TO:<{_reply_address()}>").startswith("250")
        assert talk.data(make_mail()) == INTERNAL_ERROR
        assert talk.cmd("RSET") == "250 2.0.0 OK"  # the session goes on
    assert not InboundMessage.objects.exists()


def test_the_storing_thread_finishes_and_leaves_when_the_gateway_stops(
    start_gateway: Callable[[], RunningGateway],
) -> None:
    gw = start_gateway()
    storer = gw.controller.handler.storer
    assert _send(gw, _reply_address()).startswith("250 ")
    gw.controller.stop()
    assert not storer._thread.is_alive()
