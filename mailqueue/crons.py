"""Scheduled actions (Odoo ``ir.cron``) as django-celery-beat periodic tasks an admin can edit.

Odoo ships "Mail: Email Queue Manager" (every hour) and "Base: Auto-Vacuum" (daily); we keep
their names and defaults and add one internal job, the queue sweep, which rings the
doorbell again for rows a lost broker message left behind (the row is the queue, Celery
is the doorbell). The sweep only enqueues; it is exempt from the 5-minute floor and runs every
minute so a lost message delays urgent mail by about a minute at most.

Each run takes a lease on its :class:`~mailqueue.models.CronState` row with a conditional update,
so one cron never runs twice at once on any number of workers (Odoo locks the ``ir.cron`` row for
the same reason), and records when it ran, how long, what it did and whether it failed.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from celery import current_app
from django.apps.registry import Apps
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from mailqueue.exceptions import MailQueueError
from mailqueue.models import CronState

logger = logging.getLogger(__name__)

T = TypeVar("T")

# A cron's name is its key (stored, in English); pages show it translated (CronInfo.label), as
# Odoo's scheduled actions have translated names.
QUEUE_CRON = gettext_noop("Mail: Email Queue Manager")
AUTOVACUUM_CRON = gettext_noop("Base: Auto-Vacuum")
SWEEP_CRON = gettext_noop("Mail: Queue Sweep")  # ours: Odoo has no lost doorbells to make up for

QUEUE_TASK = "mailqueue.tasks.process_email_queue_task"
AUTOVACUUM_TASK = "mailqueue.tasks.autovacuum_task"
SWEEP_TASK = "mailqueue.tasks.queue_sweep_task"

MIN_INTERVAL = dt.timedelta(minutes=5)
# Odoo's FAQ wording. Marked for translation here, translated where shown (views, admin form):
# the exception's message stays English for logs.
MIN_INTERVAL_ERROR = gettext_noop("The lowest running interval for a cron is 5 minutes; 15 minutes is recommended.")
INTERVAL_HELP_TEXT = gettext_noop(
    "The lowest running interval for a cron is 5 minutes; 15 minutes is recommended. "
    "The Email Queue Manager runs every 60 minutes by default (as in Odoo) and is also triggered "
    "whenever bulk or scheduled mail is queued."
)


class CronError(MailQueueError):
    """Root of the errors raised by the cron services."""


class CronIntervalError(CronError, ValueError):
    """An interval under the 5-minute floor (Odoo's FAQ)."""

    def __init__(self, message: str = MIN_INTERVAL_ERROR) -> None:
        super().__init__(message)


class CronNotFoundError(CronError, LookupError):
    """No scheduled action with that name."""


# --- the registry of crons ---------------------------------------------------------------------
@dataclass(frozen=True)
class CronSpec:
    """A scheduled action ``crons_ensure`` creates: its name, Celery task and default interval.

    ``internal`` jobs only ring doorbells and are exempt from the 5-minute floor.
    """

    name: str
    task: str
    every: int
    period: str = IntervalSchedule.MINUTES
    description: str = ""
    internal: bool = False

    @property
    def interval(self) -> dt.timedelta:
        return dt.timedelta(**{self.period: self.every})


_crons: dict[str, CronSpec] = {}


def register_cron(spec: CronSpec) -> None:
    """Add a scheduled action; ``crons_ensure`` (run after every migrate) creates its beat row.

    Other apps (bounces: retention cleanup) call this from their ``AppConfig.ready()``.
    """
    if not spec.internal and spec.interval < MIN_INTERVAL:
        raise CronIntervalError()
    _crons[spec.name] = spec


def registered_crons() -> list[CronSpec]:
    return list(_crons.values())


register_cron(
    CronSpec(
        name=QUEUE_CRON,
        task=QUEUE_TASK,
        every=60,
        description="Odoo ir_cron_mail_scheduler_action: sends the outgoing queue in batches within a time "
        "budget and re-triggers itself while rows remain.",
    )
)
register_cron(
    CronSpec(
        name=AUTOVACUUM_CRON,
        task=AUTOVACUUM_TASK,
        every=1,
        period=IntervalSchedule.DAYS,
        description="Odoo base.autovacuum_job: deletes sent rows, old read notifications and old delivery logs.",
    )
)
register_cron(
    CronSpec(
        name=SWEEP_CRON,
        task=SWEEP_TASK,
        every=1,
        description="Internal: re-rings the doorbell for urgent rows and queue-cron triggers a lost broker "
        "message left behind. Only enqueues, so it is exempt from the 5-minute floor.",
        internal=True,
    )
)


def internal_tasks() -> set[str]:
    """Celery task names exempt from the 5-minute floor."""
    return {spec.task for spec in _crons.values() if spec.internal}


# --- the 5-minute floor ------------------------------------------------------------------------
def _crontab_min_gap(crontab: CrontabSchedule) -> dt.timedelta:
    """The shortest gap between two firings of a crontab (minutes within an hour, and across hours)."""
    schedule = crontab.schedule
    minutes = sorted(schedule.minute)
    hours = set(schedule.hour)
    gaps = [b - a for a, b in itertools.pairwise(minutes)]
    # The last firing of one hour and the first of the next hour are also neighbours.
    if any((h + 1) % 24 in hours for h in hours):
        gaps.append(60 - minutes[-1] + minutes[0])
    return dt.timedelta(minutes=min(gaps)) if gaps else dt.timedelta(hours=1)


def schedule_interval(
    *, interval: IntervalSchedule | None = None, crontab: CrontabSchedule | None = None
) -> dt.timedelta | None:
    """How often a schedule fires at most (None for solar and one-off schedules)."""
    if interval is not None:
        return dt.timedelta(**{str(interval.period): int(interval.every)})
    if crontab is not None:
        return _crontab_min_gap(crontab)
    return None


def validate_cron_schedule(
    *, task: str, interval: IntervalSchedule | None = None, crontab: CrontabSchedule | None = None
) -> None:
    """Refuse a schedule firing more often than every 5 minutes, unless the task is internal."""
    if task in internal_tasks():
        return
    every = schedule_interval(interval=interval, crontab=crontab)
    if every is not None and every < MIN_INTERVAL:
        raise CronIntervalError()


# --- beat rows ---------------------------------------------------------------------------------
def _interval_schedule(every: int, period: str) -> IntervalSchedule:
    # IntervalSchedule has no unique constraint: reuse the oldest match rather than get_or_create.
    schedule = IntervalSchedule.objects.filter(every=every, period=period).order_by("id").first()
    return schedule or IntervalSchedule.objects.create(every=every, period=period)


def crons_ensure() -> None:
    """Create the beat rows and run-state rows of every registered cron; keep what an admin edited.

    Called after every ``migrate`` (post_migrate). A missing periodic task is created with its
    default interval; an existing one keeps its schedule and enabled flag, only the Celery task
    path and description follow the code.
    """
    with transaction.atomic():
        for spec in _crons.values():
            CronState.objects.get_or_create(name=spec.name)
            task = PeriodicTask.objects.filter(name=spec.name).first()
            if task is None:
                PeriodicTask.objects.create(
                    name=spec.name,
                    task=spec.task,
                    interval=_interval_schedule(spec.every, spec.period),
                    description=spec.description,
                    enabled=True,
                )
            elif task.task != spec.task or task.description != spec.description:
                task.task = spec.task
                task.description = spec.description
                task.save(update_fields=["task", "description"])


# --- services for the UI and API ---------------------------------------------------------------
@dataclass(frozen=True)
class CronInfo:
    """What the UI shows of one scheduled action."""

    name: str
    task: str
    enabled: bool
    interval: dt.timedelta | None
    schedule: str
    next_run_at: dt.datetime | None
    last_run_at: dt.datetime | None
    last_duration: float | None
    last_result: str
    last_success: bool | None
    failure_count: int
    running: bool
    internal: bool

    @property
    def label(self) -> str:
        """The name in the reader's language (each app's catalogue has its crons' names)."""
        return gettext(self.name)


def _periodic_task(name: str) -> PeriodicTask:
    try:
        return PeriodicTask.objects.select_related("interval", "crontab").get(name=name)
    except PeriodicTask.DoesNotExist as exc:
        raise CronNotFoundError(f"No scheduled action named {name!r}.") from exc


def _next_run(task: PeriodicTask, state: CronState | None, now: dt.datetime) -> dt.datetime | None:
    if not task.enabled:
        return None
    candidates: list[dt.datetime] = []
    try:
        # Beat counts from the last time it sent the task (or from when it loaded the row).
        base = task.last_run_at or task.date_changed or now
        candidates.append(now + task.schedule.remaining_estimate(base))
    except (AttributeError, TypeError, ValueError):  # solar/clocked edge cases: no estimate
        pass
    if state is not None and state.next_trigger_at is not None:
        candidates.append(state.next_trigger_at)  # an earlier run asked for (bulk or scheduled mail)
    return max(min(candidates), now) if candidates else None


def cron_due_at(task: PeriodicTask, state: CronState | None) -> dt.datetime | None:
    """When the next run of an enabled cron is due (may be in the past: then it is late).

    Counted from its last run; a cron that never ran counts from when its beat row was created or
    changed, as django-celery-beat does (a new daily cron is first due a day after migrate, not
    at once). None for a disabled cron or a schedule with no estimate (solar, one-off).
    """
    if not task.enabled:
        return None
    base = (state.last_run_at if state is not None else None) or task.date_changed
    if base is None:
        return None
    try:
        return timezone.now() + task.schedule.remaining_estimate(base)
    except (AttributeError, TypeError, ValueError):  # solar/clocked edge cases: no estimate
        return None


def _info(task: PeriodicTask, state: CronState | None, now: dt.datetime) -> CronInfo:
    every = schedule_interval(interval=task.interval, crontab=task.crontab)
    return CronInfo(
        name=task.name,
        task=task.task,
        enabled=task.enabled,
        interval=every,
        schedule=str(task.interval or task.crontab or task.solar or task.clocked or ""),
        next_run_at=_next_run(task, state, now),
        last_run_at=state.last_run_at if state else None,
        last_duration=state.last_duration if state else None,
        last_result=state.last_result if state else "",
        last_success=state.last_success if state else None,
        failure_count=state.failure_count if state else 0,
        running=bool(state and state.running_until and state.running_until > now),
        internal=task.task in internal_tasks(),
    )


def cron_list() -> list[CronInfo]:
    """The registered scheduled actions with their schedule, next and last run, and whether one runs now."""
    now = timezone.now()
    names = list(_crons)
    tasks = {t.name: t for t in PeriodicTask.objects.select_related("interval", "crontab").filter(name__in=names)}
    states = {s.name: s for s in CronState.objects.filter(name__in=names)}
    return [_info(tasks[name], states.get(name), now) for name in names if name in tasks]


def cron_get(name: str) -> CronInfo:
    """One scheduled action, as :func:`cron_list` shows it."""
    return _info(_periodic_task(name), CronState.objects.filter(name=name).first(), timezone.now())


@transaction.atomic
def cron_set_interval(name: str, minutes: int) -> CronInfo:
    """Run the scheduled action ``name`` every ``minutes`` minutes.

    Refuses an interval under 5 minutes with Odoo's message (the internal sweep excepted, which
    still needs at least one minute).
    """
    task = _periodic_task(name)
    if minutes < 1:
        raise CronIntervalError()
    interval = _interval_schedule(int(minutes), IntervalSchedule.MINUTES)
    validate_cron_schedule(task=task.task, interval=interval)
    task.interval = interval
    task.crontab = None
    task.solar = None
    task.clocked = None
    task.save()
    return cron_get(name)


def cron_run_now(name: str) -> None:
    """Enqueue the scheduled action ``name`` now (after commit); its lease still forbids overlap."""
    task = _periodic_task(name)
    args = json.loads(task.args or "[]")
    kwargs = json.loads(task.kwargs or "{}")

    def _enqueue() -> None:
        current_app.send_task(task.task, args=args, kwargs=kwargs, headers={"periodic_task_name": task.name})

    transaction.on_commit(_enqueue)


# --- one run: lease, job, bookkeeping ----------------------------------------------------------
@dataclass(frozen=True)
class CronOutcome(Generic[T]):
    """What one attempt to run a cron did: ``ran`` is False when another run held the lease."""

    ran: bool
    result: T | None = None
    error: str = ""
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    @property
    def ok(self) -> bool:
        return self.ran and not self.error


def run_owner() -> str:
    """Who holds a lease: host, process, thread, and a random suffix so two runs never share it."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}:{uuid.uuid4().hex[:8]}"


def cron_lease_acquire(name: str, *, owner: str, seconds: float) -> bool:
    """Take the run lease of ``name`` for ``seconds`` unless a live one is held (conditional update)."""
    CronState.objects.get_or_create(name=name)
    now = timezone.now()
    return bool(
        CronState.objects.filter(name=name)
        .filter(Q(running_until__isnull=True) | Q(running_until__lte=now))
        .update(running_until=now + dt.timedelta(seconds=seconds), running_owner=owner)
    )


def cron_lease_expiry(name: str) -> dt.datetime | None:
    """When the current run lease of ``name`` expires (None when no run holds it)."""
    value: dt.datetime | None = CronState.objects.filter(name=name).values_list("running_until", flat=True).first()
    return value


def cron_lease_release(name: str, *, owner: str) -> bool:
    """Give the lease back, if it is still ours (an expired lease may have passed to another run)."""
    return bool(CronState.objects.filter(name=name, running_owner=owner).update(running_until=None, running_owner=""))


def cron_run(
    name: str,
    job: Callable[[], T],
    *,
    lease_seconds: float,
    summarize: Callable[[T], str] = str,
    owner: str = "",
) -> CronOutcome[T]:
    """Run ``job`` as the cron ``name`` unless another run holds its lease; record the run.

    Like Odoo, a failing job is logged and counted (``failure_count``, reset by a success), not
    re-raised: the next run tries again.
    """
    owner = owner or run_owner()
    if not cron_lease_acquire(name, owner=owner, seconds=lease_seconds):
        logger.info("Cron %r is already running elsewhere; this run returns at once.", name)
        return CronOutcome(ran=False)
    started_at = timezone.now()
    start = time.monotonic()
    result: T | None = None
    error = ""
    try:
        result = job()
    except Exception as exc:
        logger.exception("Cron %r failed", name)
        error = f"{type(exc).__name__}: {exc}"
    duration = time.monotonic() - start
    fields: dict[str, Any] = {
        "last_run_at": started_at,
        "last_duration": duration,
        "last_success": not error,
    }
    if error:
        fields.update(last_result=error, failure_count=F("failure_count") + 1)
    else:
        fields.update(last_result=summarize(result) if result is not None else "", failure_count=0)
    CronState.objects.filter(name=name).update(**fields)
    cron_lease_release(name, owner=owner)
    return CronOutcome(ran=True, result=result, error=error, started_at=started_at, finished_at=timezone.now())


def crons_ensure_after_migrate(*, using: str = DEFAULT_DB_ALIAS, apps: Apps | None = None, **kwargs: Any) -> None:
    """``post_migrate`` receiver: :func:`crons_ensure` once the beat and run-state tables exist."""
    if using != DEFAULT_DB_ALIAS:
        return
    if apps is not None:
        try:
            apps.get_model("django_celery_beat", "PeriodicTask")
            apps.get_model("mailqueue", "CronState")
        except LookupError:  # migrated back to before these tables existed
            return
    crons_ensure()
