"""The daily quota of the built-in outgoing server (product.md item 4).

Odoo Online caps the mail a database sends through Odoo's own relay at 5–200 a day depending on
the subscription, the apps installed and an ongoing migration (seed page, "Daily limit
reached"). Odoo's database never sees that counter — the relay just rejects the mail. We keep
the counter ourselves, per quota day, in :class:`~mailcore.models.QuotaDay`, so the mail can wait
with a clear reason and resume after the reset instead of failing.

Limit table (when ``MAILCORE_DAILY_LIMIT`` is not set):

=================  ======  ===========================================================
``MAILCORE_PLAN``  limit   why
=================  ======  ===========================================================
``free``           20      Odoo's older FAQ: "one app free" databases
``trial``          50      Odoo's older FAQ: trial databases
``paying``         200     Odoo's older FAQ: paying subscriptions (the default)
``unlimited``      None    our own: a self-hosted relay that needs no counter
=================  ======  ===========================================================

``MAILCORE_PLAN_MARKETING`` (e-mail marketing installed) doubles the limit: such a database sends
mail to many contacts on purpose. ``MAILCORE_PLAN_MIGRATING`` (a migration is ongoing) forces the
minimum, 5, whatever the plan: the copy of a database being upgraded must not mail customers.
The derived limit is always clamped to Odoo's 5–200 range. An explicit ``MAILCORE_DAILY_LIMIT``
wins over the plan and is used as given (it is what support granted, possibly above 200).

The quota day ends at ``MAILCORE_QUOTA_RESET_HOUR_UTC`` (23:00 UTC by default, Odoo's older FAQ:
"around 11 pm UTC"). A quota day is labelled with the UTC date holding most of its 24 hours.
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

QUOTA_MIN = 5
QUOTA_MAX = 200
PLAN_LIMITS: dict[str, int | None] = {"free": 20, "trial": 50, "paying": 200, "unlimited": None}
MARKETING_FACTOR = 2


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

    An explicit ``MAILCORE_DAILY_LIMIT`` wins; otherwise the limit is derived from the plan
    settings with the table in this module's docstring, clamped to Odoo's 5–200.
    """
    explicit = conf.daily_limit_setting()
    if explicit is not None:
        if explicit < 1:
            raise QuotaConfigError(f"MAILCORE_DAILY_LIMIT must be a positive number, not {explicit}.")
        return explicit
    plan = conf.plan().strip().lower()
    if plan not in PLAN_LIMITS:
        raise QuotaConfigError(f"MAILCORE_PLAN must be one of {', '.join(sorted(PLAN_LIMITS))}, not {conf.plan()!r}.")
    limit = PLAN_LIMITS[plan]
    if conf.plan_migrating():
        return QUOTA_MIN
    if limit is None:
        return None
    if conf.plan_marketing():
        limit *= MARKETING_FACTOR
    return min(max(limit, QUOTA_MIN), QUOTA_MAX)


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
