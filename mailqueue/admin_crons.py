"""django-celery-beat's admin, with Odoo's 5-minute floor for cron intervals.

django-celery-beat registers its own ``PeriodicTask`` and ``IntervalSchedule`` admins; we replace
them with subclasses whose forms refuse a schedule firing more often than every 5 minutes ("The
lowest running interval for a cron is 5 minutes; 15 minutes is recommended.", Odoo's FAQ) and
say so in the help text. Internal jobs that only ring doorbells (the queue sweep) are exempt.
:func:`install` is called from ``MailqueueConfig.ready()``, after the admin's autodiscovery.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.utils.translation import gettext, gettext_lazy
from django_celery_beat.admin import IntervalScheduleAdmin, PeriodicTaskAdmin, PeriodicTaskForm
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from mailqueue.crons import (
    INTERVAL_HELP_TEXT,
    MIN_INTERVAL,
    MIN_INTERVAL_ERROR,
    CronIntervalError,
    internal_tasks,
    schedule_interval,
    validate_cron_schedule,
)


class CronPeriodicTaskForm(PeriodicTaskForm):
    """The periodic task form, refusing intervals under 5 minutes for every non-internal task."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("interval", "crontab"):
            if name in self.fields:
                self.fields[name].help_text = gettext(INTERVAL_HELP_TEXT)

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean()
        task = data.get("task") or ""
        interval = data.get("interval")
        crontab = data.get("crontab")
        try:
            validate_cron_schedule(task=task, interval=interval, crontab=crontab)
        except CronIntervalError as exc:
            self.add_error("interval" if interval is not None else "crontab", gettext(str(exc)))
        return data


class CronIntervalScheduleForm(forms.ModelForm):
    """An interval used by a cron cannot go under 5 minutes (internal jobs excepted)."""

    class Meta:
        model = IntervalSchedule
        fields = ("every", "period")
        help_texts = {"every": gettext_lazy(INTERVAL_HELP_TEXT)}

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        every, period = data.get("every"), data.get("period")
        if every is None or not period or self.instance.pk is None:
            return data
        interval = schedule_interval(interval=IntervalSchedule(every=every, period=period))
        if interval is not None and interval < MIN_INTERVAL:
            users = PeriodicTask.objects.filter(interval=self.instance).exclude(task__in=internal_tasks())
            if users.exists():
                names = ", ".join(sorted(users.values_list("name", flat=True)))
                raise forms.ValidationError(
                    gettext("%(error)s (used by: %(names)s)") % {"error": gettext(MIN_INTERVAL_ERROR), "names": names}
                )
        return data


class CronPeriodicTaskAdmin(PeriodicTaskAdmin):
    form = CronPeriodicTaskForm


class CronIntervalScheduleAdmin(IntervalScheduleAdmin):
    form = CronIntervalScheduleForm


def install(site: admin.AdminSite = admin.site) -> None:
    """Swap django-celery-beat's admins for ours (idempotent)."""
    for model, model_admin in ((PeriodicTask, CronPeriodicTaskAdmin), (IntervalSchedule, CronIntervalScheduleAdmin)):
        if site.is_registered(model):
            site.unregister(model)
        site.register(model, model_admin)
