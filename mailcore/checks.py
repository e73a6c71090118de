"""System checks for the mail configuration, with stable ids."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, register

from mailcore import conf
from mailcore.exceptions import QuotaConfigError
from mailcore.quota import daily_limit


@register()
def check_smtp_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    if conf.smtp_encryption() not in {"none", "starttls", "ssl"}:
        errors.append(
            Error(
                f"MAILCORE_SMTP_ENCRYPTION must be none, starttls or ssl, not {conf.smtp_encryption()!r}.",
                id="mailcore.E001",
            )
        )
    if not (1 <= conf.smtp_port() <= 65535):
        errors.append(Error("MAILCORE_SMTP_PORT must be between 1 and 65535.", id="mailcore.E002"))
    if not (0 <= conf.quota_reset_hour_utc() <= 23):
        errors.append(Error("MAILCORE_QUOTA_RESET_HOUR_UTC must be between 0 and 23.", id="mailcore.E003"))
    try:
        daily_limit()
    except QuotaConfigError as exc:
        errors.append(Error(str(exc), id="mailcore.E004"))
    return errors
