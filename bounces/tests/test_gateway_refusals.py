"""Refusals in the SMTP dialogue reach the inbound log: every one, bounded per client and minute."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections import defaultdict
from collections.abc import Callable

import pytest

from bounces import services
from bounces.gateway import RefusalLog
from bounces.models import InboundMessage, InboundRefusal
from bounces.tests.conftest import RunningGateway
from bounces.tests.smtp_talk import SmtpTalk, make_mail
from tests.celery_fixtures import wait_until

DOMAIN = "mailcore.localhost"


def _refusals(count: int) -> list[InboundRefusal]:
    assert wait_until(lambda: InboundRefusal.objects.count() >= count, timeout=20), list(
        InboundRefusal.objects.values_list("reply", flat=True)
    )
    return list(InboundRefusal.objects.order_by("refused_at", "id"))


def test_every_refusal_is_recorded_with_client_envelope_reply_and_reason(
    settings: pytest.FixtureRequest, start_gateway: Callable[[], RunningGateway]
) -> None:
    settings.MAILCORE_GATEWAY_MAX_MESSAGE_SIZE = 10_000  # type: ignore[attr-defined]
    settings.MAILCORE_GATEWAY_MAX_RECIPIENTS = 1  # type: ignore[attr-defined]
    gw = start_gateway()
    with SmtpTalk(gw.host, gw.port) as talk:
        talk.cmd("EHLO client.example.com")
        assert talk.cmd("MAIL FROM:<alice@example.com> SIZE=20000") == "552 5.3.4 Message too big"
        assert talk.cmd("MAIL FROM:<alice@example.com>") == "250 2.1.0 Ok"
        assert talk.cmd(f"RCPT TO:<nobody@{DOMAIN}>") == (
            f"550 5.1.1 <nobody@{DOMAIN}>: Recipient address rejected: mailbox unavailable"
        )
        assert talk.cmd("RCPT TO:<someone@example.org>") == "550 5.7.1 <someone@example.org>: Relaying denied"
        assert talk.cmd(f"RCPT TO:<catchall@{DOMAIN}>") == "250 2.1.5 Ok"
        assert talk.cmd(f"RCPT TO:<bounce@{DOMAIN}>") == "452 4.5.3 Too many recipients"
        assert talk.data(make_mail(body="x" * 70 + "\n" + ("y" * 70 + "\n") * 200)) == "552 5.3.4 Message too big"
    rows = _refusals(5)
    assert [(r.remote_address, r.helo, r.mail_from, r.recipient, r.reply, r.reason) for r in rows] == [
        (
            "127.0.0.1",
            "client.example.com",
            "alice@example.com",
            "",
            "552 5.3.4 Message too big",
            "The size announced with SIZE= is over the limit of 10000 bytes (MAILCORE_GATEWAY_MAX_MESSAGE_SIZE).",
        ),
        (
            "127.0.0.1",
            "client.example.com",
            "alice@example.com",
            f"nobody@{DOMAIN}",
            f"550 5.1.1 <nobody@{DOMAIN}>: Recipient address rejected: mailbox unavailable",
            f"No active alias, catchall, bounce address or valid signed address by that name in {DOMAIN}.",
        ),
        (
            "127.0.0.1",
            "client.example.com",
            "alice@example.com",
            "someone@example.org",
            "550 5.7.1 <someone@example.org>: Relaying denied",
            "Not an address of our alias domains: the gateway does not relay.",
        ),
        (
            "127.0.0.1",
            "client.example.com",
            "alice@example.com",
            f"bounce@{DOMAIN}",
            "452 4.5.3 Too many recipients",
            "More than 1 recipients in one message (MAILCORE_GATEWAY_MAX_RECIPIENTS).",
        ),
        (
            "127.0.0.1",
            "client.example.com",
            "alice@example.com",
            "",
            "552 5.3.4 Message too big",
            "The message is over the limit of 10000 bytes (MAILCORE_GATEWAY_MAX_MESSAGE_SIZE); it was not stored.",
        ),
    ]
    assert [r.command for r in rows] == [
        "MAIL FROM:<alice@example.com> SIZE=20000",
        f"RCPT TO:<nobody@{DOMAIN}>",
        "RCPT TO:<someone@example.org>",
        f"RCPT TO:<bounce@{DOMAIN}>",
        "DATA",
    ]
    assert all(r.more == 0 for r in rows)
    assert not InboundMessage.objects.exists()


def test_a_refused_message_at_the_end_of_data_is_not_a_refusal_row_twice(
    start_gateway: Callable[[], RunningGateway],
) -> None:
    """A 550 at the end of DATA is the stored message's reply: its inbound row records it."""
    gw = start_gateway()
    with SmtpTalk(gw.host, gw.port) as talk:
        talk.cmd("EHLO client.example.com")
        talk.cmd("MAIL FROM:<alice@example.com>")
        talk.cmd(f"RCPT TO:<catchall@{DOMAIN}>")
        assert talk.data(make_mail()).startswith("550-5.7.1 ")
        assert talk.cmd("RCPT TO:<x@example.org>") == "503 5.5.1 Error: need MAIL command"
    rows = _refusals(1)
    assert InboundMessage.objects.count() == 1
    assert [r.reply for r in rows] == ["503 5.5.1 Error: need MAIL command"]


def test_a_flood_from_one_address_is_bounded_and_counted_another_address_is_recorded(
    settings: pytest.FixtureRequest, start_gateway: Callable[[], RunningGateway]
) -> None:
    settings.MAILCORE_GATEWAY_REFUSALS_PER_MINUTE = 3  # type: ignore[attr-defined]
    gw = start_gateway()
    flood = 60
    with SmtpTalk(gw.host, gw.port, source="127.0.0.1") as talk:
        talk.cmd("EHLO flood.example.com")
        talk.cmd("MAIL FROM:<spammer@example.com>")
        for i in range(flood):
            assert talk.cmd(f"RCPT TO:<guess{i}@{DOMAIN}>").startswith("550 5.1.1 ")
    with SmtpTalk(gw.host, gw.port, source="127.0.0.2") as talk:
        talk.cmd("EHLO other.example.com")
        talk.cmd("MAIL FROM:<bob@example.net>")
        assert talk.cmd("RCPT TO:<bob@example.org>") == "550 5.7.1 <bob@example.org>: Relaying denied"
        assert talk.cmd(f"RCPT TO:<typo@{DOMAIN}>").startswith("550 5.1.1 ")

    def counted() -> int:
        return sum(r.more + 1 for r in InboundRefusal.objects.filter(remote_address="127.0.0.1"))

    assert wait_until(
        lambda: counted() == flood and InboundRefusal.objects.filter(remote_address="127.0.0.2").count() == 2
    )
    per_minute: dict[int, list[InboundRefusal]] = defaultdict(list)
    for row in InboundRefusal.objects.filter(remote_address="127.0.0.1"):
        per_minute[int(row.refused_at.timestamp() // 60)].append(row)
    # Three rows a minute at most (the flood may straddle a minute), the rest counted on the last.
    assert all(len(rows) <= 3 for rows in per_minute.values())
    assert InboundRefusal.objects.filter(remote_address="127.0.0.1").count() <= 6
    newest = max(InboundRefusal.objects.filter(remote_address="127.0.0.1"), key=lambda r: (r.refused_at, r.pk))
    assert newest.more > 0
    other = list(InboundRefusal.objects.filter(remote_address="127.0.0.2").order_by("id"))
    assert [(r.helo, r.mail_from, r.recipient) for r in other] == [
        ("other.example.com", "bob@example.net", "bob@example.org"),
        ("other.example.com", "bob@example.net", f"typo@{DOMAIN}"),
    ]


def test_the_refusal_log_hands_over_one_bounded_batch_off_the_event_loop() -> None:
    """Many refusals at once: one hand-over to the storer, the bound's rows per address, the rest counted."""
    batches: list[services.RefusalBatch] = []

    async def write(batch: services.RefusalBatch) -> None:
        batches.append(batch)

    async def flood() -> None:
        log = RefusalLog(write, per_minute=5, delay=0.01)
        at = 1_800_000_000.0  # the start of a minute
        for i in range(100):
            log.record(services.Refusal(at=at + i / 1000, remote_address="192.0.2.1", reply="550 5.1.1 no"))
        log.record(services.Refusal(at=at + 1, remote_address="192.0.2.2", reply="550 5.1.1 no"))
        assert not batches  # nothing written while refusals come in
        await asyncio.sleep(0.05)
        await log.drain()

    # In a thread of its own: the browser tests' Playwright keeps an event loop running in this one.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, flood()).result(timeout=30)
    assert len(batches) == 1
    assert [r.remote_address for r in batches[0].refusals] == ["192.0.2.1"] * 5 + ["192.0.2.2"]
    assert batches[0].more == {("192.0.2.1", 30_000_000): 95}


@pytest.mark.django_db
def test_counted_refusals_land_on_the_newest_row_of_their_address_and_minute() -> None:
    minute = 30_000_000
    services.inbound_refusals_record(
        batch=services.RefusalBatch(
            [
                services.Refusal(at=minute * 60 + 1, remote_address="192.0.2.1", reply="550 5.1.1 a"),
                services.Refusal(at=minute * 60 + 2, remote_address="192.0.2.1", reply="550 5.1.1 b"),
                services.Refusal(at=minute * 60 + 61, remote_address="192.0.2.1", reply="550 5.1.1 next minute"),
            ],
            {("192.0.2.1", minute): 7},
        )
    )
    services.inbound_refusals_record(batch=services.RefusalBatch([], {("192.0.2.1", minute): 3}))
    assert dict(InboundRefusal.objects.values_list("reply", "more")) == {
        "550 5.1.1 a": 0,
        "550 5.1.1 b": 10,
        "550 5.1.1 next minute": 0,
    }

