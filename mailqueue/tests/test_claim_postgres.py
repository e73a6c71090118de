"""Row claiming on PostgreSQL: two workers on one backlog, no duplicates, nothing lost.

SQLite ignores ``SELECT … FOR UPDATE`` (it locks the whole file instead), so this needs
PostgreSQL. Each worker is a thread with its own database connection, claiming small batches
so the two really interleave on the same rows.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from django.db import connection

from chatter.models import Notification, NotificationStatus
from chatter.tests.factories import LeadFactory, PartnerFactory
from mailcore.testing.smtp import SmtpSink
from mailqueue.models import DeliveryLog, Mail, MailRecipient
from mailqueue.sender import SendReport, send_mails
from mailqueue.tests.test_sender import sink_server
from tests.services import require_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _run_workers(count: int, batch: int) -> list[SendReport]:
    barrier = threading.Barrier(count)
    reports = [SendReport() for _ in range(count)]
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            idle = 0
            for _ in range(1000):  # bounded; ends when the backlog is empty twice in a row
                report = send_mails(limit=batch, worker=f"worker-{index}")
                reports[index].merge(report)
                idle = idle + 1 if not report.claimed else 0
                if idle >= 2:
                    break
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)
    return reports


def test_two_workers_share_one_backlog_without_duplicates(smtp_sink: SmtpSink, settings: Any) -> None:
    require_postgres()
    settings.MAILQUEUE_RECIPIENTS_PER_MAIL = 2
    sink_server(smtp_sink)  # an external server: the quota is not part of this test
    partners = PartnerFactory.create_batch(600)
    LeadFactory().message_post(body="<p>News</p>", subtype="mt_comment", partner_ids=[p.pk for p in partners],
                               author=PartnerFactory(email="ann@example.com"))  # fmt: skip
    assert Mail.objects.count() == 300
    recipient_ids = set(MailRecipient.objects.values_list("pk", flat=True))

    reports = _run_workers(2, batch=7)

    received = smtp_sink.wait_for(600, timeout=10)
    per_address = Counter(rcpt for mail in received for rcpt in mail.rcpt_tos)
    assert len(received) == 600
    assert per_address == Counter({p.email_normalized: 1 for p in partners})  # each exactly once
    assert sum(r.claimed for r in reports) == 300 and sum(r.sent for r in reports) == 600
    assert all(r.claimed > 0 for r in reports), [r.claimed for r in reports]
    claimed = [pk for r in reports for pk in r.mail_ids]
    assert len(claimed) == len(set(claimed)) == 300  # no row was claimed twice
    assert not Mail.objects.exists()  # all sent and auto-deleted
    statuses = Counter(Notification.objects.values_list("notification_status", flat=True))
    assert statuses == Counter({NotificationStatus.SENT: 600})
    assert DeliveryLog.objects.filter(success=True).count() == 600
    # The envelope of every message names a distinct delivery.
    assert len({mail.mail_from for mail in received}) == len(recipient_ids)


def test_expired_lease_is_taken_over_and_live_lease_is_skipped(smtp_sink: SmtpSink, settings: Any) -> None:
    require_postgres()
    import datetime as dt

    from django.utils import timezone

    sink_server(smtp_sink)
    author = PartnerFactory(email="ann@example.com")
    lead = LeadFactory()
    for _ in range(3):
        lead.message_post(body="x", subtype="mt_comment", partner_ids=[PartnerFactory().pk], author=author)
    live, expired, free = Mail.objects.order_by("id")
    now = timezone.now()
    Mail.objects.filter(pk=live.pk).update(lease_owner="other", lease_until=now + dt.timedelta(minutes=5))
    Mail.objects.filter(pk=expired.pk).update(lease_owner="crashed", lease_until=now - dt.timedelta(seconds=1))

    report = send_mails(worker="me")

    assert sorted(report.mail_ids) == sorted([expired.pk, free.pk])
    assert Mail.objects.filter(pk=live.pk, lease_owner="other").exists()
