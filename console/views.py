"""Pages of the app on top: the developer-mode switch, the diagnostics page and its support
bundle form (staff only; the bundle itself is downloaded from the e-mail queue).

Web glue at the top of the stack, like the context processor: it shows mailcore's checks
(:mod:`mailcore.diagnostics`) next to the queue's (:mod:`mailqueue.support`), which sit higher in
the dependency chain. Views parse input, call the services and format output.
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from console.context_processors import DEVELOPER_MODE_SESSION_KEY
from mailcore import conf
from mailcore.diagnostics import (
    ADMIN_EMAIL_TITLE,
    DNS_TITLE,
    LOG_FILES_TITLE,
    QUOTA_TITLE,
    Check,
    DomainReport,
    Status,
    check_admin_email,
    check_log_files,
    check_quota,
    could_not_check,
    describe_error,
    dns_check,
    domain_reports,
    run_check,
    worst,
)
from mailcore.permissions import staff_required
from mailqueue.support import queue_checks

logger = logging.getLogger(__name__)


@login_required
@require_POST
def developer_mode_view(request: HttpRequest) -> HttpResponse:
    """Turn Odoo's developer mode on or off for this session (staff only)."""
    if not request.user.is_staff:
        messages.error(request, _("Only administrators can use the developer mode."))
    else:
        enabled = request.POST.get("enable") == "1"
        request.session[DEVELOPER_MODE_SESSION_KEY] = enabled
        if enabled:
            messages.info(request, _("Developer mode on: the Technical menu is shown."))
        else:
            messages.info(request, _("Developer mode off."))
    target = request.POST.get("next", "/")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    return redirect(target)


def _domain_section() -> tuple[list[DomainReport], Check]:
    try:
        reports = domain_reports()
    except Exception as exc:  # domain_reports guards each lookup; this is the last net
        logger.exception("Domain diagnostics failed")
        return [], Check("dns", str(DNS_TITLE), Status.UNKNOWN, could_not_check(describe_error(exc)))
    return reports, dns_check(reports)


@require_GET
@staff_required
def diagnostics_index(request: HttpRequest) -> HttpResponse:
    """Every check of Odoo's troubleshooting page's common issues, worst first in the summary."""
    checks = [
        run_check("admin_email", ADMIN_EMAIL_TITLE, check_admin_email),
        run_check("quota", QUOTA_TITLE, check_quota),
        *queue_checks(),
    ]
    reports, dns = _domain_section()
    logs = run_check("log_files", LOG_FILES_TITLE, check_log_files)
    sections = [*checks, dns, logs]
    return render(
        request,
        "diagnostics/index.html",
        {
            "checks": checks,
            "dns": dns,
            "reports": reports,
            "logs": logs,
            "sections": sections,
            "overall": worst([s.status for s in sections]),
            "problems": [s for s in sections if s.status in (Status.ERROR, Status.WARNING)],
            "dkim_selector": conf.dkim_selector(),
            "now": timezone.now(),
        },
    )


@require_GET
@staff_required
def support_bundle_lookup(request: HttpRequest) -> HttpResponse:
    """The form on the page: an e-mail number typed by the operator."""
    raw = request.GET.get("mail_id", "").strip().lstrip("#")
    if not (raw.isascii() and raw.isdigit()):
        messages.error(request, _("Enter the number of an outgoing e-mail (as shown in the e-mail queue)."))
        return redirect("console:diagnostics")
    return redirect("mailqueue:support_bundle", mail_id=int(raw))
