"""Settings of the mailcore app, with their defaults. Read settings only through these getters."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings


def _get(name: str, default: object) -> object:
    return getattr(settings, name, default)


def base_url() -> str:
    return str(_get("MAILCORE_BASE_URL", "http://127.0.0.1:8000")).rstrip("/")


def smtp_host() -> str:
    return str(_get("MAILCORE_SMTP_HOST", "127.0.0.1"))


def smtp_port() -> int:
    return int(_get("MAILCORE_SMTP_PORT", 1025))  # type: ignore[call-overload]


def smtp_user() -> str:
    return str(_get("MAILCORE_SMTP_USER", ""))


def smtp_password() -> str:
    return str(_get("MAILCORE_SMTP_PASSWORD", ""))


def smtp_encryption() -> str:
    return str(_get("MAILCORE_SMTP_ENCRYPTION", "none"))


def smtp_timeout() -> int:
    return int(_get("MAILCORE_SMTP_TIMEOUT", 60))  # type: ignore[call-overload]


def smtp_from_filter() -> str:
    return str(_get("MAILCORE_SMTP_FROM_FILTER", ""))


def daily_limit_setting() -> int | None:
    value = _get("MAILCORE_DAILY_LIMIT", None)
    return int(value) if value else None  # type: ignore[call-overload]


def plan() -> str:
    return str(_get("MAILCORE_PLAN", "paying"))


def plan_migrating() -> bool:
    return bool(_get("MAILCORE_PLAN_MIGRATING", False))


def quota_reset_hour_utc() -> int:
    return int(_get("MAILCORE_QUOTA_RESET_HOUR_UTC", 23))  # type: ignore[call-overload]


def quota_auto_resume() -> bool:
    return bool(_get("MAILCORE_QUOTA_AUTO_RESUME", True))


def default_alias_domain() -> str:
    return str(_get("MAILCORE_DEFAULT_ALIAS_DOMAIN", "mailcore.localhost"))


def placeholder_admin_email() -> str:
    """The address a fresh admin gets; the product flags it until it is changed (Odoo's troubleshooting page)."""
    return str(_get("MAILCORE_PLACEHOLDER_ADMIN_EMAIL", "admin@example.com"))


def dns_nameserver() -> str:
    """The DNS server (an IP address) the diagnostics ask; empty means the system resolver."""
    return str(_get("MAILCORE_DNS_NAMESERVER", "") or "")


def dns_port() -> int:
    return int(_get("MAILCORE_DNS_PORT", 53))  # type: ignore[call-overload]


def dns_timeout() -> float:
    """Seconds one diagnostics DNS lookup may take before it is reported as "could not check"."""
    return float(_get("MAILCORE_DNS_TIMEOUT", 3.0))  # type: ignore[arg-type]


def dkim_selector() -> str:
    """The DKIM selector whose key the diagnostics look up (``<selector>._domainkey.<domain>``)."""
    return str(_get("MAILCORE_DKIM_SELECTOR", "mailcore"))


def log_file() -> str:
    """Today's log file (``var/log/mailcore.log``); empty when file logging is off."""
    return str(_get("MAILCORE_LOG_FILE", "") or "")


def sink_host() -> str:
    """Where ``run_sink`` (the local outgoing SMTP sink of ``make run``) listens."""
    return str(_get("MAILCORE_SINK_HOST", "127.0.0.1"))


def sink_port() -> int:
    return int(_get("MAILCORE_SINK_PORT", 1025))  # type: ignore[call-overload]


def sink_dir() -> Path:
    """The folder holding the sink's captured messages, one ``.eml`` file each."""
    return Path(str(_get("MAILCORE_SINK_DIR", Path(settings.BASE_DIR) / "var" / "sink")))


def login_failure_limit() -> int:
    """Failed password checks allowed per username and client address within the window."""
    return int(_get("MAILCORE_LOGIN_FAILURE_LIMIT", 5))  # type: ignore[call-overload]


def login_failure_window_seconds() -> int:
    """How long failures are remembered, and so how long a throttled pair waits."""
    return int(_get("MAILCORE_LOGIN_FAILURE_WINDOW", 900))  # type: ignore[call-overload]


def language_choices() -> list[tuple[str, str]]:
    """The languages a contact can receive mail in: the product's own (``LANGUAGES``)."""
    return [(str(code), str(name)) for code, name in settings.LANGUAGES]


def default_language() -> str:
    """The company's language (Odoo's company language): new contacts get it; ``LANGUAGE_CODE`` by default."""
    return str(_get("MAILCORE_DEFAULT_LANGUAGE", settings.LANGUAGE_CODE))
