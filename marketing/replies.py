"""Replies to campaign mail, as the gateway reports them (Odoo mass mailing's ``set_replied``).

A campaign mail's Message-ID is its trace's ``message_id`` (the queue row sends it as its own
Message-ID), so a reply names the trace in its In-Reply-To or References.
"""

from __future__ import annotations

from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from bounces.registry import InboundReply
from marketing.models import MailingTrace, TraceStatus

# A reply says the mail arrived and was read; a bounce, an error or an exclusion stays what it is.
_REPLIABLE = (TraceStatus.SENT, TraceStatus.OPEN)


class CampaignReplies:
    """The reply listener the marketing app registers with the gateway."""

    def knows(self, message_ids: list[str]) -> bool:
        """Whether one of ``message_ids`` is a campaign mail's."""
        return MailingTrace.objects.filter(message_id__in=message_ids).exists()

    def record(self, reply: InboundReply) -> str:
        """Mark the traces ``reply`` answers replied, once per recipient (the first reply's time is
        kept); a reply also counts as an open. A further reply is recorded on the inbound message
        only."""
        now = timezone.now()
        replied = MailingTrace.objects.filter(
            Q(trace_status__in=_REPLIABLE) & Q(reply_datetime__isnull=True), message_id__in=reply.message_ids
        ).update(trace_status=TraceStatus.REPLY, reply_datetime=now, open_datetime=Coalesce("open_datetime", now))
        if replied:
            return f"Campaign reply recorded on {replied} recipient(s)."
        if MailingTrace.objects.filter(message_id__in=reply.message_ids).exists():
            return "Campaign reply: the recipient was already counted (or its mail bounced or failed)."
        return ""


campaign_replies = CampaignReplies()
