"""DKIM (RFC 6376) keys of the alias domains, and signing outgoing mail with them (dkimpy).

A key pair is generated here (2048-bit RSA, the size receivers expect); the private key stays in
the database and the public key is what the domain owner publishes, as a TXT record at
``<selector>._domainkey.<domain>``. Mail is signed when its visible From address is in an alias
domain that has a key (or in a subdomain of it: DMARC's relaxed alignment), with the headers a receiver
checks, ``List-Unsubscribe`` and ``List-Unsubscribe-Post`` included (RFC 8058 asks for them to be
signed).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from mailcore import conf
from mailcore.addresses import email_normalize
from mailcore.models import AliasDomain

# dkimpy (with dnspython) and cryptography are imported where a key is made or mail is signed:
# every process imports this module, few of them ever sign.

KEY_BITS = 2048
# Not To: a mail row is signed once for all its recipients, and each recipient's own To line is
# put in front of the signed part (RFC 6376 requires only From; a receiver checks the rest).
SIGNED_HEADERS = (
    b"from",
    b"subject",
    b"date",
    b"message-id",
    b"reply-to",
    b"in-reply-to",
    b"references",
    b"mime-version",
    b"content-type",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
)


@dataclass(frozen=True)
class DkimRecord:
    """The DNS record to publish for a domain's key."""

    name: str
    value: str


def dkim_generate_key(*, alias_domain: AliasDomain, selector: str | None = None) -> DkimRecord:
    """Give the domain a new key pair (replacing any previous one) and return the record to publish."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode("ascii")
    alias_domain.dkim_selector = (selector or alias_domain.dkim_selector or conf.dkim_selector()).strip()
    alias_domain.dkim_private_key = pem
    alias_domain.save(update_fields=["dkim_selector", "dkim_private_key"])
    record = dkim_record(alias_domain)
    assert record is not None
    return record


def dkim_public_key(alias_domain: AliasDomain) -> str:
    """The base64 SubjectPublicKeyInfo of the domain's key (the ``p=`` of its record), or ''."""
    if not alias_domain.dkim_private_key:
        return ""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(alias_domain.dkim_private_key.encode("ascii"), password=None)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


def dkim_record(alias_domain: AliasDomain) -> DkimRecord | None:
    """The TXT record to publish for the domain's key, or None when it has none."""
    public_key = dkim_public_key(alias_domain)
    if not public_key:
        return None
    return DkimRecord(f"{alias_domain.dkim_selector}._domainkey.{alias_domain.name}", f"v=DKIM1; k=rsa; p={public_key}")


def dkim_signing_domain(from_address: str, domains: list[AliasDomain]) -> AliasDomain | None:
    """The alias domain with a key that a From address belongs to (itself or a parent domain)."""
    normalized = email_normalize(from_address)
    if normalized is None:
        return None
    from_domain = normalized.rpartition("@")[2]
    keyed = [d for d in domains if d.dkim_private_key and d.dkim_selector]
    matches = [d for d in keyed if from_domain == d.name.lower() or from_domain.endswith("." + d.name.lower())]
    return max(matches, key=lambda d: len(d.name), default=None)


def dkim_sign(message: bytes, alias_domain: AliasDomain) -> bytes:
    """``message`` with a ``DKIM-Signature`` header first (relaxed/relaxed, rsa-sha256)."""
    import dkim

    signature = dkim.sign(
        message,
        alias_domain.dkim_selector.encode("ascii"),
        alias_domain.name.encode("idna"),
        alias_domain.dkim_private_key.encode("ascii"),
        canonicalize=(b"relaxed", b"relaxed"),
        # Headers absent from the message are signed too (RFC 6376 §5.4.2): nobody can add them later.
        include_headers=list(SIGNED_HEADERS),
    )
    return signature + message
