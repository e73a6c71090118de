"""The diagnostics page and the support bundle download (staff only; product.md item 11).

Web glue at the top of the stack, like the context processor: it shows mailcore's checks
(:mod:`mailcore.diagnostics`) next to the queue's (:mod:`mailqueue.support`), which sit higher in
the dependency chain. Views parse input, call the services and format output.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from mailcore import conf
from mailcore.diagnostics import (
    Check,
    DomainReport,
    Status,
    check_admin_email,
    check_log_files,
    check_quota,
    describe_error,
    dns_check,
    domain_reports,
    run_check,
    worst,
)
from mailqueue.support import SupportBundleNotFound, queue_checks, support_bundle, support_bundle_filename

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponse]


def staff_required(view: View) -> View:
    """Anonymous visitors go to the login page; logged-in non-staff users get 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            raise PermissionDenied("The diagnostics are for staff only.")
        return view(request, *args, **kwargs)

    return wrapper


def _domain_section() -> tuple[list[DomainReport], Check]:
    try:
        reports = domain_reports()
    except Exception as exc:  # domain_reports guards each lookup; this is the last net
        logger.exception("Domain diagnostics failed")
        title = "SPF, DKIM and DMARC of the alias domains"
        return [], Check("dns", title, Status.UNKNOWN, f"could not check: {describe_error(exc)}")
    return reports, dns_check(reports)


@require_GET
@staff_required
def diagnostics_index(request: HttpRequest) -> HttpResponse:
    """Every check of the seed page's common issues, worst first in the summary."""
    checks = [
        run_check("admin_email", "Administrator e-mail address", check_admin_email),
        run_check("quota", "Daily sending quota", check_quota),
        *queue_checks(),
    ]
    reports, dns = _domain_section()
    logs = run_check("log_files", "Log files", check_log_files)
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
def support_bundle_download(request: HttpRequest, mail_id: int) -> HttpResponse:
    """The support bundle of one outgoing e-mail, as a zip download."""
    now = timezone.now()
    try:
        data = support_bundle(mail_id, now=now)
    except SupportBundleNotFound as exc:
        raise Http404(str(exc)) from exc
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{support_bundle_filename(mail_id, now)}"'
    return response


@require_GET
@staff_required
def support_bundle_lookup(request: HttpRequest) -> HttpResponse:
    """The form on the page: an e-mail number typed by the operator."""
    raw = request.GET.get("mail_id", "").strip().lstrip("#")
    if not raw.isdigit():
        messages.error(request, "Enter the number of an outgoing e-mail (as shown in the e-mail queue).")
        return redirect("diagnostics:index")
    return redirect("diagnostics:support_bundle", mail_id=int(raw))
