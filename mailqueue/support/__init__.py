"""Queue diagnostics and the one-click support bundle.

Odoo's troubleshooting page lists what a support request needs: "an export of the full email … in .eml", "what
record in the database is affected … and the date/time when the email was sent", the logs, and
whether the bounce reaches the database. :func:`support_bundle` gathers exactly that for one
outgoing row into a zip an operator can attach to a ticket; the checks here (bounce rate, queue
lag, failed rows, scheduled actions) complete mailcore's own diagnostics on the diagnostics page.

Nothing here writes. Secrets (SMTP passwords, the secret key) never enter a bundle.
"""

from mailqueue.support.bundle import SupportBundleNotFound, support_bundle, support_bundle_filename
from mailqueue.support.checks import (
    check_beat,
    check_bounce_rate,
    check_cron_health,
    check_failed_mail,
    check_queue_lag,
    queue_checks,
)

__all__ = [
    "SupportBundleNotFound",
    "check_beat",
    "check_bounce_rate",
    "check_cron_health",
    "check_failed_mail",
    "check_queue_lag",
    "queue_checks",
    "support_bundle",
    "support_bundle_filename",
]
