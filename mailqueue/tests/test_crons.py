"""The crons as django-celery-beat rows: defaults, the 5-minute floor (service and admin), the run lease."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.forms.models import model_to_dict
from django.test import Client
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from mailqueue import crons
from mailqueue.models import CronState

pytestmark = pytest.mark.django_db

FLOOR = "The lowest running interval for a cron is 5 minutes; 15 minutes is recommended."


def _interval(name: str) -> dt.timedelta:
    task = PeriodicTask.objects.select_related("interval").get(name=name)
    assert task.interval is not None
    return dt.timedelta(**{task.interval.period: task.interval.every})


# --- the beat rows -------------------------------------------------------------------------------
def test_migrate_created_the_crons_with_odoo_defaults() -> None:
    tasks = {t.name: t for t in PeriodicTask.objects.all()}
    assert tasks["Mail: Email Queue Manager"].task == "mailqueue.tasks.process_email_queue_task"
    assert tasks["Base: Auto-Vacuum"].task == "mailqueue.tasks.autovacuum_task"
    assert tasks["Mail: Queue Sweep"].task == "mailqueue.tasks.queue_sweep_task"
    assert all(tasks[name].enabled for name in (crons.QUEUE_CRON, crons.AUTOVACUUM_CRON, crons.SWEEP_CRON))
    assert _interval(crons.QUEUE_CRON) == dt.timedelta(minutes=60)
    assert _interval(crons.AUTOVACUUM_CRON) == dt.timedelta(days=1)
    assert _interval(crons.SWEEP_CRON) == dt.timedelta(minutes=1)
    assert set(CronState.objects.values_list("name", flat=True)) >= {
        crons.QUEUE_CRON,
        crons.AUTOVACUUM_CRON,
        crons.SWEEP_CRON,
    }


def test_the_cron_tasks_are_registered_with_celery() -> None:
    from config.celery_app import app

    app.loader.import_default_modules()
    for spec in crons.registered_crons():
        assert spec.task in app.tasks


def test_crons_ensure_keeps_what_the_admin_edited_and_recreates_what_is_missing() -> None:
    crons.cron_set_interval(crons.QUEUE_CRON, 15)
    PeriodicTask.objects.filter(name=crons.AUTOVACUUM_CRON).update(enabled=False)
    PeriodicTask.objects.filter(name=crons.SWEEP_CRON).delete()

    crons.crons_ensure()

    assert _interval(crons.QUEUE_CRON) == dt.timedelta(minutes=15)
    assert PeriodicTask.objects.get(name=crons.AUTOVACUUM_CRON).enabled is False
    assert _interval(crons.SWEEP_CRON) == dt.timedelta(minutes=1)


# --- the 5-minute floor: service -----------------------------------------------------------------
@pytest.mark.parametrize("minutes", [0, 1, 4])
def test_cron_set_interval_refuses_under_5_minutes(minutes: int) -> None:
    with pytest.raises(crons.CronIntervalError) as excinfo:
        crons.cron_set_interval(crons.QUEUE_CRON, minutes)
    assert str(excinfo.value) == FLOOR
    assert isinstance(excinfo.value, ValueError)
    assert _interval(crons.QUEUE_CRON) == dt.timedelta(minutes=60)


def test_cron_set_interval_accepts_5_minutes_and_more() -> None:
    info = crons.cron_set_interval(crons.QUEUE_CRON, 5)
    assert info.interval == dt.timedelta(minutes=5)
    info = crons.cron_set_interval(crons.AUTOVACUUM_CRON, 15)
    assert info.interval == dt.timedelta(minutes=15)
    assert _interval(crons.AUTOVACUUM_CRON) == dt.timedelta(minutes=15)


def test_the_internal_sweep_is_exempt_but_needs_a_minute() -> None:
    assert crons.cron_set_interval(crons.SWEEP_CRON, 2).interval == dt.timedelta(minutes=2)
    with pytest.raises(crons.CronIntervalError):
        crons.cron_set_interval(crons.SWEEP_CRON, 0)


def test_unknown_cron() -> None:
    with pytest.raises(crons.CronNotFoundError):
        crons.cron_set_interval("Nope", 15)


@pytest.mark.parametrize(
    ("minute", "hour", "refused"),
    [("*/2", "*", True), ("*", "*", True), ("0,3", "*", True), ("0,58", "*", True), ("0", "*", False),
     ("*/15", "*", False), ("0,58", "3", False), ("0,30", "*", False)],
)
def test_crontab_schedules_obey_the_floor(minute: str, hour: str, refused: bool) -> None:
    crontab = CrontabSchedule(minute=minute, hour=hour)
    if refused:
        with pytest.raises(crons.CronIntervalError):
            crons.validate_cron_schedule(task=crons.QUEUE_TASK, crontab=crontab)
    else:
        crons.validate_cron_schedule(task=crons.QUEUE_TASK, crontab=crontab)
    crons.validate_cron_schedule(task=crons.SWEEP_TASK, crontab=crontab)  # internal: exempt


def test_register_cron_refuses_a_short_default() -> None:
    with pytest.raises(crons.CronIntervalError):
        crons.register_cron(crons.CronSpec(name="Too fast", task="x.y", every=2))
    assert "Too fast" not in {s.name for s in crons.registered_crons()}


# --- the 5-minute floor: admin -------------------------------------------------------------------
def _task_form_data(task: PeriodicTask, **changes: Any) -> dict[str, Any]:
    data = {k: v for k, v in model_to_dict(task).items() if v is not None and k != "id"}
    data.update(changes)
    return data


def test_admin_help_text_recommends_15_minutes(admin_client: Client) -> None:
    task = PeriodicTask.objects.get(name=crons.QUEUE_CRON)
    page = admin_client.get(f"/admin/django_celery_beat/periodictask/{task.pk}/change/")
    assert page.status_code == 200
    assert "15 minutes is recommended" in page.content.decode()


def test_admin_refuses_a_periodic_task_under_5_minutes(admin_client: Client) -> None:
    task = PeriodicTask.objects.get(name=crons.QUEUE_CRON)
    two_minutes = IntervalSchedule.objects.create(every=2, period=IntervalSchedule.MINUTES)
    response = admin_client.post(
        f"/admin/django_celery_beat/periodictask/{task.pk}/change/",
        _task_form_data(task, interval=two_minutes.pk),
    )
    assert response.status_code == 200  # the form again, with the error
    assert FLOOR in response.content.decode()
    assert _interval(crons.QUEUE_CRON) == dt.timedelta(minutes=60)

    fifteen = IntervalSchedule.objects.create(every=15, period=IntervalSchedule.MINUTES)
    response = admin_client.post(
        f"/admin/django_celery_beat/periodictask/{task.pk}/change/",
        _task_form_data(task, interval=fifteen.pk),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert _interval(crons.QUEUE_CRON) == dt.timedelta(minutes=15)


def _interval_form_data(every: int) -> dict[str, Any]:
    # The change page carries a read-only inline of the tasks using the schedule.
    return {
        "every": every,
        "period": IntervalSchedule.MINUTES,
        "periodictask_set-TOTAL_FORMS": "0",
        "periodictask_set-INITIAL_FORMS": "0",
    }


def test_admin_refuses_shrinking_an_interval_a_cron_uses(admin_client: Client) -> None:
    task = PeriodicTask.objects.select_related("interval").get(name=crons.QUEUE_CRON)
    assert task.interval is not None
    url = f"/admin/django_celery_beat/intervalschedule/{task.interval.pk}/change/"
    response = admin_client.post(url, _interval_form_data(3))
    assert response.status_code == 200
    assert FLOOR in response.content.decode()
    assert _interval(crons.QUEUE_CRON) == dt.timedelta(minutes=60)

    sweep = PeriodicTask.objects.select_related("interval").get(name=crons.SWEEP_CRON)
    assert sweep.interval is not None
    url = f"/admin/django_celery_beat/intervalschedule/{sweep.interval.pk}/change/"
    response = admin_client.post(url, _interval_form_data(2))
    assert response.status_code == 302  # only the internal sweep uses it
    assert _interval(crons.SWEEP_CRON) == dt.timedelta(minutes=2)


# --- lease and bookkeeping -----------------------------------------------------------------------
def test_the_lease_admits_one_run_at_a_time() -> None:
    assert crons.cron_lease_acquire(crons.QUEUE_CRON, owner="a", seconds=60)
    assert not crons.cron_lease_acquire(crons.QUEUE_CRON, owner="b", seconds=60)
    assert not crons.cron_lease_release(crons.QUEUE_CRON, owner="b")  # not b's to give back
    assert crons.cron_lease_release(crons.QUEUE_CRON, owner="a")
    assert crons.cron_lease_acquire(crons.QUEUE_CRON, owner="b", seconds=60)


def test_an_expired_lease_can_be_taken_over() -> None:
    assert crons.cron_lease_acquire(crons.QUEUE_CRON, owner="dead", seconds=60)
    CronState.objects.filter(name=crons.QUEUE_CRON).update(running_until=timezone.now() - dt.timedelta(seconds=1))
    assert crons.cron_lease_acquire(crons.QUEUE_CRON, owner="alive", seconds=60)
    assert CronState.objects.get(name=crons.QUEUE_CRON).running_owner == "alive"


def test_cron_run_records_success_and_failure() -> None:
    def boom() -> int:
        raise RuntimeError("SMTP on fire")

    first = crons.cron_run(crons.AUTOVACUUM_CRON, boom, lease_seconds=60)
    second = crons.cron_run(crons.AUTOVACUUM_CRON, boom, lease_seconds=60)
    assert first.ran and second.ran and not second.ok
    state = CronState.objects.get(name=crons.AUTOVACUUM_CRON)
    assert state.failure_count == 2
    assert state.last_success is False
    assert state.last_result == "RuntimeError: SMTP on fire"
    assert state.running_until is None  # released even on failure

    ok = crons.cron_run(crons.AUTOVACUUM_CRON, lambda: {"deleted": 3}, lease_seconds=60)
    assert ok.ok and ok.result == {"deleted": 3}
    state.refresh_from_db()
    assert state.failure_count == 0
    assert state.last_success is True
    assert state.last_result == "{'deleted': 3}"
    assert state.last_run_at is not None and state.last_duration is not None


def test_cron_run_returns_at_once_while_another_run_holds_the_lease() -> None:
    ran = threading.Event()
    assert crons.cron_lease_acquire(crons.QUEUE_CRON, owner="other", seconds=60)
    outcome = crons.cron_run(crons.QUEUE_CRON, ran.set, lease_seconds=60)
    assert not outcome.ran
    assert not ran.is_set()
    assert CronState.objects.get(name=crons.QUEUE_CRON).running_owner == "other"


def test_cron_list_shows_schedule_runs_and_running_state() -> None:
    crons.cron_run(crons.AUTOVACUUM_CRON, lambda: {"deleted": 0}, lease_seconds=60)
    crons.cron_lease_acquire(crons.QUEUE_CRON, owner="x", seconds=60)
    booked = timezone.now() + dt.timedelta(minutes=3)
    CronState.objects.filter(name=crons.QUEUE_CRON).update(next_trigger_at=booked)

    infos = {i.name: i for i in crons.cron_list()}

    # Registration order; other apps' crons (the inbound sweep) follow ours.
    assert list(infos)[:3] == [crons.QUEUE_CRON, crons.AUTOVACUUM_CRON, crons.SWEEP_CRON]
    queue = infos[crons.QUEUE_CRON]
    assert queue.running is True
    assert queue.interval == dt.timedelta(minutes=60)
    assert queue.next_run_at == booked  # the booked trigger comes before the hourly run
    vacuum_info = infos[crons.AUTOVACUUM_CRON]
    assert vacuum_info.running is False
    assert vacuum_info.last_run_at is not None and vacuum_info.last_success is True
    assert vacuum_info.next_run_at is not None and vacuum_info.next_run_at > timezone.now()
    assert infos[crons.SWEEP_CRON].internal is True and queue.internal is False
