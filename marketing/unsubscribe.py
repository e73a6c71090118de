"""Signed unsubscribe and preference links (RFC 8058 one-click included).

A token names one address and the lists a campaign was sent to (none for a campaign that did
not go to lists). It is signed with the secret key under a purpose of its own, so it cannot be
forged or reused as another kind of token, and it needs no database row: a link in a mail sent
years ago still works as long as the secret key is the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core import signing
from django.urls import reverse

from mailcore.addresses import email_normalize

SALT = "marketing.unsubscribe"
ListIds = list[int] | tuple[int, ...]


@dataclass(frozen=True)
class UnsubscribeTarget:
    """Who a link is about: a normalised address and the lists of the mailing (empty: not lists)."""

    email: str
    list_ids: tuple[int, ...]


def unsubscribe_token(*, email: str, list_ids: ListIds = ()) -> str:
    normalized = email_normalize(email)
    if normalized is None:
        raise ValueError(f"Invalid email address: {email!r}")
    return signing.Signer(salt=SALT).sign_object({"e": normalized, "l": sorted(set(list_ids))}, compress=True)


def unsubscribe_read(token: str) -> UnsubscribeTarget | None:
    """The target of a token, or None when it was not made by :func:`unsubscribe_token`."""
    try:
        value = signing.Signer(salt=SALT).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(value, dict) or not isinstance(value.get("e"), str) or not isinstance(value.get("l"), list):
        return None
    if not all(isinstance(i, int) for i in value["l"]):
        return None
    return UnsubscribeTarget(email=value["e"], list_ids=tuple(value["l"]))


def unsubscribe_urls(*, base_url: str, email: str, list_ids: ListIds = ()) -> dict[str, str]:
    """The absolute links a campaign mail carries: the confirmation page (the footer link), the
    one-click POST target (``List-Unsubscribe``) and the preference page."""
    token = unsubscribe_token(email=email, list_ids=list_ids)
    base = base_url.rstrip("/")
    return {
        "unsubscribe": base + reverse("mailing:unsubscribe", args=[token]),
        "one_click": base + reverse("mailing:unsubscribe_one_click", args=[token]),
        "preferences": base + reverse("mailing:preferences", args=[token]),
    }


def list_unsubscribe_headers(urls: dict[str, str]) -> dict[str, str]:
    """The RFC 2369 / RFC 8058 headers of a campaign mail, from its :func:`unsubscribe_urls`: mail
    providers show an "Unsubscribe" button and POST ``List-Unsubscribe=One-Click`` to the URL, with
    no cookie and no form token."""
    return {"List-Unsubscribe": f"<{urls['one_click']}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
