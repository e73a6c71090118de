"""Writes the web UI needs beyond :mod:`chatter.services`: a user's contact and preferences.

Kept apart from ``chatter.services`` (Odoo's thread API) because they are about people, not
threads; the views call these and ``chatter.services`` and nothing else that writes.
"""

from __future__ import annotations

from email.utils import parseaddr
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction

from chatter.exceptions import ChatterError
from mailcore.addresses import email_normalize
from mailcore.models import NotificationType, Partner

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class InvalidEmailError(ChatterError, ValueError):
    """The text holds no valid e-mail address."""


def _user_display_name(user: User) -> str:
    return user.get_full_name() or user.get_username()


def partner_for_user(user: User) -> Partner:
    """The contact of ``user`` (Odoo ``res.users.partner_id``), created on first use.

    Users made with ``createsuperuser`` or the admin have no contact yet; the first request
    gives them one with their name and e-mail, so they can author messages and follow records.
    """
    try:
        return user.partner
    except Partner.DoesNotExist:
        pass
    try:
        with transaction.atomic():
            return Partner.objects.create(name=_user_display_name(user), email=user.email or "", user=user)
    except IntegrityError:
        # Two first requests of the same user raced; the other one created it.
        return Partner.objects.get(user=user)


@transaction.atomic
def user_preferences_update(*, user: User, notification_type: str, email: str) -> Partner:
    """Save a user's notification preference and e-mail (on both the user and its contact).

    Odoo keeps one address for a user, on its partner; Django's user has its own ``email``, so
    both are written to keep them equal.
    """
    if notification_type not in NotificationType.values:
        raise ValueError(f"Unknown notification type {notification_type!r}.")
    email = email.strip()
    if email and email_normalize(email) is None:
        raise InvalidEmailError(f"{email!r} is not a valid e-mail address.")
    partner = partner_for_user(user)
    partner.notification_type = notification_type
    partner.email = email
    partner.save()
    if user.email != email:
        user.email = email
        user.save(update_fields=["email"])
    return partner


def partner_find_or_create(*, text: str) -> Partner:
    """The contact for ``"Name <address>"`` or ``address``: an existing one, else a new one.

    Odoo's "Add Followers" lets you pick a contact or type a new address the same way.
    """
    normalized = email_normalize(text)
    if normalized is None:
        raise InvalidEmailError(f"{text.strip()!r} is not a valid e-mail address.")
    existing = Partner.objects.filter(email_normalized=normalized, active=True).order_by("id").first()
    if existing is not None:
        return existing
    name, address = parseaddr(text)
    return Partner.objects.create(name=name.strip() or normalized.split("@")[0], email=address or normalized)
