"""Settings of the marketing app, with their defaults (read them only through these getters)."""

from __future__ import annotations

from django.conf import settings


def import_max_rows() -> int:
    """Data lines one contact import may hold; a larger file is refused whole, with the reason."""
    return int(getattr(settings, "MARKETING_IMPORT_MAX_ROWS", 50_000))


def batch_size() -> int:
    """Recipients traced and queued per transaction (Odoo's ``mail.batch_size`` is 50)."""
    return int(getattr(settings, "MARKETING_BATCH_SIZE", 500))


def cron_time_budget_seconds() -> float:
    """How long one run of the marketing cron works before it re-triggers itself."""
    return float(getattr(settings, "MARKETING_CRON_TIME_BUDGET", 240))


def pause_hard_bounce_rate() -> float:
    """A campaign whose hard bounces pass this share of its sent mail pauses itself (0.05 = 5%)."""
    return float(getattr(settings, "MARKETING_PAUSE_HARD_BOUNCE_RATE", 0.05))


def pause_min_sent() -> int:
    """...but only once this many of its mails were sent, so a few early bounces do not stop it."""
    return int(getattr(settings, "MARKETING_PAUSE_MIN_SENT", 100))


def attachments_max_bytes() -> int:
    """The attachments of one campaign together: each recipient's mail carries them all."""
    return int(getattr(settings, "MARKETING_ATTACHMENTS_MAX_BYTES", 10 * 1024 * 1024))
