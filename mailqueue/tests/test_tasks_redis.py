"""The production broker: a real worker consuming Redis sends urgent, bulk and scheduled mail."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from chatter import services
from chatter.models import NotificationStatus
from chatter.tests.factories import LeadFactory, PartnerFactory
from mailcore.testing.smtp import SmtpSink
from mailqueue import crons, dispatch
from mailqueue.models import CronState
from tests.celery_fixtures import TaskLog, wait_until
from tests.services import require_redis

pytestmark = pytest.mark.redis

TIMEOUT = 30.0


def test_a_worker_on_redis_sends_urgent_bulk_and_scheduled_mail(
    smtp_sink: SmtpSink, celery_task_log: TaskLog, celery_worker_factory: Any
) -> None:
    url = require_redis()
    worker = celery_worker_factory(broker_url=url)
    assert worker.broker_url == url
    assert worker.app.connection_for_write().transport.driver_type == "redis"

    lead = LeadFactory()
    urgent_to = PartnerFactory(email="urgent@example.com")
    bulk_to = PartnerFactory(email="bulk@example.com")
    later_to = PartnerFactory(email="later@example.com")
    author = PartnerFactory(email="author@example.com")

    def post(partner_id: int, **kwargs: Any) -> Any:
        return services.message_post(
            record=lead, body="<p>Hi</p>", subtype="mt_note", author=author, partner_ids=[partner_id], **kwargs
        )

    urgent = post(urgent_to.pk)
    bulk = post(bulk_to.pk, urgent=False)
    at = timezone.now() + dt.timedelta(seconds=3)
    later = post(later_to.pk, scheduled_date=at)

    assert len(smtp_sink.wait_for(2, timeout=TIMEOUT)) >= 2
    assert sorted(r for m in smtp_sink.messages for r in m.rcpt_tos) == ["bulk@example.com", "urgent@example.com"]
    assert len(smtp_sink.wait_for(3, timeout=TIMEOUT)) == 3
    assert timezone.now() >= at
    for message in (urgent, bulk, later):
        assert wait_until(
            lambda m=message: set(m.notifications.values_list("notification_status", flat=True))
            == {NotificationStatus.SENT},
            TIMEOUT,
        )
    assert celery_task_log.of(dispatch.MAIL_SEND_TASK)
    assert wait_until(lambda: CronState.objects.get(name=crons.QUEUE_CRON).last_success is True, TIMEOUT)
