"""Settings of the mail queue, with their defaults (Odoo's ICP values where they exist)."""

from __future__ import annotations

from django.conf import settings


def recipients_per_mail() -> int:
    """Odoo ``mail.batch_size``: recipients carried by one outgoing row."""
    return int(getattr(settings, "MAILQUEUE_RECIPIENTS_PER_MAIL", 50))


def session_batch_size() -> int:
    """Odoo ``mail.session.batch.size``: mails sent through one SMTP session."""
    return int(getattr(settings, "MAILQUEUE_SESSION_BATCH_SIZE", 1000))


def claim_batch_size() -> int:
    """Rows one worker claims at a time."""
    return int(getattr(settings, "MAILQUEUE_CLAIM_BATCH_SIZE", 100))


def lease_seconds() -> int:
    """How long a claimed row belongs to its worker before another may take it over."""
    return int(getattr(settings, "MAILQUEUE_LEASE_SECONDS", 300))


def max_attempts() -> int:
    """Temporary failures are retried this many times in all before the row fails."""
    return int(getattr(settings, "MAILQUEUE_MAX_ATTEMPTS", 5))


def retry_base_seconds() -> int:
    """First retry delay; each later one doubles it (exponential backoff)."""
    return int(getattr(settings, "MAILQUEUE_RETRY_BASE_SECONDS", 60))


def cron_time_budget_seconds() -> int:
    """A queue cron run stops claiming new batches after this long, and re-triggers itself."""
    return int(getattr(settings, "MAILQUEUE_CRON_TIME_BUDGET_SECONDS", 240))
