"""Contacts by address: finding one, setting its address, its bounce counter and the blacklist.

Every app that looks a contact up by e-mail, changes a contact's address, counts a bounce against
an address or blacklists one calls these, so the rules below hold everywhere.

Two kinds of questions, deliberately answered differently:

- *Who is the contact for this address?* (:func:`contact_find`): one contact, among the active
  ones only. This is what authorship, alias contact policies ("known contacts"), bounce
  attribution and "add a follower by address" ask.
- *What is known about this mailbox?* (:func:`contact_bounce_increment`,
  :func:`contact_bounce_reset`, :func:`contact_blacklist_add`): every contact holding the
  address, archived ones included. A bounce or a blacklisting describes the mailbox, not one
  contact (Odoo keeps the blacklist per address, in ``mail.blacklist``); a contact restored from
  the archive, or a duplicate made later, must not get a clean slate for a dead address.
"""

from __future__ import annotations

from email.utils import parseaddr

from django.db.models import F, QuerySet
from django.utils.translation import gettext as _

from mailcore.addresses import email_normalize
from mailcore.exceptions import InvalidEmailError
from mailcore.models import Partner

# RFC 5321 §4.5.3.1.3: a path is at most 256 octets with its angle brackets. The user's own
# ``email`` column (Django's EmailField) holds no more either, and Preferences writes both.
EMAIL_MAX_LENGTH = 254


# --- selectors ----------------------------------------------------------------------------------
def contacts_by_email(*, email: str | None) -> QuerySet[Partner]:
    """Every contact whose address normalises like ``email``, archived ones included.

    Empty when ``email`` holds no valid address (so an empty address never matches the contacts
    that have none).
    """
    normalized = email_normalize(email)
    if normalized is None:
        return Partner.objects.none()
    return Partner.objects.filter(email_normalized=normalized)


def contact_find(*, email: str | None) -> Partner | None:
    """The contact for ``email`` (any form: ``"Name <a@b.c>"``, any case), or None.

    The rule, the same for every caller:

    - Active contacts only. Archiving a contact is how a user says "not this one any more", and
      Odoo's searches skip archived records the same way (``active_test``): an archived contact
      does not author incoming mail, does not pass an alias's "known contacts" policy, and is not
      offered again as a follower. Bounces to its address still count (see the module docstring).
    - The oldest first (lowest id) when several active contacts share the address, so the answer
      is stable: the same duplicate gets every message, whichever code path asks.
    """
    return contacts_by_email(email=email).filter(active=True).order_by("id").first()


# --- the address --------------------------------------------------------------------------------
def contact_email_clean(email: str, *, required: bool = False) -> str:
    """``email`` as it will be stored (surrounding blanks removed), or :class:`InvalidEmailError`.

    One address, optionally with a display name (``"Jane Doe <jane@example.com>"``). Empty is
    accepted (a contact may have no address) unless ``required``. The error's message names the
    input and starts with Odoo's label for the failure type ``mail_email_invalid`` (or
    ``mail_email_missing``), so the API, the UI and the chatter agree; it is in the active language.
    """
    email = (email or "").strip()
    if not email:
        if required:
            raise InvalidEmailError(_("Missing email address."), email=email)
        return ""
    if len(email) > EMAIL_MAX_LENGTH:
        raise InvalidEmailError(
            _("Invalid email address: longer than %(max)d characters.") % {"max": EMAIL_MAX_LENGTH}, email=email
        )
    if email_normalize(email) is None:
        raise InvalidEmailError(_("Invalid email address: %(email)r.") % {"email": email}, email=email)
    return email


def contact_email_set(*, partner: Partner, email: str, required: bool = False) -> Partner:
    """Give the existing contact ``partner`` a new address, validated by :func:`contact_email_clean` first.

    Only the address (and its normalised form, kept by ``Partner.save``) is written, so other
    unsaved changes on the instance are not saved by accident. Nothing is written on error.
    """
    partner.email = contact_email_clean(email, required=required)
    partner.save(update_fields=["email", "email_normalized"])
    return partner


def contact_find_or_create(*, text: str) -> Partner:
    """The contact for ``"Name <address>"`` or ``address``: :func:`contact_find`, else a new one.

    Odoo's "Add Followers" lets you pick a contact or type a new address the same way. The new
    contact is named after the display name, else the address's local part.
    """
    email = contact_email_clean(text, required=True)
    existing = contact_find(email=email)
    if existing is not None:
        return existing
    name, address = parseaddr(email)
    normalized = email_normalize(email) or address
    return Partner.objects.create(name=name.strip() or normalized.split("@")[0], email=address or normalized)


# --- bounces and blacklist ----------------------------------------------------------------------
def contact_bounce_increment(*, email: str) -> int:
    """Odoo ``message_bounce`` += 1 on every contact holding ``email``. Returns the contacts changed."""
    return contacts_by_email(email=email).update(message_bounce=F("message_bounce") + 1)


def contact_bounce_reset(*, email: str) -> int:
    """Odoo ``_routing_reset_bounce``: mail from an address that is no bounce clears its counter."""
    return contacts_by_email(email=email).filter(message_bounce__gt=0).update(message_bounce=0)


def contact_blacklist_add(*, email: str) -> int:
    """Never send to ``email`` again: every contact holding it is blacklisted. Returns those changed."""
    return contacts_by_email(email=email).filter(is_blacklisted=False).update(is_blacklisted=True)
