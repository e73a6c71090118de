"""The e-mail queue screen (Odoo's Settings › Technical › Emails), the scheduled actions and
today's quota. Staff only; the Technical menu shows them in developer mode."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from mailcore.params import query_text
from mailcore.permissions import staff_required
from mailcore.quota import daily_limit, quota_status
from mailqueue import actions, crons, selectors
from mailqueue.eml import Eml, eml_for_delivery, eml_for_mail, eml_for_notification, mail_id_for_notification
from mailqueue.exceptions import EmlNotAvailable
from mailqueue.models import Mail, MailState
from mailqueue.support import SupportBundleNotFound, support_bundle, support_bundle_filename

MAILS_PER_PAGE = 50
STATE_KEYS = {key for key, _label in selectors.STATE_FILTERS}


def _back(request: HttpRequest, default: str) -> HttpResponse:
    target = request.POST.get("next", "")
    if not target or not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = default
    return redirect(target)


@staff_required
@require_GET
def mail_list_view(request: HttpRequest) -> HttpResponse:
    """The queue: filters Outgoing / Sent / Delivery Failed / Cancelled, search on from, to, subject."""
    state = request.GET.get("state", "")
    if state not in STATE_KEYS:
        state = ""
    search = query_text(request.GET, "q")
    message = query_text(request.GET, "message")
    if message and not message.isdecimal():
        return HttpResponseBadRequest(
            _("message: expected the number of a chatter message."), content_type="text/plain"
        )
    rows = selectors.mail_list(state=state, search=search, message_id=int(message) if message else None)
    page = Paginator(rows, MAILS_PER_PAGE).get_page(request.GET.get("page"))
    counts = selectors.mail_state_counts()
    filters = [(key, label, counts.get(key, 0)) for key, label in selectors.STATE_FILTERS]
    return render(
        request,
        "mailqueue/mail_list.html",
        {
            "page": page,
            "state": state,
            "search": search,
            "message": message,
            "filters": filters,
            "total": sum(counts.values()),
            "here": request.get_full_path(),
        },
    )


def _mail_ids(request: HttpRequest) -> list[int]:
    try:
        return [int(v) for v in request.POST.getlist("mail_ids")]
    except ValueError:
        return []


@staff_required
@require_POST
def mail_action_view(request: HttpRequest) -> HttpResponse:
    """Retry (failed or cancelled rows, also in bulk), Send Now and Cancel Email (outgoing rows)."""
    action = request.POST.get("action")
    ids = _mail_ids(request)
    if not ids:
        messages.warning(request, _("Select at least one e-mail first."))
        return _back(request, reverse("mailqueue:list"))
    if action == "retry":
        count = actions.mail_retry(mail_ids=ids)
        if count:
            messages.success(
                request,
                ngettext("%(count)d e-mail put back in the queue.", "%(count)d e-mails put back in the queue.", count)
                % {"count": count},
            )
        else:
            messages.warning(
                request,
                _(
                    "Nothing was put back in the queue: the e-mail is not failed or cancelled, a worker is sending "
                    "it, or it has no recipient left to send to (its failures were settled in the Delivery failure "
                    "dialog)."
                ),
            )
    elif action == "send_now":
        report = actions.mail_send_now(mail_ids=ids)
        trace = selectors.deleted_mail_trace(ids[0]) if len(ids) == 1 and report.claimed else None
        if trace is not None:
            # The row is gone: its detail page would have nothing to show.
            messages.success(request, _deleted_message(trace))
            return redirect("mailqueue:list")
        if report.sent and not (report.failed or report.retried or report.deferred_quota):
            messages.success(
                request,
                ngettext("Sent to %(count)d recipient.", "Sent to %(count)d recipients.", report.sent)
                % {"count": report.sent},
            )
        elif report.claimed == 0:
            messages.warning(request, _("Nothing was sent: the e-mail is not outgoing, or a worker is sending it."))
        else:
            # One plural-aware phrase per outcome: the number leads, as in "2 sent, 1 failed". Each
            # ngettext call is written out so makemessages finds its words.
            outcomes = [
                (report.sent, ngettext("%(count)d sent", "%(count)d sent", report.sent)),
                (report.failed, ngettext("%(count)d failed", "%(count)d failed", report.failed)),
                (report.retried, ngettext("%(count)d will be retried", "%(count)d will be retried", report.retried)),
                (
                    report.deferred_quota,
                    ngettext(
                        "%(count)d waits for the daily limit reset",
                        "%(count)d wait for the daily limit reset",
                        report.deferred_quota,
                    ),
                ),
            ]
            parts = [phrase % {"count": count} for count, phrase in outcomes if count]
            messages.warning(request, _("Recipients: %(outcomes)s.") % {"outcomes": _(", ").join(parts)})
    elif action == "cancel":
        count = actions.mail_cancel(mail_ids=ids)
        messages.success(
            request, ngettext("%(count)d e-mail cancelled.", "%(count)d e-mails cancelled.", count) % {"count": count}
        )
    else:
        return HttpResponseBadRequest(_("Unknown action."))
    return _back(request, reverse("mailqueue:list"))


def _deleted_message(trace: selectors.DeletedMailTrace) -> str:
    """ "E-mail 12 was sent to 3 recipients and then deleted …", with a link to its delivery log."""
    url = f"{reverse('mailqueue:log')}?{urlencode({'message_id': trace.message_id})}"
    failed = ngettext("%(count)d failed attempt", "%(count)d failed attempts", trace.failed) % {"count": trace.failed}
    if trace.sent:
        what = ngettext("was sent to %(count)d recipient", "was sent to %(count)d recipients", trace.sent) % {
            "count": trace.sent
        }
        if trace.failed:
            what += " " + _("(%(failed)s before)") % {"failed": failed}
    else:
        what = _("was not sent (%(failed)s)") % {"failed": failed}
    return format_html(
        _('E-mail {} {} and then deleted from the queue (auto-delete). <a href="{}">See its delivery log</a>.'),
        trace.mail_id,
        what,
        url,
    )


def _mail_or_404(mail_id: int) -> Mail:
    try:
        return selectors.mail_get(mail_id)
    except Mail.DoesNotExist as exc:
        raise Http404(_("No such e-mail: it may have been sent and deleted (see the delivery log).")) from exc


@staff_required
@require_GET
def mail_detail_view(request: HttpRequest, mail_id: int) -> HttpResponse:
    """One row: headers, body, recipients with their outcome, failure reason, attempt history."""
    try:
        mail = selectors.mail_get(mail_id)
    except Mail.DoesNotExist:
        trace = selectors.deleted_mail_trace(mail_id)
        if trace is None:
            raise Http404(_("No such e-mail.")) from None
        # Sent and auto-deleted (by Send Now, or by a worker after Retry): its trace is the log.
        messages.info(request, _deleted_message(trace))
        return redirect("mailqueue:list")
    return render(
        request,
        "mailqueue/mail_detail.html",
        {
            "mail": mail,
            "history": selectors.mail_delivery_history(mail),
            "states": [s for s in MailState if s != MailState.RECEIVED],
            "here": request.get_full_path(),
        },
    )


def _not_found(request: HttpRequest, reason: str) -> HttpResponse:
    """The not-found page saying why (deleted after its retention, never queued …)."""
    return render(request, "404.html", {"reason": reason}, status=404)


def _eml_response(eml: Eml) -> HttpResponse:
    response = HttpResponse(eml.data, content_type="message/rfc822")
    response["Content-Disposition"] = f'attachment; filename="{eml.filename}"'
    return response


def _zip_response(data: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@staff_required
@require_GET
def mail_eml_view(request: HttpRequest, mail_id: int) -> HttpResponse:
    """The row's message as its recipients got it (byte for byte, also after auto-delete)."""
    try:
        return _eml_response(eml_for_mail(mail_id))
    except EmlNotAvailable as exc:
        return _not_found(request, str(exc))


@staff_required
@require_GET
def delivery_eml_view(request: HttpRequest, log_id: int) -> HttpResponse:
    """One logged delivery's message, byte for byte (the attempt history's links)."""
    try:
        return _eml_response(eml_for_delivery(log_id))
    except EmlNotAvailable as exc:
        return _not_found(request, str(exc))


@staff_required
@require_GET
def notification_eml_view(request: HttpRequest, notification_id: int) -> HttpResponse:
    """The message of one e-mail notification (the chatter envelope links here by notification id)."""
    try:
        return _eml_response(eml_for_notification(notification_id))
    except EmlNotAvailable as exc:
        return _not_found(request, str(exc))


@staff_required
@require_GET
def support_bundle_view(request: HttpRequest, mail_id: int) -> HttpResponse:
    """The support bundle of one outgoing e-mail, as a zip download."""
    now = timezone.now()
    try:
        data = support_bundle(mail_id, now=now)
    except SupportBundleNotFound as exc:
        return _not_found(request, str(exc))
    return _zip_response(data, support_bundle_filename(mail_id, now))


@staff_required
@require_GET
def notification_support_bundle_view(request: HttpRequest, notification_id: int) -> HttpResponse:
    """The support bundle of the e-mail that carried one notification, with that recipient's .eml."""
    now = timezone.now()
    try:
        mail_id = mail_id_for_notification(notification_id)
        data = support_bundle(mail_id, notification_id=notification_id, now=now)
    except (EmlNotAvailable, SupportBundleNotFound) as exc:
        return _not_found(request, str(exc))
    return _zip_response(data, support_bundle_filename(mail_id, now))


@staff_required
@require_GET
def delivery_log_view(request: HttpRequest) -> HttpResponse:
    """The delivery log of one Message-ID: every attempt, kept after the row was auto-deleted."""
    message_id = request.GET.get("message_id", "").strip()
    if not message_id:
        return HttpResponseBadRequest(_("Give the Message-ID to show: ?message_id=<…>."))
    page = Paginator(selectors.delivery_log_list(message_id=message_id), MAILS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(request, "mailqueue/delivery_log.html", {"page": page, "message_id": message_id})


# --- scheduled actions and quota ----------------------------------------------------------------
@staff_required
@require_GET
def cron_list_view(request: HttpRequest) -> HttpResponse:
    """Scheduled actions: interval (5 minutes at least, 15 recommended), next and last run."""
    return render(
        request, "mailqueue/crons.html", {"crons": crons.cron_list(), "help_text": _(crons.INTERVAL_HELP_TEXT)}
    )


@staff_required
@require_POST
def cron_interval_view(request: HttpRequest) -> HttpResponse:
    name = request.POST.get("name", "")
    try:
        minutes = int(request.POST.get("minutes", ""))
    except ValueError:
        messages.error(request, _("Write the interval as a number of minutes."))
        return redirect("mailqueue:crons")
    try:
        crons.cron_set_interval(name, minutes)
    except crons.CronNotFoundError:
        raise Http404(_("No such scheduled action.")) from None
    except crons.CronIntervalError as exc:
        messages.error(request, _(str(exc)))
    else:
        messages.success(
            request,
            ngettext(
                "“%(name)s” now runs every %(count)d minute.", "“%(name)s” now runs every %(count)d minutes.", minutes
            )
            % {"name": _(name), "count": minutes},
        )
    return redirect("mailqueue:crons")


@staff_required
@require_POST
def cron_run_view(request: HttpRequest) -> HttpResponse:
    """Run a scheduled action by hand (the page asks for confirmation first, as Odoo warns)."""
    name = request.POST.get("name", "")
    try:
        crons.cron_run_now(name)
    except crons.CronNotFoundError:
        raise Http404(_("No such scheduled action.")) from None
    messages.success(
        request, _("“%(name)s” was asked to run now; a worker picks it up in a moment.") % {"name": _(name)}
    )
    return redirect("mailqueue:crons")


@staff_required
@require_GET
def quota_view(request: HttpRequest) -> HttpResponse:
    """Today's quota of the built-in server: used, limit, reset time, and the mail waiting for it."""
    return render(
        request,
        "mailqueue/quota.html",
        {"quota": quota_status(), "limit": daily_limit(), "held": selectors.mail_quota_held_count()},
    )
