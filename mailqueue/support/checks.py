"""Queue diagnostics: bounce rate, queue lag, failed rows, scheduled actions.

Titles, summaries and advice are in the active language; the scheduled actions' names (their
keys in the database) and the recorded failure reasons stay as stored.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, F, Min, Q
from django.db.models.functions import Coalesce, Greatest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django_celery_beat.models import PeriodicTask

from chatter.models import FAILED_STATUSES, FailureType, Notification, NotificationKind, NotificationStatus
from mailcore.diagnostics import (
    Check,
    Item,
    Status,
    run_check,
    worst,
)
from mailqueue.beat import HEARTBEAT_STALE_AFTER, beat_heartbeat_get
from mailqueue.crons import cron_due_at, schedule_interval
from mailqueue.models import CronState, Mail, MailState

BOUNCE_WINDOW_DAYS = 30
# Mailbox providers start throttling or blocking senders whose mail bounces more than a few
# percent of the time; Odoo's troubleshooting page says support weighs the bounce rate before raising a quota.
BOUNCE_WARNING_RATE = 0.02
BOUNCE_ERROR_RATE = 0.05
# Urgent mail leaves within seconds and bulk mail at its triggered time; a due row older than
# Odoo's recommended cron interval (15 minutes) is late, older than two hours something is stuck.
LAG_WARNING = dt.timedelta(minutes=15)
LAG_ERROR = dt.timedelta(hours=2)
FAILED_ROWS_SHOWN = 20
# A cron is late once its due time is this far past: beat sends a due task within seconds, but a
# worker busy with a long queue run may start it a few minutes later.
CRON_GRACE = dt.timedelta(minutes=10)

# The titles, one owner each: the diagnostics page and the support bundle show them.
BOUNCE_RATE_TITLE = _("Bounce rate")
QUEUE_LAG_TITLE = _("Queue lag")
FAILED_MAIL_TITLE = _("Failed e-mails")
BEAT_TITLE = _("Celery beat")
CRONS_TITLE = _("Scheduled actions")


def format_utc(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


def one_line(text: str) -> str:
    """A multi-line reason ("… via SMTP server 'x'.\nSMTPDataError: 550 …") on one line."""
    return " ".join(text.split())


def _duration(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return gettext("%(seconds)d s") % {"seconds": seconds}
    if seconds < 3600:
        return gettext("%(minutes)d min") % {"minutes": seconds // 60}
    if seconds < 86400:
        return gettext("%(hours)d h %(minutes)02d min") % {"hours": seconds // 3600, "minutes": seconds % 3600 // 60}
    return gettext("%(days)d d %(hours)d h") % {"days": seconds // 86400, "hours": seconds % 86400 // 3600}


def check_bounce_rate(now: dt.datetime | None = None) -> Check:
    """Share of e-mail notifications of the last 30 days that bounced.

    Only attempted deliveries count (``ready`` ones have not been tried). A bounce stays a bounce
    after "Ignore all" cancelled it: its failure type is still ``mail_bounce``.
    """
    now = now or timezone.now()
    title = str(BOUNCE_RATE_TITLE)
    since = now - dt.timedelta(days=BOUNCE_WINDOW_DAYS)
    counts = (
        Notification.objects.filter(notification_type=NotificationKind.EMAIL, message__date__gte=since)
        .exclude(notification_status=NotificationStatus.READY)
        .aggregate(
            attempted=Count("id"),
            bounced=Count(
                "id",
                filter=Q(notification_status=NotificationStatus.BOUNCE) | Q(failure_type=FailureType.MAIL_BOUNCE),
            ),
        )
    )
    attempted, bounced = counts["attempted"], counts["bounced"]
    if not attempted:
        summary = gettext("No e-mail sent in the last %(days)d days.") % {"days": BOUNCE_WINDOW_DAYS}
        return Check("bounce_rate", title, Status.OK, summary)
    rate = bounced / attempted
    summary = gettext(
        "%(rate)s%% of e-mail notifications bounced in the last %(days)d days (%(bounced)d of %(attempted)d)."
    ) % {
        "rate": number_format(100 * rate, decimal_pos=1),
        "days": BOUNCE_WINDOW_DAYS,
        "bounced": bounced,
        "attempted": attempted,
    }
    status = Status.ERROR if rate >= BOUNCE_ERROR_RATE else Status.WARNING if rate >= BOUNCE_WARNING_RATE else Status.OK
    advice = (
        gettext(
            "Addresses that do not exist make providers distrust your server. Fix or remove the contacts "
            "whose mail bounced (their failures show a red envelope) before sending more."
        )
        if status is not Status.OK
        else ""
    )
    return Check("bounce_rate", title, status, summary, advice=advice)


def check_queue_lag(now: dt.datetime | None = None) -> Check:
    """How long the oldest outgoing row that is due has waited (since created, scheduled or retried)."""
    now = now or timezone.now()
    title = str(QUEUE_LAG_TITLE)
    due = (
        Mail.objects.filter(state=MailState.OUTGOING)
        .filter(Q(scheduled_date__isnull=True) | Q(scheduled_date__lte=now))
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .annotate(
            due_since=Greatest(
                F("created_at"),
                Coalesce(F("scheduled_date"), F("created_at")),
                Coalesce(F("next_attempt_at"), F("created_at")),
            )
        )
    )
    stats = due.aggregate(count=Count("id"), oldest=Min("due_since"))
    waiting = Mail.objects.filter(state=MailState.OUTGOING).count() - stats["count"]
    items = [
        Item(gettext("Due now"), str(stats["count"])),
        Item(gettext("Waiting (scheduled, retry or quota)"), str(waiting)),
    ]
    if not stats["count"]:
        summary = gettext("No outgoing e-mail is waiting to be sent.")
        return Check("queue_lag", title, Status.OK, summary, items=tuple(items))
    lag = max(now - stats["oldest"], dt.timedelta(0))
    status = Status.ERROR if lag >= LAG_ERROR else Status.WARNING if lag >= LAG_WARNING else Status.OK
    items.append(Item(gettext("Oldest due since"), format_utc(stats["oldest"])))
    return Check(
        "queue_lag",
        title,
        status,
        gettext("The oldest due e-mail has waited %(duration)s (%(count)d due).")
        % {"duration": _duration(lag), "count": stats["count"]},
        advice=(
            gettext(
                "Check that the Celery worker and beat run and that the Email Queue Manager is enabled "
                "(see Scheduled actions)."
            )
            if status is not Status.OK
            else ""
        ),
        items=tuple(items),
    )


def check_failed_mail() -> Check:
    """Rows in Delivery Failed, newest first, each with its support bundle link."""
    title = str(FAILED_MAIL_TITLE)
    failed = Mail.objects.filter(state=MailState.EXCEPTION)
    count = failed.count()
    red = Notification.objects.filter(
        notification_type=NotificationKind.EMAIL,
        notification_status__in=FAILED_STATUSES,
    ).count()
    if not count and not red:
        summary = gettext("No e-mail in Delivery Failed and no failed recipient.")
        return Check("failed_mail", title, Status.OK, summary)
    rows = failed.select_related("message").order_by("-updated_at", "-id")[:FAILED_ROWS_SHOWN]
    items = tuple(
        Item(
            label=f"#{mail.pk} {mail.subject or mail.message.record_name}",
            text=(
                f"{mail.failure_summary}: {one_line(mail.failure_reason)}"
                if mail.failure_reason
                else mail.failure_summary
            )[:300],
            status=Status.ERROR,
            url=reverse("mailqueue:support_bundle", args=[mail.pk]),
            url_label=gettext("Support bundle"),
        )
        for mail in rows
    )
    return Check(
        "failed_mail",
        title,
        Status.WARNING,
        gettext("%(mails)s; %(recipients)s.")
        % {
            "mails": ngettext("%(count)d e-mail in Delivery Failed", "%(count)d e-mails in Delivery Failed", count)
            % {"count": count},
            "recipients": ngettext(
                "%(count)d recipient with a red envelope", "%(count)d recipients with a red envelope", red
            )
            % {"count": red},
        },
        advice=gettext(
            "Retry them from the e-mail queue once the cause is fixed, or download a support bundle: it holds "
            "the .eml and the facts support asks for."
        ),
        items=items,
    )


def check_beat(now: dt.datetime | None = None) -> Check:
    """Whether Celery beat runs, from the heartbeat its scheduler writes while it ticks."""
    now = now or timezone.now()
    title = str(BEAT_TITLE)
    heartbeat = beat_heartbeat_get()
    advice = gettext(
        "Start it: `%(beat)s` (production, one process only), or a worker with `-B` "
        "(`make run` does this). Without beat no scheduled action runs."
    ) % {"beat": "celery -A config beat"}
    if heartbeat is None:
        summary = gettext("Celery beat has never run against this database.")
        return Check("beat", title, Status.WARNING, summary, advice=advice)
    age = max(now - heartbeat.beat_at, dt.timedelta(0))
    items = (
        Item(gettext("Last heartbeat"), format_utc(heartbeat.beat_at)),
        Item(gettext("Running since"), format_utc(heartbeat.started_at)),
        Item(gettext("Host"), f"{heartbeat.hostname} (pid {heartbeat.pid})"),
    )
    if age > HEARTBEAT_STALE_AFTER:
        return Check(
            "beat",
            title,
            Status.WARNING,
            gettext("Celery beat's last heartbeat is %(age)s old: beat is stopped or stuck.") % {"age": _duration(age)},
            advice=advice,
            items=items,
        )
    summary = gettext("Celery beat is running (last heartbeat %(age)s ago).") % {"age": _duration(age)}
    return Check("beat", title, Status.OK, summary, items=items)


def check_cron_health(now: dt.datetime | None = None) -> Check:
    """Each scheduled action judged by its due time: healthy until it is late by more than a grace.

    A cron that has not run because it is not due yet (a daily Auto-Vacuum ten minutes after a
    fresh start) is healthy; whether beat runs is :func:`check_beat`'s question.
    """
    now = now or timezone.now()
    title = str(CRONS_TITLE)
    states = {state.name: state for state in CronState.objects.all()}
    if not states:
        summary = gettext("No scheduled action has been set up (run migrate).")
        return Check("crons", title, Status.WARNING, summary)
    tasks = {
        task.name: task
        for task in PeriodicTask.objects.select_related("interval", "crontab").filter(name__in=list(states))
    }
    items: list[Item] = []
    for name in sorted(states):
        state, task = states[name], tasks.get(name)
        parts = [
            gettext("last run %(date)s") % {"date": format_utc(state.last_run_at)}
            if state.last_run_at
            else gettext("not run yet")
        ]
        if state.last_duration is not None:
            parts.append(gettext("took %(seconds)s s") % {"seconds": number_format(state.last_duration, 1)})
        if state.failure_count:
            parts.append(
                ngettext("%(count)d failure", "%(count)d failures", state.failure_count)
                % {"count": state.failure_count}
            )
        running = bool(state.running_until and state.running_until > now)
        if running:
            parts.append(gettext("running now"))
        due_at = cron_due_at(task, state) if task is not None else None
        status = Status.OK
        if task is None or not task.enabled:
            status = Status.WARNING
            parts.append(gettext("disabled") if task is not None else gettext("no beat schedule (run migrate)"))
        elif state.last_success is False:
            status = Status.ERROR
            detail = (state.last_result or gettext("no detail"))[:200]
            parts.append(gettext("last run failed: %(detail)s") % {"detail": detail})
        elif due_at is not None and not running and now - due_at > CRON_GRACE:
            status = Status.WARNING
            every = schedule_interval(interval=task.interval, crontab=task.crontab)
            late_by = {"date": format_utc(due_at), "ago": _duration(now - due_at)}
            if every:
                overdue = gettext(
                    "overdue: due %(date)s, %(ago)s ago (expected every %(every)s); is a Celery worker running?"
                ) % {**late_by, "every": _duration(every)}
            else:
                overdue = gettext("overdue: due %(date)s, %(ago)s ago; is a Celery worker running?") % late_by
            parts.append(overdue)
        elif due_at is not None:
            parts.append(gettext("next due %(date)s") % {"date": format_utc(max(due_at, now))})
        items.append(Item(name, "; ".join(parts), status=status))
    overall = worst([i.status for i in items if i.status is not None])
    late = [i.label for i in items if i.status is Status.WARNING]
    summary = {
        Status.OK: gettext("Every scheduled action is on time; none failed on its last run."),
        Status.WARNING: gettext("Disabled or overdue: %(actions)s.") % {"actions": ", ".join(late)},
        Status.ERROR: gettext("A scheduled action failed on its last run."),
    }.get(overall, "")
    return Check("crons", title, overall, summary, items=tuple(items))


def queue_checks() -> list[Check]:
    """The queue-level diagnostics, each one safe (a failing check reads "could not check")."""
    return [
        run_check("bounce_rate", BOUNCE_RATE_TITLE, check_bounce_rate),
        run_check("queue_lag", QUEUE_LAG_TITLE, check_queue_lag),
        run_check("failed_mail", FAILED_MAIL_TITLE, check_failed_mail),
        run_check("beat", BEAT_TITLE, check_beat),
        run_check("crons", CRONS_TITLE, check_cron_health),
    ]
