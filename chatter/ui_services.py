"""Writes the web UI needs beyond :mod:`chatter.services`: a user's contact and preferences.

Kept apart from ``chatter.services`` (Odoo's thread API) because they are about people, not
threads; the views call these and ``chatter.services`` and nothing else that writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import available_timezones

from django.db import IntegrityError, transaction

from chatter.exceptions import InvalidLanguageError, InvalidTimeZoneError
from mailcore.conf import language_choices
from mailcore.contacts import contact_email_clean, contact_email_set
from mailcore.models import NotificationType, Partner

if TYPE_CHECKING:
    from django.contrib.auth.models import User


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
def user_preferences_update(
    *, user: User, notification_type: str, email: str, lang: str | None = None, tz: str | None = None
) -> Partner:
    """Save a user's notification preference, e-mail, language and time zone.

    Odoo keeps one address, the language and the time zone of a user on its partner; Django's user
    has its own ``email``, so both are written to keep them equal. ``None`` keeps the current
    language or time zone.
    """
    if notification_type not in NotificationType.values:
        raise ValueError(f"Unknown notification type {notification_type!r}.")
    if lang is not None and lang not in dict(language_choices()):
        raise InvalidLanguageError(f"Unknown language {lang!r}.")
    if tz is not None and tz and tz not in available_timezones():
        raise InvalidTimeZoneError(f"Unknown time zone {tz!r}.")
    email = contact_email_clean(email)
    partner = partner_for_user(user)
    partner.notification_type = notification_type
    fields = ["notification_type"]
    if lang is not None:
        partner.lang = lang
        fields.append("lang")
    if tz is not None:
        partner.tz = tz
        fields.append("tz")
    partner.save(update_fields=fields)
    contact_email_set(partner=partner, email=email)
    if user.email != email:
        user.email = email
        user.save(update_fields=["email"])
    return partner
