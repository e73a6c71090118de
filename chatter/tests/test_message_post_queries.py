"""Posting costs the same number of queries whatever the number of followers (issue 2 acceptance)."""

from __future__ import annotations

import math

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chatter import services
from chatter.models import Notification
from chatter.tests.factories import LeadFactory, PartnerFactory, inbox_user_partner
from mailqueue.models import Mail, MailRecipient
from tests.services import require_postgres

pytestmark = pytest.mark.django_db


def _insert_batches(model: type, rows: int) -> int:
    """How many INSERT statements Django's bulk_create needs for ``rows`` rows on this backend.

    PostgreSQL takes any number of rows in one statement; SQLite's backend caps a statement at
    999 parameters, so Django splits large bulk inserts. That split is the backend's, not ours.
    """
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    batch = connection.ops.bulk_batch_size(fields, [None] * rows)
    return math.ceil(rows / max(batch, 1))


def _post_queries(followers: int, inbox_followers: int = 0) -> tuple[int, int]:
    lead = LeadFactory()
    author = PartnerFactory()
    services.message_subscribe(record=lead, partners=[author], subtype_codes=["mt_comment"])
    partners = PartnerFactory.create_batch(followers) + [inbox_user_partner() for _ in range(inbox_followers)]
    services.message_subscribe(record=lead, partners=partners, subtype_codes=["mt_comment"])
    explicit = PartnerFactory()
    with CaptureQueriesContext(connection) as ctx:
        message = lead.message_post(body="<p>hi</p>", subtype="mt_comment", author=author, partner_ids=[explicit.pk])
    # The post really reached everyone: the count is about a complete job.
    assert message.notifications.count() == followers + inbox_followers + 1
    assert MailRecipient.objects.filter(mail__message=message).count() == followers + 1
    inserts = sum(1 for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith("INSERT"))
    return len(ctx.captured_queries), inserts


def _backend_splits(email_recipients: int, all_recipients: int) -> int:
    return (
        _insert_batches(Notification, all_recipients)
        + _insert_batches(MailRecipient, email_recipients)
        + _insert_batches(Mail, math.ceil(email_recipients / 50))
    )


def test_query_count_does_not_grow_with_followers() -> None:
    small_total, small_inserts = _post_queries(10, inbox_followers=2)
    large_total, large_inserts = _post_queries(300, inbox_followers=20)
    # Only the backend's own splitting of bulk inserts may differ (none on PostgreSQL).
    extra = _backend_splits(301, 321) - _backend_splits(11, 13)
    assert large_inserts - small_inserts == extra
    assert large_total == small_total + extra
    # Every other query (reads, savepoints) is identical in number.
    assert large_total - large_inserts == small_total - small_inserts


@pytest.mark.postgres
def test_query_count_is_identical_for_10_and_300_followers_on_postgresql() -> None:
    require_postgres()
    small_total, _ = _post_queries(10)
    large_total, _ = _post_queries(300)
    assert large_total == small_total
