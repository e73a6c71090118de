"""The public pages of a campaign mail's links: unsubscribe (with a confirmation, so that link
scanners cannot unsubscribe anyone), RFC 8058 one-click, and the subscription preferences.

No login: the signed token in the URL is the proof. A bad token gets 404 with a plain sentence,
never a hint of which addresses or lists exist.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from marketing import selectors, services, tracking
from marketing.models import MailingList
from marketing.unsubscribe import UnsubscribeTarget, unsubscribe_read, unsubscribe_token

BAD_LINK = _("This link is not valid: it may have been cut when it was copied. Use the link of the e-mail itself.")


def _target(token: str) -> UnsubscribeTarget:
    target = unsubscribe_read(token)
    if target is None:
        raise Http404(BAD_LINK)
    return target


def _list_names(target: UnsubscribeTarget) -> list[str]:
    # Private list names are shown only to their members' own links, which these are.
    return list(MailingList.objects.filter(pk__in=target.list_ids).order_by("name").values_list("name", flat=True))


@require_http_methods(["GET", "POST"])
def unsubscribe_view(request: HttpRequest, token: str) -> HttpResponse:
    """GET: "Unsubscribe … from …?" with a button. POST (that button): do it and say so."""
    target = _target(token)
    context = {
        "email": target.email,
        "lists": _list_names(target),
        "token": token,
        "preferences_token": unsubscribe_token(email=target.email),
    }
    if request.method == "POST":
        context["done"] = services.unsubscribe(email=target.email, list_ids=target.list_ids)
    return render(request, "marketing/public/unsubscribe.html", context)


@csrf_exempt  # RFC 8058: the mail provider POSTs with no cookie and no form token; the URL is signed
@require_POST
def unsubscribe_one_click_view(request: HttpRequest, token: str) -> HttpResponse:
    """RFC 8058 one-click: ``List-Unsubscribe=One-Click`` POSTed by the mail provider → 200."""
    target = _target(token)
    services.unsubscribe(email=target.email, list_ids=target.list_ids)
    return HttpResponse(b"", content_type="text/plain")


@require_http_methods(["GET", "POST"])
def preferences_view(request: HttpRequest, token: str) -> HttpResponse:
    """Which lists an address receives, to change one by one, and a way to stop everything."""
    target = _target(token)
    saved = ""
    if request.method == "POST":
        if request.POST.get("action") == "blacklist":
            services.address_blacklist(email=target.email)
            saved = "blacklisted"
        else:
            shown = {choice.mailing_list.pk for choice in selectors.preference_lists(target.email)}
            wanted = {int(v) for v in request.POST.getlist("lists") if v.isascii() and v.isdigit()} & shown
            services.subscription_opt_out_by_email(email=target.email, list_ids=shown - wanted)
            services.subscription_opt_in_by_email(email=target.email, list_ids=wanted)
            saved = "saved"
    context = {
        "email": target.email,
        "choices": selectors.preference_lists(target.email),
        "blacklisted": selectors.address_is_blacklisted(target.email),
        "saved": saved,
    }
    return render(request, "marketing/public/preferences.html", context)


@require_http_methods(["GET", "HEAD"])
def track_open_view(request: HttpRequest, token: str) -> HttpResponse:
    """The tracking image: counts the first open of a delivered mail; always the same 1×1 GIF."""
    trace_id = tracking.read_open_token(token)
    if trace_id is not None and request.method == "GET":
        tracking.trace_set_opened(trace_id)
    response = HttpResponse(tracking.PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "HEAD"])
def track_click_view(request: HttpRequest, token: str) -> HttpResponse:
    """A tracked link: counts the click, then redirects to the URL the token signs — and nowhere else."""
    found = tracking.read_click_token(token)
    if found is None:
        raise Http404(BAD_LINK)
    trace_id, url = found
    if request.method == "GET":
        tracking.trace_set_clicked(trace_id)
    return HttpResponseRedirect(url)
