"""Bounces of campaign mail, through the real gateway and a real worker: the statistics follow,
and a campaign whose mail bounces hard too often pauses itself and says why."""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse

from bounces.models import InboundDecision, InboundMessage
from bounces.tests import conftest as bounces_fixtures
from bounces.tests.conftest import RunningGateway
from bounces.tests.dsn_builder import make_dsn
from mailcore.testing.smtp import SmtpSink
from mailqueue.models import Mail
from mailqueue.sender import send_mails
from marketing.models import MailingState, MailingTrace, TraceStatus
from marketing.queue import mailing_pause_if_bouncing, mailing_resume, process_marketing_queue
from marketing.selectors import mailing_statistics
from marketing.services import mailing_put_in_queue
from marketing.tests.test_lists import marketer
from marketing.tests.test_queue import _campaign, _list_of
from tests.celery_fixtures import wait_until

# The gateway's fixtures, shared with the bounces tests.
start_gateway = bounces_fixtures.start_gateway
_fresh_alias_cache = bounces_fixtures._fresh_alias_cache


def _bounce(gateway: RunningGateway, sent: Any, *, status: str = "5.1.1") -> None:
    headers_block = sent.data.split(b"\r\n\r\n", 1)[0].decode().replace("\r\n", "\n")
    dsn = make_dsn(recipient=sent.rcpt_tos[0], status=status, original_headers=headers_block, to=sent.mail_from)
    with smtplib.SMTP(gateway.host, gateway.port, timeout=15) as client:
        assert client.sendmail("", [sent.mail_from], dsn) == {}


def test_a_bounce_through_the_gateway_updates_the_campaign_statistics(
    start_gateway: Callable[[], RunningGateway], celery_worker_factory: Callable[..., Any], smtp_sink: SmtpSink
) -> None:
    gateway = start_gateway()
    celery_worker_factory()
    mailing = _campaign(_list_of("Bouncy", 3), "Bouncy")
    mailing_put_in_queue(mailing=mailing)
    assert len(smtp_sink.wait_for(3, timeout=60)) == 3
    assert wait_until(lambda: MailingTrace.objects.filter(trace_status=TraceStatus.SENT).count() == 3, 30)
    sent = next(m for m in smtp_sink.messages if m.rcpt_tos == ["bouncy1@example.com"])
    assert sent.mail_from.startswith("bounce+")

    _bounce(gateway, sent)

    assert wait_until(lambda: MailingTrace.objects.filter(trace_status=TraceStatus.BOUNCE).count() == 1, 30), list(
        InboundMessage.objects.filter(decision=InboundDecision.BOUNCE).values("state", "reason", "error")
    )
    trace = MailingTrace.objects.get(trace_status=TraceStatus.BOUNCE)
    assert trace.email == "bouncy1@example.com" and trace.hard_bounce
    assert "User unknown" in trace.failure_reason
    stats = mailing_statistics(mailing)
    assert (stats.sent, stats.delivered, stats.bounced, stats.bounced_hard) == (3, 2, 1, 1)
    assert stats.bounced_ratio == round(100 / 3, 2)
    page = marketer().get(reverse("marketing:mailing_detail", args=[mailing.pk])).content.decode()
    assert "1 hard" in page


@pytest.mark.django_db
def test_too_many_hard_bounces_pause_the_campaign_until_resumed(smtp_sink: SmtpSink, settings: Any) -> None:
    from bounces.registry import BouncedDelivery, bounce_listeners_notify

    settings.MARKETING_PAUSE_MIN_SENT = 4
    mailing = _campaign(_list_of("Dead", 10), "Dead list")
    mailing_put_in_queue(mailing=mailing)
    process_marketing_queue(time_budget=30)
    mailing.refresh_from_db()
    assert mailing.state == MailingState.DONE and Mail.objects.count() == 10  # queued, not sent yet
    first_rows = list(Mail.objects.order_by("id").values_list("id", flat=True)[:4])
    assert send_mails(mail_ids=first_rows).sent == 4
    soft = MailingTrace.objects.get(email="dead1@example.com")
    bounce_listeners_notify(BouncedDelivery(soft.mail_recipient_ref, (), soft.email, hard=False, diagnostic="452 full"))
    mailing.refresh_from_db()
    assert mailing.state == MailingState.DONE  # a soft bounce says nothing about the list

    dead = MailingTrace.objects.get(email="dead0@example.com")
    bounce_listeners_notify(
        BouncedDelivery(dead.mail_recipient_ref, (), dead.email, hard=True, diagnostic="550 5.1.1 User unknown")
    )

    mailing.refresh_from_db()
    assert mailing.state == MailingState.PAUSED
    assert mailing.state_reason.startswith("Paused: 1 of the 4 mails sent bounced hard (25.0%, more than 5%).")
    assert Mail.objects.count() == 0  # the 6 rows not handed to a worker were taken back
    assert MailingTrace.objects.filter(mailing=mailing).count() == 4
    assert not mailing_pause_if_bouncing(mailing.pk)  # already paused

    assert mailing_resume(mailing=mailing)
    process_marketing_queue(time_budget=30)
    assert send_mails().sent == 6
    received = sorted(m.rcpt_tos[0] for m in smtp_sink.wait_for(10))
    assert received == sorted(f"dead{i}@example.com" for i in range(10))  # each exactly once
    mailing.refresh_from_db()
    assert mailing.state == MailingState.DONE
