"""The claim walks the FIFO index on PostgreSQL: a long queue (a campaign) is not sorted at every
batch. The claim orders by (scheduled date NULLS FIRST, id); an index on the plain columns keeps
NULLs last, so PostgreSQL sorted every outgoing row for each batch of 100."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from chatter.models import Message
from mailqueue.models import Mail
from mailqueue.sender.claim import due_mails
from tests.services import require_postgres

pytestmark = pytest.mark.django_db


def test_the_claim_reads_the_queue_in_index_order_without_sorting_it() -> None:
    require_postgres()
    message = Message.objects.create(body="<p>Spring sale</p>")
    now = timezone.now()
    Mail.objects.bulk_create(
        Mail(message=message, subject=f"Campaign {i}", scheduled_date=None if i % 10 else now - dt.timedelta(minutes=i))
        for i in range(20_000)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Mail._meta.db_table}")
    plan = due_mails(now).values_list("pk", flat=True)[:100].explain()
    assert "mail_outgoing_fifo_idx" in plan, plan
    assert "Sort" not in plan, plan
    # The order the index gives is the claim's: unscheduled rows first, then by date, then by id.
    first = list(due_mails(now).values_list("scheduled_date", flat=True)[:2])
    assert first == [None, None]
