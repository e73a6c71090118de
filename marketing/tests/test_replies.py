"""Replies to campaign mail, through the real gateway and a real worker: the recipient counts as
replied on the campaign, once, whatever the number of replies."""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from email import message_from_bytes
from email.message import EmailMessage
from typing import Any

import pytest
from django.urls import reverse

from bounces.models import InboundDecision, InboundMessage, InboundState
from bounces.registry import reply_known_elsewhere
from bounces.tests import conftest as bounces_fixtures
from bounces.tests.conftest import RunningGateway
from mailcore.models import AliasDomain
from mailcore.testing.smtp import SmtpSink
from marketing.models import MailingTrace, TraceStatus
from marketing.selectors import mailing_statistics
from marketing.services import mailing_put_in_queue
from marketing.tests.test_lists import marketer
from marketing.tests.test_queue import _campaign, _list_of
from tests.celery_fixtures import wait_until

start_gateway = bounces_fixtures.start_gateway
_fresh_alias_cache = bounces_fixtures._fresh_alias_cache


def _reply(gateway: RunningGateway, sent: Any, *, message_id: str) -> None:
    original = message_from_bytes(sent.data)
    in_reply_to, reply_to = str(original["Message-ID"]), str(original["Reply-To"])
    msg = EmailMessage()
    msg["From"] = sent.rcpt_tos[0]
    msg["To"] = reply_to
    msg["Subject"] = "Re: news"
    msg["Message-ID"] = message_id
    msg["In-Reply-To"] = in_reply_to
    msg.set_content("Thanks, tell me more.")
    with smtplib.SMTP(gateway.host, gateway.port, timeout=15) as client:
        assert client.sendmail(sent.rcpt_tos[0], [reply_to], msg.as_bytes()) == {}


def test_a_reply_through_the_gateway_counts_once_per_recipient(
    start_gateway: Callable[[], RunningGateway], celery_worker_factory: Callable[..., Any], smtp_sink: SmtpSink
) -> None:
    gateway = start_gateway()
    celery_worker_factory()
    catchall = AliasDomain.objects.order_by("sequence", "id").get().catchall_email
    mailing = _campaign(_list_of("Chatty", 4), "Chatty", reply_to=catchall)
    mailing_put_in_queue(mailing=mailing)
    assert len(smtp_sink.wait_for(4, timeout=60)) == 4
    assert wait_until(lambda: MailingTrace.objects.filter(trace_status=TraceStatus.SENT).count() == 4, 30)
    sent = next(m for m in smtp_sink.messages if m.rcpt_tos == ["chatty1@example.com"])

    # Written to the catchall: without the campaign's Message-ID it would be refused there.
    _reply(gateway, sent, message_id="<r1@example.com>")
    _reply(gateway, sent, message_id="<r2@example.com>")  # a second reply counts no more

    assert wait_until(lambda: InboundMessage.objects.filter(state=InboundState.DONE).count() == 2, 30), list(
        InboundMessage.objects.values("decision", "state", "reason", "error")
    )
    assert set(InboundMessage.objects.values_list("decision", flat=True)) == {InboundDecision.ACCEPTED}
    first = InboundMessage.objects.get(message_id="<r1@example.com>")
    assert "Campaign reply recorded on 1 recipient(s)." in first.reason
    second = InboundMessage.objects.get(message_id="<r2@example.com>")
    assert "already counted" in second.reason
    trace = MailingTrace.objects.get(trace_status=TraceStatus.REPLY)
    assert trace.email == "chatty1@example.com"
    assert trace.reply_datetime is not None and trace.open_datetime is not None
    stats = mailing_statistics(mailing)
    # Odoo's ratio: replied over the mails neither cancelled, bounced nor failed.
    assert (stats.replied, stats.opened, stats.delivered) == (1, 1, 4)
    assert stats.replied_ratio == 25.0
    page = marketer().get(reverse("marketing:mailing_detail", args=[mailing.pk])).content.decode()
    assert "25.0%" in page


@pytest.mark.django_db
def test_the_door_knows_campaign_message_ids_only() -> None:
    mailing = _campaign(_list_of("Known", 1), "Known")
    MailingTrace.objects.create(mailing=mailing, email="known0@example.com", message_id="<a@mailcore>")
    assert reply_known_elsewhere(["<zzz@example.com>", "<a@mailcore>"])
    assert not reply_known_elsewhere(["<zzz@example.com>"])
    assert not reply_known_elsewhere([])


@pytest.mark.django_db
def test_a_reply_leaves_a_bounced_recipient_bounced() -> None:
    from bounces.registry import InboundReply, reply_listeners_notify

    mailing = _campaign(_list_of("Gone", 1), "Gone")
    MailingTrace.objects.create(
        mailing=mailing, email="gone0@example.com", message_id="<b@mailcore>", trace_status=TraceStatus.BOUNCE
    )
    summaries = reply_listeners_notify(InboundReply(message_ids=("<b@mailcore>",), email="gone0@example.com"))
    assert summaries == ["Campaign reply: the recipient was already counted (or its mail bounced or failed)."]
    assert MailingTrace.objects.get().trace_status == TraceStatus.BOUNCE
