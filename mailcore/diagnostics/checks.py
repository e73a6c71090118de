"""Checks of mailcore's own settings: the placeholder admin address, the daily quota, the log files."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils.formats import number_format
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from mailcore import conf
from mailcore.addresses import email_normalize
from mailcore.contacts import contacts_by_email
from mailcore.diagnostics.base import Check, Item, Status
from mailcore.quota import quota_status

# The titles, one owner each: the diagnostics page and the support bundle import them.
ADMIN_EMAIL_TITLE = _("Administrator e-mail address")
QUOTA_TITLE = _("Daily sending quota")
LOG_FILES_TITLE = _("Log files")


# --- placeholder admin e-mail -------------------------------------------------------------------
def check_admin_email() -> Check:
    """Accounts still using the placeholder address a fresh database gives its admin (Odoo's troubleshooting page)."""
    placeholder = email_normalize(conf.placeholder_admin_email())
    title = str(ADMIN_EMAIL_TITLE)
    if placeholder is None:
        return Check("admin_email", title, Status.OK, gettext("No placeholder address is configured."))
    User = get_user_model()
    # The address is stored on the user and on its contact; either one still being the
    # placeholder is enough for mail to leave with it.
    partner_users = contacts_by_email(email=placeholder).filter(user__isnull=False).values("user_id")
    users = list(
        User.objects.filter(Q(email__iexact=placeholder) | Q(pk__in=partner_users)).order_by("pk")  # type: ignore[misc]
    )
    if not users:
        return Check(
            "admin_email",
            title,
            Status.OK,
            gettext("No account uses the placeholder address %(address)s.") % {"address": placeholder},
        )
    return Check(
        "admin_email",
        title,
        Status.WARNING,
        ngettext(
            "%(count)d account still uses the placeholder address %(address)s.",
            "%(count)d accounts still use the placeholder address %(address)s.",
            len(users),
        )
        % {"count": len(users), "address": placeholder},
        advice=gettext(
            "Replace it with a real address in the account's preferences: any address you read, or admin at "
            "your own domain (e.g. admin@your-company.com). Mail sent as the placeholder address is often refused."
        ),
        items=tuple(
            Item(
                label=user.get_username(),
                text=gettext("administrator")
                if user.is_superuser
                else (gettext("staff") if user.is_staff else gettext("user")),
                status=Status.WARNING,
            )
            for user in users
        ),
    )


# --- daily quota --------------------------------------------------------------------------------
QUOTA_WARNING_RATIO = 0.8


def check_quota() -> Check:
    """Mail counted today against the built-in server's daily limit."""
    title = str(QUOTA_TITLE)
    status = quota_status()
    reset = status.reset_at.strftime("%Y-%m-%d %H:%M UTC")
    note = gettext(
        "Only mail leaving through the built-in server counts; an outgoing mail server of your own is "
        "independent of this limit, and notifications handled in the app never count."
    )
    if status.limit is None:
        return Check(
            "quota",
            title,
            Status.OK,
            ngettext(
                "No daily limit. %(count)d e-mail sent in the current quota day.",
                "No daily limit. %(count)d e-mails sent in the current quota day.",
                status.used,
            )
            % {"count": status.used},
            items=(Item(gettext("Quota day resets"), reset),),
        )
    percent = 100 * status.used / status.limit if status.limit else 100
    summary = gettext("%(used)d of %(limit)d e-mails used (%(percent)d%%); the quota resets at %(reset)s.") % {
        "used": status.used,
        "limit": status.limit,
        "percent": round(percent),
        "reset": reset,
    }
    if status.reached:
        return Check(
            "quota",
            title,
            Status.ERROR,
            gettext("Daily limit reached. %(summary)s") % {"summary": summary},
            advice=gettext(
                "Mail waits for the reset and resumes by itself (or click Retry after it). To send more, "
                "ask for a higher quota, use your own outgoing mail server, or let users handle "
                "notifications in the app. %(note)s"
            )
            % {"note": note},
            items=(Item(gettext("Remaining"), "0"), Item(gettext("Resets"), reset)),
        )
    level = Status.WARNING if status.used >= QUOTA_WARNING_RATIO * status.limit else Status.OK
    return Check(
        "quota",
        title,
        level,
        summary,
        advice=note,
        items=(Item(gettext("Remaining"), str(status.remaining)), Item(gettext("Resets"), reset)),
    )


# --- log files ----------------------------------------------------------------------------------
def check_log_files() -> Check:
    """The daily log files support asks for (``mailcore.log``, ``.1``, dated ``.gz`` for zgrep)."""
    title = str(LOG_FILES_TITLE)
    configured = conf.log_file()
    if not configured:
        return Check(
            "log_files", title, Status.WARNING, gettext("Logging to a file is turned off (MAILCORE_LOG_FILE).")
        )
    path = Path(configured)
    files = log_files(path)
    if not files:
        return Check("log_files", title, Status.WARNING, gettext("No log file yet at %(path)s.") % {"path": path})
    return Check(
        "log_files",
        title,
        Status.OK,
        ngettext(
            "%(count)d log file in %(folder)s; they rotate daily at 05:00 UTC.",
            "%(count)d log files in %(folder)s; they rotate daily at 05:00 UTC.",
            len(files),
        )
        % {"count": len(files), "folder": path.parent},
        advice=gettext("Search them with grep, and the older compressed ones with zgrep."),
        items=tuple(Item(f.name, file_size(f.stat().st_size)) for f in files),
    )


def file_size(size: int) -> str:
    """A size in bytes, grouped by the active language's thousands separator."""
    return ngettext("%(size)s byte", "%(size)s bytes", size) % {"size": number_format(size, force_grouping=True)}


def log_files(path: Path) -> list[Path]:
    """Today's log file, then yesterday's (``.1``), then the dated compressed ones, newest first."""
    if not path.parent.is_dir():
        return []
    current = [p for p in (path, path.with_name(path.name + ".1")) if p.is_file()]
    dated = sorted(path.parent.glob(path.name + ".*.gz"), reverse=True)
    return current + dated
