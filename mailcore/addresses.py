"""Address, Message-ID and token helpers shared by every app."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
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


@functools.lru_cache(maxsize=64)
def _token_key_for(purpose: str, secret: str) -> bytes:
    return hashlib.sha256(f"mailcore:{purpose}:{secret}".encode()).digest()


def _token_key(purpose: str) -> bytes:
    return _token_key_for(purpose, settings.SECRET_KEY)


def _signed(key: bytes, value: str, length: int) -> str:
    digest = hmac.new(key, value.encode(), hashlib.sha256).digest()
    return f"{value}-{base64.b32encode(digest).decode().lower().rstrip('=')[:length]}"


def sign_token(purpose: str, value: str, length: int = 10) -> str:
    """``value-signature``: a short HMAC over ``value`` that survives being a local part."""
    return _signed(_token_key(purpose), value, length)


def unsign_token(purpose: str, token: str, length: int = 10) -> str | None:
    """The value of a token made by :func:`sign_token`, or None when the signature is wrong."""
    return _unsign(purpose, token, length, settings.SECRET_KEY)


# The gateway checks a reply token at RCPT and again at the end of DATA, for every message of a
# thread: remembering recent answers saves a third of the routing decision's CPU. Keyed by the
# secret too, so a changed SECRET_KEY is never answered from the cache; bounded, so addresses
# made up by a sender only push older entries out.
@functools.lru_cache(maxsize=4096)
def _unsign(purpose: str, token: str, length: int, secret: str) -> str | None:
    value, sep, _signature = token.rpartition("-")
    if not sep or not value:
        return None
    expected = _signed(_token_key_for(purpose, secret), value, length)
    # Compare bytes: compare_digest refuses str with non-ASCII characters, and tokens come from
    # addresses anyone can write to.
    return value if hmac.compare_digest(expected.lower().encode(), token.lower().encode()) else None
