"""The chatter's newest page comes straight from the thread index on PostgreSQL.

The page query orders one record's messages by ``date DESC, id DESC``; an index whose columns and
directions match lets PostgreSQL stop after the first page, whatever the thread's length and even
on a table that was never analysed (where an index on ``date`` alone left a sort of the whole
thread, which grew with it).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from chatter.models import Message, MessageType
from chatter.selectors import MESSAGES_PER_PAGE
from chatter.tests.factories import LeadFactory
from tests.services import require_postgres

pytestmark = pytest.mark.django_db


def test_newest_page_reads_the_thread_index_without_sorting() -> None:
    require_postgres()
    lead, other = LeadFactory(), LeadFactory()
    content_type = ContentType.objects.get_for_model(type(lead))
    start = timezone.now() - dt.timedelta(days=10)
    Message.objects.bulk_create(
        Message(
            model=content_type,
            res_id=(lead if i % 2 else other).pk,
            message_type=MessageType.COMMENT,
            body=f"<p>{i}</p>",
            date=start + dt.timedelta(seconds=i // 3),  # equal dates: the id breaks the tie
        )
        for i in range(6000)
    )
    page = Message.objects.filter(model=content_type, res_id=lead.pk).order_by("-date", "-id")[: MESSAGES_PER_PAGE + 1]

    plan = page.explain()

    assert "message_thread_idx" in plan
    assert "Sort" not in plan
