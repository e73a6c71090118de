"""Per-user pages: the inbox, "My delivery failures" and the notification preferences."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast
from zoneinfo import available_timezones

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chatter import selectors, services
from chatter.exceptions import InvalidLanguageError, InvalidTimeZoneError
from chatter.models import Notification
from chatter.templatetags.chatter_ui import record_url
from chatter.ui_services import user_preferences_update
from mailcore.conf import language_choices
from mailcore.exceptions import InvalidEmailError
from mailcore.models import NotificationType

if TYPE_CHECKING:
    from django.contrib.auth.models import User

INBOX_PER_PAGE = 30
FAILURES_PER_PAGE = 30


@login_required
@require_GET
def inbox_view(request: HttpRequest) -> HttpResponse:
    """In-app notifications (Odoo's Inbox): unread first; "All" shows the read ones too."""
    partner = request.partner  # type: ignore[attr-defined]
    show_all = request.GET.get("show") == "all"
    qs = selectors.inbox_notifications(partner, unread_only=not show_all)
    page = Paginator(qs, INBOX_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "chatter/inbox.html",
        {"page": page, "show_all": show_all, "handles_by_email": partner.notification_type == NotificationType.EMAIL},
    )


def _inbox_notification_or_404(request: HttpRequest, notification_id: int) -> Notification:
    try:
        return selectors.inbox_notification_get(
            partner=request.partner,  # type: ignore[attr-defined]
            notification_id=notification_id,
        )
    except Notification.DoesNotExist as exc:
        raise Http404("No such notification.") from exc


@login_required
@require_POST
def inbox_mark_read_view(request: HttpRequest, notification_id: int) -> HttpResponse:
    partner = request.partner  # type: ignore[attr-defined]
    notification = _inbox_notification_or_404(request, notification_id)
    services.notification_mark_read(partner=partner, notification_ids=[notification.pk])
    if not request.htmx:  # type: ignore[attr-defined]
        return redirect("chatter:inbox")
    notification.refresh_from_db()
    return render(
        request,
        "chatter/partials/inbox_item.html",
        {"n": notification, "unread_count": selectors.inbox_unread_count(partner), "oob_counter": True},
    )


@login_required
@require_POST
def inbox_mark_all_read_view(request: HttpRequest) -> HttpResponse:
    count = services.notification_mark_read(partner=request.partner)  # type: ignore[attr-defined]
    messages.success(request, f"{count} notification{'s' if count != 1 else ''} marked as read.")
    return redirect("chatter:inbox")


@login_required
@require_POST
def inbox_open_view(request: HttpRequest, notification_id: int) -> HttpResponse:
    """Open the notification's record, marking it read on the way (as clicking it in Odoo does)."""
    notification = _inbox_notification_or_404(request, notification_id)
    services.notification_mark_read(
        partner=request.partner,  # type: ignore[attr-defined]
        notification_ids=[notification.pk],
    )
    url = record_url(notification.message.model_id, notification.message.res_id)
    return redirect(url or reverse("chatter:inbox"))


@login_required
@require_GET
def failures_view(request: HttpRequest) -> HttpResponse:
    """Delivery failures on messages the user wrote or whose record the user follows."""
    partner = request.partner  # type: ignore[attr-defined]
    page = Paginator(selectors.failed_messages_for(partner), FAILURES_PER_PAGE).get_page(request.GET.get("page"))
    selectors.with_envelopes(list(page.object_list))
    return render(request, "chatter/failures.html", {"page": page})


@login_required
@require_http_methods(["GET", "POST"])
def preferences_view(request: HttpRequest) -> HttpResponse:
    """How the user is notified (by e-mail or in the app), the e-mail address, language and time zone."""
    partner = request.partner  # type: ignore[attr-defined]
    error = ""
    if request.method == "POST":
        notification_type = request.POST.get("notification_type", partner.notification_type)
        email = request.POST.get("email", "")
        try:
            user_preferences_update(
                user=cast("User", request.user),
                notification_type=notification_type,
                email=email,
                lang=request.POST.get("lang", partner.lang),
                tz=request.POST.get("tz", partner.tz),
            )
        except InvalidEmailError:
            error = _("This e-mail address is not valid.")
        except InvalidLanguageError:
            error = _("Choose one of the languages in the list.")
        except InvalidTimeZoneError:
            error = _("Choose one of the time zones in the list.")
        except ValueError:
            error = _("Choose how to handle notifications.")
        else:
            partner.refresh_from_db(fields=["lang"])
            with translation.override(partner.lang):
                messages.success(request, _("Preferences saved."))
            return redirect("chatter:preferences")
    posted = request.POST if request.method == "POST" else {}
    return render(
        request,
        "chatter/preferences.html",
        {
            "partner": partner,
            "choices": NotificationType.choices,
            "languages": language_choices(),
            "time_zones": sorted(available_timezones()),
            "error": error,
            "email_value": posted.get("email", partner.email),
            "lang_value": posted.get("lang", partner.lang),
            "tz_value": posted.get("tz", partner.tz),
        },
        status=400 if error else 200,
    )
