"""Address and Message-ID helpers shared by every app (signed addresses: :mod:`mailcore.signed_addresses`)."""

from __future__ import annotations

import re
import secrets
import time
from email.headerregistry import Address
from email.utils import getaddresses

from django.conf import settings

# A practical address check: one @, a dotted or localhost domain, no spaces or control characters.
_EMAIL_RE = re.compile(r"^[^@\s<>(),;:\"\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*$")


def email_split(text: str | None) -> list[str]:
    """Every address found in a header-like string, as written (Odoo ``email_split``)."""
    if not text:
        return []
    return [addr for _name, addr in getaddresses([text]) if addr and "@" in addr]


def email_normalize(text: str | None) -> str | None:
    """The first address of ``text``, lower-cased, or None when there is none valid."""
    addresses = email_split(text)
    if not addresses:
        return None
    address = addresses[0].strip()
    if not address_is_valid(address):
        return None
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain}".lower()


def address_is_valid(address: str) -> bool:
    """A bare address (no display name) passes the practical check above."""
    return bool(_EMAIL_RE.match(address))


def email_is_valid(text: str | None) -> bool:
    return email_normalize(text) is not None


def formataddr(name: str, email: str) -> str:
    """``"Name" <email>`` with proper quoting, for any name."""
    if "@" not in email:
        return email
    local, _, domain = email.rpartition("@")
    try:
        return str(Address(display_name=name or "", username=local, domain=domain))
    except (ValueError, IndexError):
        return email


def make_message_id(token: str = "private") -> str:
    """A tracking Message-ID in Odoo's shape ``<random.timestamp-mailcore-TOKEN@host>``."""
    host = getattr(settings, "MAILCORE_MESSAGE_ID_HOST", "mailcore")
    return f"<{secrets.token_hex(8)}.{time.time():.6f}-mailcore-{token}@{host}>"
