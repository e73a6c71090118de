"""Diagnostics for the common e-mail issues of Odoo's troubleshooting page, mailcore's part.

Odoo's troubleshooting page ("Common emailing issues") names what goes wrong most: the admin account keeps the
placeholder address a fresh database gives it, the daily limit is reached, and mail from a custom
domain fails "with no error message" because SPF or DKIM is wrong. This package checks those
facts; the queue-level ones (bounce rate, queue lag, failed rows, crons) and the support bundle
live in :mod:`mailqueue.support`, higher in the dependency chain (mailcore ← chatter ← mailqueue).

Every check returns a :class:`Check`; :func:`run_check` turns an exception into a
"could not check: …" result, so a DNS timeout never breaks the page support is asked to look at.
Titles, summaries and advice are in the active language (each title has one owner, a lazy
``*_TITLE`` constant); DNS records, host names and protocol words stay as they are.
"""

from mailcore.diagnostics.base import Check, Item, Status, could_not_check, describe_error, run_check, worst
from mailcore.diagnostics.checks import (
    ADMIN_EMAIL_TITLE,
    LOG_FILES_TITLE,
    QUOTA_TITLE,
    check_admin_email,
    check_log_files,
    check_quota,
    log_files,
)
from mailcore.diagnostics.domains import (
    DNS_TITLE,
    DomainReport,
    check_dkim,
    check_dmarc,
    dns_check,
    domain_reports,
)
from mailcore.diagnostics.lookup import DnsVerdict, make_resolver
from mailcore.diagnostics.spf import check_spf

__all__ = [
    "ADMIN_EMAIL_TITLE",
    "DNS_TITLE",
    "LOG_FILES_TITLE",
    "QUOTA_TITLE",
    "Check",
    "DnsVerdict",
    "DomainReport",
    "Item",
    "Status",
    "check_admin_email",
    "check_dkim",
    "check_dmarc",
    "check_log_files",
    "check_quota",
    "check_spf",
    "could_not_check",
    "describe_error",
    "dns_check",
    "domain_reports",
    "log_files",
    "make_resolver",
    "run_check",
    "worst",
]
