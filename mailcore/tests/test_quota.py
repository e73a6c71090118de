"""The daily quota: the limit table, the quota day window, atomic counting."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings

from mailcore.exceptions import QuotaConfigError
from mailcore.models import QuotaDay
from mailcore.quota import (
    MIGRATION_LIMIT,
    PLAN_LIMITS,
    daily_limit,
    quota_consume,
    quota_deferral_reason,
    quota_release,
    quota_status,
    quota_window,
)


def _utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("plan", "migrating", "expected"),
    [
        # Odoo's older FAQ: 50 a day for one-app-free and trial databases, 200 with a subscription.
        ("free", False, 50),
        ("trial", False, 50),
        ("paying", False, 200),
        # The same FAQ: during a migration the limit may be reset to 50 a day, whatever the plan.
        ("free", True, 50),
        ("paying", True, 50),
        ("unlimited", True, 50),
        ("unlimited", False, None),
        (" Trial ", False, 50),
    ],
)
def test_limit_derived_from_the_plan(settings: Any, plan: str, migrating: bool, expected: int | None) -> None:
    settings.MAILCORE_DAILY_LIMIT = None
    settings.MAILCORE_PLAN = plan
    settings.MAILCORE_PLAN_MIGRATING = migrating
    assert daily_limit() == expected


def test_the_readme_states_the_same_numbers() -> None:
    text = (Path(django_settings.BASE_DIR) / "README.md").read_text()
    paragraph = text[text.index("- **Daily quota**") :].split("\n- ", 1)[0]
    for plan, limit in PLAN_LIMITS.items():
        if limit is not None:
            assert re.search(rf"`{plan}`( \([^)]*\))? {limit}\b", paragraph), (plan, limit, paragraph)
    assert re.search(rf"`MAILCORE_PLAN_MIGRATING=1` \([^)]*\) {MIGRATION_LIMIT}\b", paragraph), paragraph


def test_explicit_limit_wins_as_given(settings: Any) -> None:
    settings.MAILCORE_PLAN = "free"
    settings.MAILCORE_PLAN_MIGRATING = True
    settings.MAILCORE_DAILY_LIMIT = 1000
    assert daily_limit() == 1000


@pytest.mark.parametrize(("name", "value"), [("MAILCORE_PLAN", "gold"), ("MAILCORE_DAILY_LIMIT", -3)])
def test_bad_settings_are_configuration_errors(settings: Any, name: str, value: object) -> None:
    settings.MAILCORE_DAILY_LIMIT = None
    setattr(settings, name, value)
    with pytest.raises(QuotaConfigError):
        daily_limit()


@pytest.mark.parametrize(
    ("hour", "now", "day", "reset_at"),
    [
        (23, _utc(2026, 6, 5, 10, 0), dt.date(2026, 6, 5), _utc(2026, 6, 5, 23, 0)),
        (23, _utc(2026, 6, 5, 22, 59, 59), dt.date(2026, 6, 5), _utc(2026, 6, 5, 23, 0)),
        (23, _utc(2026, 6, 5, 23, 0), dt.date(2026, 6, 6), _utc(2026, 6, 6, 23, 0)),
        (23, _utc(2026, 12, 31, 23, 30), dt.date(2027, 1, 1), _utc(2027, 1, 1, 23, 0)),
        (0, _utc(2026, 6, 5, 10, 0), dt.date(2026, 6, 5), _utc(2026, 6, 6, 0, 0)),
        (5, _utc(2026, 6, 5, 4, 0), dt.date(2026, 6, 4), _utc(2026, 6, 5, 5, 0)),
        (5, _utc(2026, 6, 5, 6, 0), dt.date(2026, 6, 5), _utc(2026, 6, 6, 5, 0)),
    ],
)
def test_quota_window(settings: Any, hour: int, now: dt.datetime, day: dt.date, reset_at: dt.datetime) -> None:
    settings.MAILCORE_QUOTA_RESET_HOUR_UTC = hour
    assert quota_window(now) == (day, reset_at)


def test_quota_window_accepts_other_time_zones(settings: Any) -> None:
    settings.MAILCORE_QUOTA_RESET_HOUR_UTC = 23
    paris = dt.timezone(dt.timedelta(hours=2))
    assert quota_window(dt.datetime(2026, 6, 6, 0, 30, tzinfo=paris)) == (dt.date(2026, 6, 5), _utc(2026, 6, 5, 23, 0))


@pytest.mark.django_db
def test_consume_fills_the_limit_exactly_and_no_further(settings: Any) -> None:
    settings.MAILCORE_DAILY_LIMIT = 5
    now = _utc(2026, 6, 5, 12, 0)
    assert quota_consume(3, now=now) is True
    assert quota_consume(3, now=now) is False  # 6 > 5: nothing counted
    assert quota_consume(2, now=now) is True
    assert quota_consume(now=now) is False
    assert quota_consume(0, now=now) is True
    assert QuotaDay.objects.get(day=dt.date(2026, 6, 5)).count == 5
    # The next quota day starts from zero.
    assert quota_consume(5, now=_utc(2026, 6, 5, 23, 0)) is True
    assert QuotaDay.objects.get(day=dt.date(2026, 6, 6)).count == 5


@pytest.mark.django_db
def test_more_than_the_limit_at_once_is_refused(settings: Any) -> None:
    settings.MAILCORE_DAILY_LIMIT = 5
    assert quota_consume(6) is False
    assert not QuotaDay.objects.exists()


@pytest.mark.django_db
def test_unlimited_still_counts(settings: Any) -> None:
    settings.MAILCORE_DAILY_LIMIT = None
    settings.MAILCORE_PLAN = "unlimited"
    assert quota_consume(500) is True and quota_consume(500) is True
    status = quota_status()
    assert (status.used, status.limit, status.remaining, status.reached) == (1000, None, None, False)


@pytest.mark.django_db
def test_release_and_status(settings: Any) -> None:
    settings.MAILCORE_DAILY_LIMIT = 10
    now = _utc(2026, 6, 5, 12, 0)
    assert quota_consume(4, now=now)
    quota_release(1, now=now)
    quota_release(100, now=now)  # never below zero
    quota_consume(2, now=now)
    status = quota_status(now)
    assert (status.used, status.limit, status.remaining, status.reached) == (2, 10, 8, False)
    assert status.reset_at == _utc(2026, 6, 5, 23, 0)


def test_deferral_reasons() -> None:
    reset_at = _utc(2026, 6, 5, 23, 0)
    assert quota_deferral_reason(reset_at, auto_resume=True) == "Daily limit reached. Sending resumes after 23:00 UTC."
    assert quota_deferral_reason(reset_at, auto_resume=False) == "Daily limit reached. Click Retry after 23:00 UTC."


def test_system_check_reports_a_bad_plan(settings: Any) -> None:
    from mailcore.checks import check_smtp_settings

    settings.MAILCORE_DAILY_LIMIT = None
    settings.MAILCORE_PLAN = "gold"
    assert [e.id for e in check_smtp_settings()] == ["mailcore.E004"]
    settings.MAILCORE_PLAN = "trial"
    assert check_smtp_settings() == []
