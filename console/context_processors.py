"""Facts every page shows: the header counters, the placeholder-admin and daily-limit banners.

This is web glue at the top of the stack, so it reads the chatter and the queue through their
selectors. Each value is computed only when a template uses it: htmx partials that render no
header cost no query.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.http import HttpRequest

from chatter import selectors as chatter_selectors
from mailcore import conf
from mailcore.addresses import email_normalize
from mailcore.quota import QuotaStatus, quota_status
from mailqueue import selectors as queue_selectors

DEVELOPER_MODE_SESSION_KEY = "mailcore_developer_mode"


def developer_mode(request: HttpRequest) -> bool:
    """Odoo's developer mode: shows the Technical menu to staff; kept in the session."""
    user = getattr(request, "user", None)
    return bool(user and user.is_staff and request.session.get(DEVELOPER_MODE_SESSION_KEY))


class PageFacts:
    """Lazily computed header and banner facts for one request."""

    def __init__(self, request: HttpRequest) -> None:
        self.request = request
        self.user = request.user
        self.partner = getattr(request, "partner", None)

    @cached_property
    def record_types(self) -> list[chatter_selectors.RecordType]:
        return chatter_selectors.record_types()

    @cached_property
    def developer_mode(self) -> bool:
        return developer_mode(self.request)

    @cached_property
    def unread_count(self) -> int:
        return chatter_selectors.inbox_unread_count(self.partner) if self.partner is not None else 0

    @cached_property
    def failure_count(self) -> int:
        if self.partner is None:
            return 0
        return chatter_selectors.failed_messages_for(self.partner).count()

    @cached_property
    def placeholder_admin(self) -> bool:
        """The admin still has the placeholder address a fresh database gives it (Odoo's troubleshooting page)."""
        if not (self.user.is_authenticated and (self.user.is_superuser or self.user.is_staff)):
            return False
        placeholder = email_normalize(conf.placeholder_admin_email())
        addresses = {email_normalize(self.user.email)}
        if self.partner is not None:
            addresses.add(self.partner.email_normalized or None)
        return placeholder is not None and placeholder in addresses

    @cached_property
    def quota(self) -> QuotaStatus:
        return quota_status()

    @cached_property
    def quota_held(self) -> int:
        """Outgoing mail waiting because the daily limit was reached (failure type mail_quota)."""
        return queue_selectors.mail_quota_held_count()


def page_facts(request: HttpRequest) -> dict[str, Any]:
    """Adds ``mc`` (a :class:`PageFacts`) for logged-in users."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"mc": PageFacts(request)}
