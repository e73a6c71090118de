"""Signed reply and bounce addresses: the one place that builds them and reads them back.

Two addresses carry a signed value in their local part, after the alias domain's alias and a ``+``:

- the Reply-To of a record's mail, ``catchall+<content type id>.<record id>-<signature>@domain``,
  so a reply finds its record even when a provider rewrote every Message-ID (Odoo replies to the
  catchall alone and relies on the Message-ID headers);
- the envelope sender (Return-Path) of each delivery, ``bounce+<recipient id>-<signature>@domain``,
  so a bounce names the delivery that failed, whatever the report says (VERP, as Mailman does).

The signature is a truncated HMAC-SHA256 of the value with a key derived from ``SECRET_KEY`` and
the address's purpose, so a reply token is never accepted as a bounce token and the other way
round, and nobody can forge an address that routes to a record of their choice. Signatures are
compared without regard to case: some providers lower- or upper-case local parts on the way back.
Changing ``SECRET_KEY`` invalidates every address already sent.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from mailcore.models import AliasDomain

# The purposes are part of the key: changing one invalidates every address of that kind in flight.
REPLY_PURPOSE = "reply"
BOUNCE_PURPOSE = "bounce"
SIGNATURE_LENGTH = 10  # base32 characters: 50 bits, short enough for a local part


# --- the HMAC -----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _key_for(purpose: str, secret: str) -> bytes:
    return hashlib.sha256(f"mailcore:{purpose}:{secret}".encode()).digest()


_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"  # RFC 4648's alphabet, lower-cased
_MAX_SIGNATURE = 52  # base32 characters of a SHA-256 digest, padding left out


def _signed(key: bytes, value: str, length: int) -> str:
    """``value-`` and the first ``length`` characters of the HMAC's base32 form (RFC 4648).

    The sender signs every recipient's bounce address: only the 5-bit groups kept are computed,
    from the digest's leading bytes, instead of encoding the whole digest and cutting it.
    """
    digest = hmac.digest(key, value.encode(), "sha256")
    bits = min(length, _MAX_SIGNATURE) * 5
    leading = digest[: (bits + 7) // 8]
    # The last group of a whole digest is padded with zero bits, as RFC 4648 §6 says.
    spare = len(leading) * 8 - bits
    number = int.from_bytes(leading, "big")
    number = number >> spare if spare >= 0 else number << -spare
    return f"{value}-" + "".join(_BASE32[(number >> shift) & 31] for shift in range(bits - 5, -1, -5))


def sign_token(purpose: str, value: str, length: int = SIGNATURE_LENGTH) -> str:
    """``value-signature``: a short HMAC over ``value`` that survives being a local part."""
    return _signed(_key_for(purpose, settings.SECRET_KEY), value, length)


def unsign_token(purpose: str, token: str, length: int = SIGNATURE_LENGTH) -> str | None:
    """The value of a token made by :func:`sign_token`, or None when the signature is wrong."""
    return _unsign(purpose, token, length, settings.SECRET_KEY)


# The gateway checks a reply token at RCPT and again at the end of DATA, for every message of a
# thread: remembering recent answers saves a third of the routing decision's CPU. Keyed by the
# secret too, so a changed SECRET_KEY is never answered from the cache; bounded, so addresses
# made up by a sender only push older entries out.
@functools.lru_cache(maxsize=4096)
def _unsign(purpose: str, token: str, length: int, secret: str) -> str | None:
    value, sep, _signature = token.rpartition("-")
    # Ours are ASCII: refusing the rest up front also keeps Unicode case folding (the Kelvin sign
    # lower-cases to "k") from letting a second spelling of a signature through.
    if not sep or not value or not token.isascii():
        return None
    expected = _signed(_key_for(purpose, secret), value, length)
    # Compare bytes: compare_digest refuses str with non-ASCII characters, and tokens come from
    # addresses anyone can write to.
    return value if hmac.compare_digest(expected.lower().encode(), token.lower().encode()) else None


# --- building -----------------------------------------------------------------------------------
def _id_text(value: int) -> str:
    if value < 0:
        raise ValueError(f"A signed address names a database id, not {value}.")
    return str(value)


def reply_address(*, alias_domain: AliasDomain, model_id: int, res_id: int) -> str:
    """``catchall+<model_id>.<res_id>-<signature>@<domain>``: replies to it land on that record."""
    token = sign_token(REPLY_PURPOSE, f"{_id_text(model_id)}.{_id_text(res_id)}")
    return f"{alias_domain.catchall_alias}+{token}@{alias_domain.name}"


def bounce_address(*, alias_domain: AliasDomain, recipient_id: int) -> str:
    """``bounce+<recipient_id>-<signature>@<domain>``: a bounce to it names that delivery.

    Called once per recipient by the sender: one HMAC and one string, nothing more.
    """
    token = sign_token(BOUNCE_PURPOSE, _id_text(recipient_id))
    return f"{alias_domain.bounce_alias}+{token}@{alias_domain.name}"


# --- reading ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SignedReply:
    """A valid signed Reply-To: the record replies go to."""

    model_id: int
    res_id: int


@dataclass(frozen=True, slots=True)
class SignedBounce:
    """A valid signed bounce address: the delivery (``MailRecipient`` id) that bounced."""

    recipient_id: int


@dataclass(frozen=True, slots=True)
class ForgedToken:
    """The shape of a signed address whose token does not check out (changed, truncated, forged).

    ``purpose`` tells which alias it was written to (:data:`REPLY_PURPOSE` or :data:`BOUNCE_PURPOSE`).
    """

    purpose: str


SignedAddress = SignedReply | SignedBounce | ForgedToken


def _ids(value: str | None, count: int) -> list[int] | None:
    parts = (value or "").split(".")
    if len(parts) != count or not all(p.isascii() and p.isdigit() for p in parts):
        return None
    return [int(p) for p in parts]


def signed_address_read(*, local_part: str, alias_domain: AliasDomain) -> SignedAddress | None:
    """What the local part of an address of ``alias_domain`` signs, if it is a signed address.

    None when it is not ``bounce+…`` or ``catchall+…`` (the bare aliases included: they sign
    nothing); :class:`ForgedToken` when it is, but the token is not one we made.
    """
    lower = local_part.lower()
    for alias, purpose, count in (
        (alias_domain.bounce_alias, BOUNCE_PURPOSE, 1),
        (alias_domain.catchall_alias, REPLY_PURPOSE, 2),
    ):
        prefix = alias.lower() + "+"
        if not lower.startswith(prefix):
            continue
        ids = _ids(unsign_token(purpose, local_part[len(prefix) :]), count)
        if ids is None:
            return ForgedToken(purpose)
        return SignedBounce(ids[0]) if purpose == BOUNCE_PURPOSE else SignedReply(ids[0], ids[1])
    return None
