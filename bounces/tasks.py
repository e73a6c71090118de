"""Celery tasks of the inbound gateway. They take ids and are idempotent.

The gateway stores a row and rings :func:`inbound_process` after commit; the beat sweep
(:func:`inbound_sweep`) processes whatever a lost ring or a dead worker left behind, so a broker
failure only delays inbound mail.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.utils.translation import gettext_noop

from bounces import conf, services

SWEEP_CRON = gettext_noop("Mail: Inbound Sweep")  # ours: Odoo fetches mail itself and has no doorbell to lose
SWEEP_TASK = "bounces.tasks.inbound_sweep"


@shared_task(name=services.INBOUND_PROCESS_TASK, ignore_result=True)
def inbound_process(inbound_id: int) -> dict[str, Any]:
    """Odoo ``message_process`` for one stored inbound message (parse, route, post or bounce).

    Idempotent: a row already processed, or being processed by another worker, is skipped.
    """
    outcome = services.message_process(inbound_id=int(inbound_id))
    return {"status": outcome.status, "detail": outcome.detail}


@shared_task(name=services.INBOUND_PROCESS_MANY_TASK, ignore_result=True)
def inbound_process_many(inbound_ids: list[int]) -> dict[str, int]:
    """:func:`inbound_process` for rows the gateway stored together (one doorbell for several)."""
    counts: dict[str, int] = {}
    for inbound_id in inbound_ids:
        status = services.message_process(inbound_id=int(inbound_id)).status
        counts[status] = counts.get(status, 0) + 1
    return counts


@shared_task(name=SWEEP_TASK, ignore_result=True)
def inbound_sweep() -> dict[str, int] | None:
    """Beat sweep: process inbound rows left in ``received`` (or with a dead worker's lease).

    Runs under the cron lease of :mod:`mailqueue.crons`, so two sweeps never overlap.
    """
    from mailqueue.crons import cron_run

    outcome = cron_run(
        SWEEP_CRON,
        services.inbound_sweep,
        lease_seconds=conf.sweep_time_budget_seconds() + 60,
        summarize=lambda counts: ", ".join(f"{k}={v}" for k, v in sorted(counts.items())),
    )
    return outcome.result
