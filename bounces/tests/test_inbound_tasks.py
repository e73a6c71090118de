"""Processing bookkeeping: leases, failures, the sweep, retention, the beat rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from bounces import services, tasks
from bounces.models import BounceAction, BounceEvent, InboundDecision, InboundMessage, InboundRefusal, InboundState
from bounces.tests.smtp_talk import make_mail
from chatter.models import Message
from demo.models import Lead
from mailcore.models import AliasDomain
from mailcore.signed_addresses import reply_address
from tests.celery_fixtures import wait_until


def _reply_row(lead: Lead, **kwargs: Any) -> InboundMessage:
    ct = ContentType.objects.get_for_model(Lead)
    rcpt = reply_address(alias_domain=AliasDomain(name="mailcore.localhost"), model_id=ct.pk, res_id=lead.pk)
    reception = services.inbound_receive(raw=make_mail(**kwargs), mail_from="a@example.com", rcpt_tos=[rcpt])
    return InboundMessage.objects.get(pk=reception.inbound_id)


@pytest.mark.django_db
def test_sweep_processes_rows_left_behind_and_expired_leases() -> None:
    lead = Lead.objects.create(name="Sweep")
    old = _reply_row(lead)
    fresh = _reply_row(lead)
    stuck = _reply_row(lead)
    live = _reply_row(lead)
    past = timezone.now() - dt.timedelta(minutes=5)
    InboundMessage.objects.filter(pk__in=[old.pk, stuck.pk, live.pk]).update(received_at=past)
    # A worker died while processing `stuck` (lease over); `live` is being processed right now.
    InboundMessage.objects.filter(pk=stuck.pk).update(state=InboundState.PROCESSING, lease_until=past, attempt_count=1)
    InboundMessage.objects.filter(pk=live.pk).update(
        state=InboundState.PROCESSING, lease_until=timezone.now() + dt.timedelta(minutes=5), attempt_count=1
    )
    assert services.inbound_rows_left_behind() == [old.pk, stuck.pk]
    assert services.inbound_sweep() == {"done": 2, "skipped": 0, "error": 0, "retry": 0}
    states = dict(InboundMessage.objects.values_list("pk", "state"))
    assert states == {old.pk: "done", fresh.pk: "received", stuck.pk: "done", live.pk: "processing"}
    assert InboundMessage.objects.get(pk=stuck.pk).attempt_count == 2


@pytest.mark.django_db
def test_a_failure_is_recorded_on_the_row_and_can_be_reprocessed(monkeypatch: pytest.MonkeyPatch) -> None:
    lead = Lead.objects.create(name="Fails")
    row = _reply_row(lead)

    def broken(**kwargs: Any) -> None:
        raise ValueError("model refused the record")

    monkeypatch.setattr(services, "message_post", broken)
    outcome = services.message_process(inbound_id=row.pk)
    assert outcome.status == "error"
    row.refresh_from_db()
    assert row.state == InboundState.ERROR
    assert row.error == "ValueError: model refused the record"
    assert not Message.objects.filter(message_id=row.message_id).exists()
    monkeypatch.undo()
    assert services.inbound_reprocess(inbound_ids=[row.pk]) == 1
    assert services.message_process(inbound_id=row.pk).status == "done"
    row.refresh_from_db()
    assert (row.state, row.error, row.attempt_count) == (InboundState.DONE, "", 2)


@pytest.mark.django_db
def test_vacuum_deletes_old_processed_and_refused_rows_only(settings: pytest.FixtureRequest) -> None:
    settings.MAILCORE_INBOUND_RETENTION_DAYS = 10  # type: ignore[attr-defined]
    lead = Lead.objects.create(name="Vacuum")
    done_old, done_new, error_old, received_old = (_reply_row(lead) for _ in range(4))
    refused_old = InboundMessage.objects.get(
        pk=services.inbound_receive(
            raw=make_mail(), mail_from="a@example.com", rcpt_tos=["catchall@mailcore.localhost"]
        ).inbound_id
    )
    assert refused_old.decision == InboundDecision.REJECTED
    for row in (done_old, done_new):
        services.message_process(inbound_id=row.pk)
    InboundMessage.objects.filter(pk=error_old.pk).update(state=InboundState.ERROR)
    event = BounceEvent.objects.create(email="x@example.com", action=BounceAction.FAILED, inbound=done_old)
    eleven_days_ago = timezone.now() - dt.timedelta(days=11)
    InboundMessage.objects.exclude(pk=done_new.pk).update(received_at=eleven_days_ago)
    services.inbound_refusals_record(
        batch=services.RefusalBatch(
            [
                services.Refusal(at=eleven_days_ago.timestamp(), remote_address="192.0.2.1", reply="550 5.1.1 old"),
                services.Refusal(at=timezone.now().timestamp(), remote_address="192.0.2.1", reply="550 5.1.1 new"),
            ],
            {},
        )
    )
    assert services.inbound_vacuum() == 3
    assert list(InboundRefusal.objects.values_list("reply", flat=True)) == ["550 5.1.1 new"]
    assert set(InboundMessage.objects.values_list("pk", flat=True)) == {done_new.pk, error_old.pk, received_old.pk}
    event.refresh_from_db()
    assert event.inbound_id is None  # bounce history outlives the inbound row


@pytest.mark.django_db
def test_vacuum_and_sweep_are_registered_with_the_crons() -> None:
    from mailqueue.crons import crons_ensure
    from mailqueue.vacuum import _cleaners

    crons_ensure()
    task = PeriodicTask.objects.get(name=tasks.SWEEP_CRON)
    assert task.task == "bounces.tasks.inbound_sweep"
    assert (task.interval.every, task.interval.period) == (60, "seconds")  # type: ignore[union-attr]
    assert "inbound_messages" in _cleaners


def test_the_sweep_task_runs_on_a_real_worker(celery_worker_factory: Callable[..., Any], celery_task_log: Any) -> None:
    lead = Lead.objects.create(name="Worker sweep")
    row = _reply_row(lead)
    InboundMessage.objects.filter(pk=row.pk).update(received_at=timezone.now() - dt.timedelta(minutes=5))
    live = celery_worker_factory()
    live.app.send_task(tasks.SWEEP_TASK)
    assert wait_until(lambda: InboundMessage.objects.get(pk=row.pk).state == InboundState.DONE, timeout=30)
    assert celery_task_log.wait_for(lambda runs: any(r.name == tasks.SWEEP_TASK for r in runs), timeout=10)
