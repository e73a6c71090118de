"""Who is acting during a web request: the logged-in user's contact.

Services author messages and tracking with :func:`chatter.context.acting_partner`; this
middleware sets it for the whole request so a record saved by a form logs its tracking under the
user's name, as Odoo does with ``env.user``.
"""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation

from chatter.context import acting_as
from chatter.ui_services import partner_for_user


class ActingPartnerMiddleware:
    """Sets ``request.partner`` and :func:`chatter.context.acting_as` for authenticated users.

    Also applies the user's language and time zone (kept on the contact, as Odoo does); before
    login ``LocaleMiddleware`` has chosen the language from the login page's switch (a cookie) or
    the browser's ``Accept-Language``, and times are shown in UTC.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            request.partner = None  # type: ignore[attr-defined]
            return self.get_response(request)
        partner = partner_for_user(user)
        request.partner = partner  # type: ignore[attr-defined]
        if partner.lang and translation.check_for_language(partner.lang):
            translation.activate(partner.lang)
            request.LANGUAGE_CODE = translation.get_language()
        with acting_as(partner), timezone.override(_zone(partner.tz)):
            return self.get_response(request)


def _zone(name: str) -> ZoneInfo | None:
    """The contact's time zone; ``None`` (the server's, UTC) when unset or unknown to this host."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
