"""Celery task of e-mail marketing: the "Mail Marketing: Process queue" cron. Idempotent; takes no ids."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from celery import shared_task
from django.utils import timezone

from mailqueue import crons, dispatch
from marketing import conf
from marketing.models import Mailing, MailingState
from marketing.queue import (
    MARKETING_CRON,
    MARKETING_TASK,
    MarketingRunResult,
    marketing_trigger,
    process_marketing_queue,
)

# A run killed mid-way leaves its lease; the next run may start once it expires.
LEASE_MARGIN_SECONDS = 60


def _summary(result: MarketingRunResult) -> str:
    return json.dumps(dataclasses.asdict(result))


def _owner(task: Any) -> str:
    request = getattr(task, "request", None)
    return f"{getattr(request, 'hostname', None) or 'worker'}:{getattr(request, 'id', None)}"


@shared_task(bind=True, name=MARKETING_TASK, ignore_result=True)
def process_marketing_queue_task(self: Any) -> dict[str, Any]:
    """Odoo "Mail Marketing: Process queue": due campaigns, oldest first, in batches within a time budget.

    Takes the cron's lease (a second run returns at once), records the run, then books the next
    one: at once while campaigns remain, else at the next scheduled campaign's date.
    """
    budget = conf.cron_time_budget_seconds()

    def job() -> MarketingRunResult:
        dispatch.cron_trigger_consumed(MARKETING_CRON, now=timezone.now())
        return process_marketing_queue(time_budget=budget)

    outcome = crons.cron_run(
        MARKETING_CRON, job, lease_seconds=budget + LEASE_MARGIN_SECONDS, summarize=_summary, owner=_owner(self)
    )
    if not outcome.ran:
        marketing_trigger(at=crons.cron_lease_expiry(MARKETING_CRON))
        return {"skipped": True}
    result = outcome.result
    if result is not None and result.remaining:
        marketing_trigger()
    else:
        upcoming = (
            Mailing.objects.filter(state=MailingState.IN_QUEUE, schedule_date__gt=timezone.now())
            .order_by("schedule_date")
            .values_list("schedule_date", flat=True)
            .first()
        )
        if upcoming is not None:
            marketing_trigger(at=upcoming)
    return {"skipped": False, "error": outcome.error, **(dataclasses.asdict(result) if result else {})}
