"""mailcore's own diagnostics: placeholder admin address, daily quota, log files."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from mailcore.diagnostics import Check, Status, check_admin_email, check_log_files, check_quota, run_check, worst
from mailcore.models import Partner, QuotaDay
from mailcore.quota import quota_window

pytestmark = pytest.mark.django_db


def test_worst_and_run_check() -> None:
    assert worst([]) is Status.OK
    assert worst([Status.OK, Status.UNKNOWN]) is Status.UNKNOWN
    assert worst([Status.UNKNOWN, Status.WARNING, Status.OK]) is Status.WARNING
    assert worst([Status.WARNING, Status.ERROR]) is Status.ERROR

    def broken() -> Check:
        raise RuntimeError("boom")

    result = run_check("x", "Broken check", broken)
    assert (result.key, result.title, result.status) == ("x", "Broken check", Status.UNKNOWN)
    assert result.summary == "could not check: RuntimeError: boom"


# --- placeholder admin e-mail ------------------------------------------------------------------------
def test_no_account_uses_the_placeholder() -> None:
    get_user_model().objects.create_superuser("admin", "boss@company.example.org", "pw")
    result = check_admin_email()
    assert result.status is Status.OK
    assert result.summary == "No account uses the placeholder address admin@example.com."


def test_admin_with_the_placeholder_address_is_flagged() -> None:
    User = get_user_model()
    User.objects.create_superuser("admin", "Admin@Example.com", "pw")
    User.objects.create_user("someone", "someone@company.example.org", "pw")
    result = check_admin_email()
    assert result.status is Status.WARNING
    assert result.summary == "1 account still uses the placeholder address admin@example.com."
    assert [(i.label, i.text) for i in result.items] == [("admin", "administrator")]
    assert "Replace it with a real address" in result.advice


def test_placeholder_on_the_users_contact_is_flagged_too(settings: Any) -> None:
    settings.MAILCORE_PLACEHOLDER_ADMIN_EMAIL = "root@localhost"
    User = get_user_model()
    staff = User.objects.create_user("ops", "ops@company.example.org", "pw", is_staff=True)
    Partner.objects.create(name="Ops", email="Ops <root@localhost>", user=staff)
    other = User.objects.create_user("root", "root@localhost", "pw")
    result = check_admin_email()
    assert result.status is Status.WARNING
    assert result.summary == "2 accounts still use the placeholder address root@localhost."
    assert [(i.label, i.text) for i in result.items] == [("ops", "staff"), (other.username, "user")]


# --- daily quota ---------------------------------------------------------------------------------
def _use(count: int) -> None:
    day, _reset = quota_window()
    QuotaDay.objects.update_or_create(day=day, defaults={"count": count})


@pytest.mark.parametrize(
    ("used", "status", "start"),
    [
        (0, Status.OK, "0 of 10 e-mails used (0%)"),
        (7, Status.OK, "7 of 10 e-mails used (70%)"),
        (8, Status.WARNING, "8 of 10 e-mails used (80%)"),
        (10, Status.ERROR, "Daily limit reached. 10 of 10 e-mails used (100%)"),
    ],
)
def test_quota(settings: Any, used: int, status: Status, start: str) -> None:
    settings.MAILCORE_DAILY_LIMIT = 10
    settings.MAILCORE_QUOTA_RESET_HOUR_UTC = 23
    _use(used)
    result = check_quota()
    assert result.status is status
    assert result.summary.startswith(start)
    assert result.summary.endswith(":00 UTC.") and "23:00 UTC" in result.summary
    assert "independent of this limit" in result.advice


def test_unlimited_plan(settings: Any) -> None:
    settings.MAILCORE_DAILY_LIMIT = None
    settings.MAILCORE_PLAN = "unlimited"
    _use(42)
    result = check_quota()
    assert result.status is Status.OK
    assert result.summary == "No daily limit. 42 e-mails sent in the current quota day."


def test_bad_quota_setting_reads_could_not_check(settings: Any) -> None:
    settings.MAILCORE_DAILY_LIMIT = None
    settings.MAILCORE_PLAN = "platinum"
    result = run_check("quota", "Daily sending quota", check_quota)
    assert result.status is Status.UNKNOWN
    assert result.summary.startswith("could not check: QuotaConfigError: MAILCORE_PLAN must be one of")


# --- log files -----------------------------------------------------------------------------------
def test_log_files(settings: Any, tmp_path: Path) -> None:
    log = tmp_path / "log" / "mailcore.log"
    settings.MAILCORE_LOG_FILE = str(log)
    assert check_log_files().status is Status.WARNING  # nothing written yet
    log.parent.mkdir()
    log.write_text("today\n")
    (tmp_path / "log" / "mailcore.log.1").write_text("yesterday\n")
    for days in (2, 3):
        day = dt.date(2026, 1, 10) - dt.timedelta(days=days)
        with gzip.open(tmp_path / "log" / f"mailcore.log.{day.isoformat()}.gz", "wt") as handle:
            handle.write("older\n")
    result = check_log_files()
    assert result.status is Status.OK
    assert [i.label for i in result.items] == [
        "mailcore.log",
        "mailcore.log.1",
        "mailcore.log.2026-01-08.gz",
        "mailcore.log.2026-01-07.gz",
    ]
    assert "zgrep" in result.advice


def test_file_logging_off(settings: Any) -> None:
    settings.MAILCORE_LOG_FILE = ""
    result = check_log_files()
    assert result.status is Status.WARNING
    assert "turned off" in result.summary
