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


def sender_tasks() -> int:
    """A queue-cron run sends with up to this many tasks at once (itself included), one per free process."""
    return int(getattr(settings, "MAILQUEUE_SENDER_TASKS", 4))


def lease_seconds() -> int:
    """How long a claimed row belongs to its worker before another may take it over.

    The worker renews its leases every third of this while it sends (between messages), so a
    slow row is never taken over, and a killed worker's unsent recipients go out within a minute.
    """
    return int(getattr(settings, "MAILQUEUE_LEASE_SECONDS", 60))


def retry_window_seconds() -> int:
    """Temporary failures are retried for this long, counted from the first one, before the row fails.

    A real MTA keeps trying for days (Postfix: 5 days); a day lets an outage of several hours
    lose nothing and need nobody, while a sender still learns the same day that mail is stuck.
    """
    return int(getattr(settings, "MAILQUEUE_RETRY_WINDOW_SECONDS", 86400))


def retry_base_seconds() -> int:
    """First retry delay; each later one doubles it, up to :func:`retry_max_delay_seconds`."""
    return int(getattr(settings, "MAILQUEUE_RETRY_BASE_SECONDS", 60))


def retry_max_delay_seconds() -> int:
    """The longest wait between two attempts (the backoff's cap), so a server back up is used soon."""
    return int(getattr(settings, "MAILQUEUE_RETRY_MAX_DELAY_SECONDS", 1800))


def cron_time_budget_seconds() -> int:
    """A queue cron run stops claiming new batches after this long, and re-triggers itself."""
    return int(getattr(settings, "MAILQUEUE_CRON_TIME_BUDGET_SECONDS", 240))


def trigger_eta_horizon_seconds() -> int:
    """Queue-cron triggers closer than this are enqueued with a countdown; later ones wait for the sweep.

    Far-future ETA messages sit unacknowledged in a worker (Redis redelivers them after its
    visibility timeout), so a trigger for next week is kept on the row and rung by the sweep.
    """
    return int(getattr(settings, "MAILQUEUE_TRIGGER_ETA_HORIZON_SECONDS", 600))


def sweep_grace_seconds() -> int:
    """An urgent row is re-rung by the sweep only once it has waited this long (its own doorbell may be in flight)."""
    return int(getattr(settings, "MAILQUEUE_SWEEP_GRACE_SECONDS", 60))


def notification_retention_days() -> int:
    """Odoo ``_gc_notifications(max_age_days=180)``: read notifications older than this are deleted."""
    return int(getattr(settings, "MAILQUEUE_NOTIFICATION_RETENTION_DAYS", 180))


def delivery_log_retention_days() -> int:
    """Delivery log rows (the history that outlives auto-delete) are kept this long."""
    return int(getattr(settings, "MAILQUEUE_DELIVERY_LOG_RETENTION_DAYS", 180))


def mail_retention_days() -> int:
    """Sent rows kept on purpose (auto-delete off) and cancelled rows are deleted after this long.

    Odoo's mass mailing deletes cancelled mails after 6 months (``_gc_canceled_mail_mail``).
    """
    return int(getattr(settings, "MAILQUEUE_MAIL_RETENTION_DAYS", 180))


def asynchronous_commit() -> bool:
    """The sender commits its "sent" marks with PostgreSQL's ``synchronous_commit = off``.

    A worker crash loses nothing; only a database-server crash can lose the last ~0.6 s of marks
    (those recipients could be sent again). False waits for the disk on every mark (slower).
    """
    return bool(getattr(settings, "MAILQUEUE_ASYNCHRONOUS_COMMIT", True))


def sent_eml_retention_days() -> int:
    """The exact bytes of sent messages (Download .eml, the support bundle) are kept this long."""
    return int(getattr(settings, "MAILQUEUE_SENT_EML_RETENTION_DAYS", 30))
