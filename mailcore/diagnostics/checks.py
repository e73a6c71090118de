"""Checks of mailcore's own settings: the placeholder admin address, the daily quota, the log files."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.db.models import Q

from mailcore import conf
from mailcore.addresses import email_normalize
from mailcore.contacts import contacts_by_email
from mailcore.diagnostics.base import Check, Item, Status
from mailcore.quota import quota_status


# --- placeholder admin e-mail -------------------------------------------------------------------
def check_admin_email() -> Check:
    """Accounts still using the placeholder address a fresh database gives its admin (Odoo's troubleshooting page)."""
    placeholder = email_normalize(conf.placeholder_admin_email())
    title = "Administrator e-mail address"
    if placeholder is None:
        return Check("admin_email", title, Status.OK, "No placeholder address is configured.")
    User = get_user_model()
    # The address is stored on the user and on its contact; either one still being the
    # placeholder is enough for mail to leave with it.
    partner_users = contacts_by_email(email=placeholder).filter(user__isnull=False).values("user_id")
    users = list(
        User.objects.filter(Q(email__iexact=placeholder) | Q(pk__in=partner_users)).order_by("pk")  # type: ignore[misc]
    )
    if not users:
        return Check("admin_email", title, Status.OK, f"No account uses the placeholder address {placeholder}.")
    return Check(
        "admin_email",
        title,
        Status.WARNING,
        f"{len(users)} account{'s' if len(users) != 1 else ''} still use{'s' if len(users) == 1 else ''} "
        f"the placeholder address {placeholder}.",
        advice=(
            "Replace it with a real address in the account's preferences: any address you read, or admin at "
            "your own domain (e.g. admin@your-company.com). Mail sent as the placeholder address is often refused."
        ),
        items=tuple(
            Item(
                label=user.get_username(),
                text="administrator" if user.is_superuser else ("staff" if user.is_staff else "user"),
                status=Status.WARNING,
            )
            for user in users
        ),
    )


# --- daily quota --------------------------------------------------------------------------------
QUOTA_WARNING_RATIO = 0.8


def check_quota() -> Check:
    """Mail counted today against the built-in server's daily limit."""
    title = "Daily sending quota"
    status = quota_status()
    reset = status.reset_at.strftime("%Y-%m-%d %H:%M UTC")
    note = (
        "Only mail leaving through the built-in server counts; an outgoing mail server of your own is "
        "independent of this limit, and notifications handled in the app never count."
    )
    if status.limit is None:
        return Check(
            "quota",
            title,
            Status.OK,
            f"No daily limit. {status.used} e-mails sent in the current quota day.",
            items=(Item("Quota day resets", reset),),
        )
    percent = 100 * status.used / status.limit if status.limit else 100
    summary = f"{status.used} of {status.limit} e-mails used ({percent:.0f}%); the quota resets at {reset}."
    if status.reached:
        return Check(
            "quota",
            title,
            Status.ERROR,
            "Daily limit reached. " + summary,
            advice=(
                "Mail waits for the reset and resumes by itself (or click Retry after it). To send more, "
                "ask for a higher quota, use your own outgoing mail server, or let users handle "
                "notifications in the app. " + note
            ),
            items=(Item("Remaining", "0"), Item("Resets", reset)),
        )
    level = Status.WARNING if status.used >= QUOTA_WARNING_RATIO * status.limit else Status.OK
    return Check(
        "quota",
        title,
        level,
        summary,
        advice=note,
        items=(Item("Remaining", str(status.remaining)), Item("Resets", reset)),
    )


# --- log files ----------------------------------------------------------------------------------
def check_log_files() -> Check:
    """The daily log files support asks for (``mailcore.log``, ``.1``, dated ``.gz`` for zgrep)."""
    title = "Log files"
    configured = conf.log_file()
    if not configured:
        return Check("log_files", title, Status.WARNING, "Logging to a file is turned off (MAILCORE_LOG_FILE).")
    path = Path(configured)
    files = log_files(path)
    if not files:
        return Check("log_files", title, Status.WARNING, f"No log file yet at {path}.")
    return Check(
        "log_files",
        title,
        Status.OK,
        f"{len(files)} log file{'s' if len(files) != 1 else ''} in {path.parent}; they rotate daily at 05:00 UTC.",
        advice="Search them with grep, and the older compressed ones with zgrep.",
        items=tuple(Item(f.name, f"{f.stat().st_size:,} bytes") for f in files),
    )


def log_files(path: Path) -> list[Path]:
    """Today's log file, then yesterday's (``.1``), then the dated compressed ones, newest first."""
    if not path.parent.is_dir():
        return []
    current = [p for p in (path, path.with_name(path.name + ".1")) if p.is_file()]
    dated = sorted(path.parent.glob(path.name + ".*.gz"), reverse=True)
    return current + dated
