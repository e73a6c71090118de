"""The daily quota of the built-in outgoing server.

Odoo Online caps the mail a database sends through Odoo's own relay; Odoo's database never sees
that counter — the relay just rejects the mail. We keep the counter ourselves, per quota day, in
:class:`~mailcore.models.QuotaDay`, so the mail can wait with a clear reason and resume after the
reset instead of failing.

The limit is ``MAILCORE_DAILY_LIMIT`` when set (what Odoo support granted, used as given), else
:data:`PLAN_LIMITS` for ``MAILCORE_PLAN``, or :data:`MIGRATION_LIMIT` while
``MAILCORE_PLAN_MIGRATING`` says a migration is ongoing. Each number there carries its source.
Odoo's current "Common email issues" page gives only a range, 5 to 200 a day, and names the
factors (the subscription, the apps installed such as Email Marketing and Marketing Automation,
an ongoing migration) without a number for any of them; where no published number exists we
have no setting, and ``MAILCORE_DAILY_LIMIT`` covers the case.

The quota day ends at ``MAILCORE_QUOTA_RESET_HOUR_UTC`` (23:00 UTC by default: the older FAQ
says to wait for the reset at 11 pm UTC). A quota day is labelled with the UTC date holding most
of its 24 hours.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from mailcore import conf
from mailcore.exceptions import QuotaConfigError
from mailcore.models import QuotaDay

# The one table of quota numbers (the README quotes it; a test keeps the two equal). The numbers
# are the default limits of new databases in Odoo's older "Common email issues" FAQ: 200 mails a
# day with an active subscription (Odoo Online and Odoo.sh), 50 for one-app-free and trial
# databases.
PLAN_LIMITS: dict[str, int | None] = {
    "free": 50,  # a "one app free" database
    "trial": 50,  # a trial database
    "paying": 200,  # an active subscription (the default plan)
    "unlimited": None,  # our own: a relay of your own that needs no counter (mail is still counted)
}
# The same FAQ: during a migration the daily limit may be reset to 50 mails a day.
MIGRATION_LIMIT = 50


@dataclass(frozen=True)
class QuotaStatus:
    """Mail counted in the current quota day, the limit (None = unlimited) and when it resets."""

    used: int
    limit: int | None
    reset_at: dt.datetime

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(self.limit - self.used, 0)

    @property
    def reached(self) -> bool:
        return self.limit is not None and self.used >= self.limit


def daily_limit() -> int | None:
    """Mail the built-in server may send per quota day; None means no limit.

    An explicit ``MAILCORE_DAILY_LIMIT`` wins; otherwise :data:`MIGRATION_LIMIT` during a
    migration, else the plan's entry in :data:`PLAN_LIMITS`.
    """
    explicit = conf.daily_limit_setting()
    if explicit is not None:
        if explicit < 1:
            raise QuotaConfigError(f"MAILCORE_DAILY_LIMIT must be a positive number, not {explicit}.")
        return explicit
    plan = conf.plan().strip().lower()
    if plan not in PLAN_LIMITS:
        raise QuotaConfigError(f"MAILCORE_PLAN must be one of {', '.join(sorted(PLAN_LIMITS))}, not {conf.plan()!r}.")
    if conf.plan_migrating():
        return MIGRATION_LIMIT
    return PLAN_LIMITS[plan]


def quota_window(now: dt.datetime | None = None) -> tuple[dt.date, dt.datetime]:
    """(quota day, reset time) for ``now``: the window ends at the next reset hour, in UTC.

    The day is the UTC date holding most of the window (the date 12 hours before the reset), so
    with the default 23:00 reset the window 4 June 23:00 → 5 June 23:00 is "5 June".
    """
    now = (now or timezone.now()).astimezone(dt.UTC)
    reset_at = now.replace(hour=conf.quota_reset_hour_utc(), minute=0, second=0, microsecond=0)
    if reset_at <= now:
        reset_at += dt.timedelta(days=1)
    return (reset_at - dt.timedelta(hours=12)).date(), reset_at


def quota_status(now: dt.datetime | None = None) -> QuotaStatus:
    """Mail counted so far in the current quota day, the limit and the reset time."""
    day, reset_at = quota_window(now)
    used = QuotaDay.objects.filter(day=day).values_list("count", flat=True).first() or 0
    return QuotaStatus(used=used, limit=daily_limit(), reset_at=reset_at)


def quota_consume(n: int = 1, *, now: dt.datetime | None = None) -> bool:
    """Count ``n`` mails against today's quota if they fit; False (and nothing counted) if not.

    One conditional ``UPDATE … SET count = count + n WHERE count + n <= limit``: the database
    serialises concurrent updates of the row and re-checks the condition, so any number of
    workers together never exceed the limit. The day's row is created race-safely
    (``INSERT … ON CONFLICT DO NOTHING``) the first time. Without a limit the mail is still
    counted, for the diagnostics page.
    """
    if n <= 0:
        return True
    limit = daily_limit()
    if limit is not None and n > limit:
        return False
    day, _reset_at = quota_window(now)
    rows = QuotaDay.objects.filter(day=day)
    fitting = rows if limit is None else rows.filter(count__lte=limit - n)
    if fitting.update(count=F("count") + n):
        return True
    if rows.exists():
        return False  # today's row is there: it is full
    QuotaDay.objects.bulk_create([QuotaDay(day=day, count=0)], ignore_conflicts=True)
    return bool(fitting.update(count=F("count") + n))


def quota_release(n: int, *, now: dt.datetime | None = None) -> None:
    """Give back ``n`` units counted by :func:`quota_consume` for mail that did not leave after all.

    Pass the ``now`` used when consuming so the units go back to the same quota day.
    """
    if n <= 0:
        return
    day, _reset_at = quota_window(now)
    QuotaDay.objects.filter(day=day).update(count=Greatest(F("count") - n, 0))


def quota_deferral_reason(reset_at: dt.datetime, *, auto_resume: bool) -> str:
    """The text shown on mail held back by the quota (failure type ``mail_quota``)."""
    at = reset_at.astimezone(dt.UTC).strftime("%H:%M")
    if auto_resume:
        return f"Daily limit reached. Sending resumes after {at} UTC."
    return f"Daily limit reached. Click Retry after {at} UTC."
