"""Signed Reply-To and bounce addresses: built and read back in one module, forgeries refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mailcore.models import AliasDomain
from mailcore.signed_addresses import (
    BOUNCE_PURPOSE,
    REPLY_PURPOSE,
    ForgedToken,
    SignedBounce,
    SignedReply,
    _key_for,
    _signed,
    bounce_address,
    reply_address,
    sign_token,
    signed_address_read,
    unsign_token,
)

# Unsaved: the builders and the reader need only the domain's name and its two aliases.
DOMAIN = AliasDomain(name="mail.example.com")
IDS = st.integers(min_value=0, max_value=2**63 - 1)  # any primary key PostgreSQL's bigint holds


def _local(address: str) -> str:
    local, _, domain = address.rpartition("@")
    assert domain == DOMAIN.name
    return local


def _read(address: str, domain: AliasDomain = DOMAIN) -> object:
    return signed_address_read(local_part=_local(address), alias_domain=domain)


# --- the token ----------------------------------------------------------------------------------
def test_token_round_trip() -> None:
    token = sign_token(REPLY_PURPOSE, "12.345")
    assert re.fullmatch(r"12\.345-[a-z2-7]{10}", token)
    assert unsign_token(REPLY_PURPOSE, token) == "12.345"
    # Local parts may be case-folded by a provider on the way back.
    assert unsign_token(REPLY_PURPOSE, token.upper()) == "12.345"
    # Values holding the separator still round-trip.
    assert unsign_token(BOUNCE_PURPOSE, sign_token(BOUNCE_PURPOSE, "m-1-r-2")) == "m-1-r-2"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t.replace("12.345", "12.346"),  # another record
        lambda t: t[:-1] + ("a" if t[-1] != "a" else "b"),  # another signature
        lambda t: t.rpartition("-")[0],  # no signature
        lambda t: "-" + t.rpartition("-")[2],  # no value
        lambda t: t + "x",  # longer signature
        lambda t: t[:-1] + "é",  # non-ASCII from a hostile sender: refused, not a crash
        lambda t: "",
    ],
)
def test_tampered_tokens_are_refused(tamper: Callable[[str], str]) -> None:
    token = sign_token(REPLY_PURPOSE, "12.345")
    assert unsign_token(REPLY_PURPOSE, tamper(token)) is None


def test_unicode_case_folding_gives_no_second_spelling() -> None:
    # The Kelvin sign lower-cases to "k": a signature spelt with it is not one we made.
    token = next(t for i in range(1000) if "k" in (t := sign_token(REPLY_PURPOSE, str(i))).rpartition("-")[2])
    assert unsign_token(REPLY_PURPOSE, token) is not None
    assert unsign_token(REPLY_PURPOSE, token.replace("k", "\u212a")) is None


def test_tokens_are_bound_to_their_purpose_and_secret(settings: object) -> None:
    token = sign_token(REPLY_PURPOSE, "12.345")
    assert unsign_token(BOUNCE_PURPOSE, token) is None
    assert unsign_token(REPLY_PURPOSE, token) == "12.345"  # remembered: the answer must not outlive the secret
    settings.SECRET_KEY = "another-secret-" + "x" * 40  # type: ignore[attr-defined]
    assert unsign_token(REPLY_PURPOSE, token) is None


@pytest.mark.parametrize("length", [1, 7, 8, 10, 16, 51, 52, 60])
@pytest.mark.parametrize("value", ["0", "7", "123456", "4.987654321"])
def test_signature_is_the_base32_form_of_the_hmac_cut_to_length(length: int, value: str) -> None:
    # What it has always been, spelled with the standard library's whole-digest encoding.
    key = _key_for(BOUNCE_PURPOSE, "a secret")
    digest = hmac.new(key, value.encode(), hashlib.sha256).digest()
    expected = base64.b32encode(digest).decode().lower().rstrip("=")[:length]
    assert _signed(key, value, length) == f"{value}-{expected}"


def test_signature_length_is_configurable() -> None:
    token = sign_token(REPLY_PURPOSE, "1", length=16)
    assert len(token.rpartition("-")[2]) == 16
    assert unsign_token(REPLY_PURPOSE, token, length=16) == "1"
    assert unsign_token(REPLY_PURPOSE, token) is None


# --- the addresses ------------------------------------------------------------------------------
def test_reply_address_shape_and_round_trip() -> None:
    address = reply_address(alias_domain=DOMAIN, model_id=12, res_id=345)
    assert re.fullmatch(r"catchall\+12\.345-[a-z2-7]{10}@mail\.example\.com", address)
    assert _read(address) == SignedReply(model_id=12, res_id=345)
    assert _read(address.upper().replace(DOMAIN.name.upper(), DOMAIN.name)) == SignedReply(12, 345)


def test_bounce_address_shape_and_round_trip() -> None:
    address = bounce_address(alias_domain=DOMAIN, recipient_id=42)
    assert re.fullmatch(r"bounce\+42-[a-z2-7]{10}@mail\.example\.com", address)
    assert _read(address) == SignedBounce(recipient_id=42)


def test_the_domain_s_own_alias_names_are_used() -> None:
    domain = AliasDomain(name=DOMAIN.name, bounce_alias="Returns", catchall_alias="replies")
    reply = reply_address(alias_domain=domain, model_id=3, res_id=4)
    bounce = bounce_address(alias_domain=domain, recipient_id=5)
    assert reply.startswith("replies+") and bounce.startswith("Returns+")
    assert _read(reply, domain) == SignedReply(3, 4)
    assert _read(bounce.lower(), domain) == SignedBounce(5)
    # Under the default names the same local parts are nothing signed.
    assert _read(reply) is None and _read(bounce) is None


@pytest.mark.parametrize("local", ["bounce", "catchall", "sales", "catchall-12.3-abc", "bouncer+1-abc", ""])
def test_addresses_that_sign_nothing_read_as_none(local: str) -> None:
    assert signed_address_read(local_part=local, alias_domain=DOMAIN) is None


def test_a_token_is_refused_under_the_other_alias() -> None:
    reply_token = _local(reply_address(alias_domain=DOMAIN, model_id=1, res_id=2)).partition("+")[2]
    bounce_token = _local(bounce_address(alias_domain=DOMAIN, recipient_id=2)).partition("+")[2]
    assert signed_address_read(local_part=f"bounce+{reply_token}", alias_domain=DOMAIN) == ForgedToken(BOUNCE_PURPOSE)
    assert signed_address_read(local_part=f"catchall+{bounce_token}", alias_domain=DOMAIN) == ForgedToken(REPLY_PURPOSE)


@pytest.mark.parametrize(
    ("local", "purpose"),
    [
        ("catchall+12.345-aaaaaaaaaa", REPLY_PURPOSE),  # a made-up signature
        ("bounce+12345-aaaaaaaaaa", BOUNCE_PURPOSE),
        (f"catchall+{sign_token(REPLY_PURPOSE, '12')}", REPLY_PURPOSE),  # signed, but not model.record
        (f"catchall+{sign_token(REPLY_PURPOSE, '1.2.3')}", REPLY_PURPOSE),
        (f"bounce+{sign_token(BOUNCE_PURPOSE, '1.2')}", BOUNCE_PURPOSE),  # signed, but not one id
        (f"bounce+{sign_token(BOUNCE_PURPOSE, '²')}", BOUNCE_PURPOSE),  # a Unicode digit int() refuses
        ("bounce+", BOUNCE_PURPOSE),
    ],
)
def test_forged_tokens_are_refused(local: str, purpose: str) -> None:
    assert signed_address_read(local_part=local, alias_domain=DOMAIN) == ForgedToken(purpose)


def test_negative_ids_are_not_signed() -> None:
    with pytest.raises(ValueError, match="database id"):
        bounce_address(alias_domain=DOMAIN, recipient_id=-1)
    with pytest.raises(ValueError, match="database id"):
        reply_address(alias_domain=DOMAIN, model_id=1, res_id=-2)


# --- properties ---------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(model_id=IDS, res_id=IDS, recipient_id=IDS)
def test_any_ids_round_trip(model_id: int, res_id: int, recipient_id: int) -> None:
    assert _read(reply_address(alias_domain=DOMAIN, model_id=model_id, res_id=res_id)) == SignedReply(model_id, res_id)
    assert _read(bounce_address(alias_domain=DOMAIN, recipient_id=recipient_id)) == SignedBounce(recipient_id)


def _mutate(token: str, data: st.DataObject) -> str:
    """One change to ``token``: a character replaced, inserted or deleted (case changes excluded)."""
    how = data.draw(st.sampled_from(["replace", "insert", "delete"]))
    index = data.draw(st.integers(min_value=0, max_value=len(token) - (0 if how == "insert" else 1)))
    if how == "delete":
        return token[:index] + token[index + 1 :]
    char = data.draw(st.characters(blacklist_categories=("Cs",)))
    if how == "insert":
        return token[:index] + char + token[index:]
    # Providers may change the case of a local part, so only a real change counts as a mutation.
    assume(char.lower() != token[index].lower())
    return token[:index] + char + token[index + 1 :]


@settings(max_examples=500, deadline=None)
@given(kind=st.sampled_from(["reply", "bounce"]), first=IDS, second=IDS, data=st.data())
def test_any_mutation_of_the_token_is_refused(kind: str, first: int, second: int, data: st.DataObject) -> None:
    if kind == "reply":
        address = reply_address(alias_domain=DOMAIN, model_id=first, res_id=second)
    else:
        address = bounce_address(alias_domain=DOMAIN, recipient_id=first)
    alias, _, token = _local(address).partition("+")
    mutated = _mutate(token, data)
    assert signed_address_read(local_part=f"{alias}+{mutated}", alias_domain=DOMAIN) == ForgedToken(
        REPLY_PURPOSE if kind == "reply" else BOUNCE_PURPOSE
    )
