"""Who is acting during a web request: the logged-in user's contact.

Services author messages and tracking with :func:`chatter.context.acting_partner`; this
middleware sets it for the whole request so a record saved by a form logs its tracking under the
user's name, as Odoo does with ``env.user``.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from chatter.context import acting_as
from chatter.ui_services import partner_for_user


class ActingPartnerMiddleware:
    """Sets ``request.partner`` and :func:`chatter.context.acting_as` for authenticated users."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            request.partner = None  # type: ignore[attr-defined]
            return self.get_response(request)
        partner = partner_for_user(user)
        request.partner = partner  # type: ignore[attr-defined]
        with acting_as(partner):
            return self.get_response(request)
