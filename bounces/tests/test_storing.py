"""Where the end of DATA is stored: a storing process (the default) or a thread, over a real socket."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

import pytest
from django.contrib.contenttypes.models import ContentType

from bounces import conf, storing
from bounces.exceptions import GatewayConfigurationError
from bounces.models import InboundDecision, InboundMessage
from bounces.storing import StoringProcess, StoringThread
from bounces.storing_child import frame, take_frames
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


@pytest.mark.parametrize("mode", ["process", "thread"])
def test_both_storers_decide_store_and_answer_alike(
    mode: str, settings: pytest.FixtureRequest, start_gateway: Callable[[], RunningGateway]
) -> None:
    settings.MAILCORE_GATEWAY_STORING = mode  # type: ignore[attr-defined]
    gw = start_gateway()
    assert isinstance(gw.controller.handler.storer, StoringProcess if mode == "process" else StoringThread)
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
    """Several sessions at once: batches in the storing process, each answer to its own session."""
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


def test_the_storing_process_runs_with_the_gateways_settings(
    settings: pytest.FixtureRequest, start_gateway: Callable[[], RunningGateway]
) -> None:
    """A broken setting breaks storing there, not here: 451 (the sender retries), nothing stored."""
    settings.MAILCORE_GATEWAY_LOOP_MINUTES = "often"  # type: ignore[attr-defined]
    gw = start_gateway()
    with SmtpTalk(gw.host, gw.port) as talk:
        talk.cmd("EHLO client.example.com")
        talk.cmd("MAIL FROM:<alice@example.com>")
        assert talk.cmd(f"RCPT TO:<{_reply_address()}>").startswith("250")
        assert talk.data(make_mail()) == INTERNAL_ERROR
        assert talk.cmd("RSET") == "250 2.0.0 OK"  # the session goes on
    assert not InboundMessage.objects.exists()


def test_a_storing_process_that_dies_answers_451_then_is_replaced(
    start_gateway: Callable[[], RunningGateway], monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = start_gateway()
    storer = gw.controller.handler.storer
    assert isinstance(storer, StoringProcess)
    rcpt = _reply_address()
    assert _send(gw, rcpt).startswith("250 ")
    first = storer.pid
    os.kill(first, signal.SIGSTOP)  # it receives the next message and never answers
    replies: list[str] = []
    sender = threading.Thread(target=lambda: replies.append(_send(gw, rcpt, "<in-flight@example.com>")))
    sender.start()
    deadline = time.monotonic() + 30
    while storer.waiting == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert storer.waiting == 1
    os.kill(first, signal.SIGKILL)
    sender.join(30)
    assert replies == [INTERNAL_ERROR]
    assert not InboundMessage.objects.filter(message_id="<in-flight@example.com>").exists()
    # A process that died young is not replaced at once (one that cannot start must not be
    # started in a loop): the sender's retry meanwhile gets 451 too.
    monkeypatch.setattr(storing, "RESTART_DELAY", 3600)
    assert _send(gw, rcpt, "<in-flight@example.com>") == INTERNAL_ERROR
    assert storer.pid == first
    # Past the delay, the next retry starts another storing process and is stored.
    monkeypatch.setattr(storing, "RESTART_DELAY", 0)
    assert _send(gw, rcpt, "<in-flight@example.com>").startswith("250 ")
    assert storer.pid != first
    assert InboundMessage.objects.filter(message_id="<in-flight@example.com>").count() == 1


def test_the_storing_process_leaves_when_the_gateway_stops(start_gateway: Callable[[], RunningGateway]) -> None:
    gw = start_gateway()
    storer = gw.controller.handler.storer
    assert isinstance(storer, StoringProcess)
    assert _send(gw, _reply_address()).startswith("250 ")
    process = storer._child.process
    gw.controller.stop()
    assert process.poll() == 0  # it left on its own when the gateway's end of the socket closed


def test_an_unknown_storing_mode_is_a_configuration_error(settings: pytest.FixtureRequest) -> None:
    settings.MAILCORE_GATEWAY_STORING = "carrier pigeon"  # type: ignore[attr-defined]
    with pytest.raises(GatewayConfigurationError, match="must be 'process' or 'thread', not 'carrier pigeon'"):
        conf.storing()


def test_frames_are_taken_whole_and_in_order() -> None:
    data = frame({"settings": 1}) + frame((1, "a")) + frame((2, b"x" * 70_000))
    buffer = bytearray(data[:-10])  # the last frame is not complete yet
    assert take_frames(buffer, limit=1) == [{"settings": 1}]
    assert take_frames(buffer) == [(1, "a")]
    assert take_frames(buffer) == []
    buffer += data[-10:]
    assert take_frames(buffer) == [(2, b"x" * 70_000)]
    assert buffer == bytearray()


@pytest.mark.django_db
def test_an_in_memory_database_cannot_be_shared_with_a_storing_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db import connection

    from bounces.gateway import GatewayHandler

    if connection.vendor != "sqlite":
        pytest.skip("an in-memory database is SQLite's")
    monkeypatch.setitem(connection.settings_dict, "NAME", ":memory:")
    with pytest.raises(GatewayConfigurationError, match="set MAILCORE_GATEWAY_STORING=thread"):
        GatewayHandler(
            max_recipients=10,
            max_connections=10,
            max_connections_per_address=10,
            session_timeout=600,
            junk_command_limit=100,
            refusals_per_minute=20,
        )
