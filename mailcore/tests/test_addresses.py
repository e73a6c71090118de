"""Address parsing, formatting, Message-IDs and signed tokens."""

from __future__ import annotations

import re

import pytest

from mailcore.addresses import (
    email_is_valid,
    email_normalize,
    email_split,
    formataddr,
    make_message_id,
    sign_token,
    unsign_token,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a@example.com", ["a@example.com"]),
        ("Ann <Ann@Example.com>", ["Ann@Example.com"]),
        ('"Doe, John" <j@example.org>, k@example.net', ["j@example.org", "k@example.net"]),
        ("no address here", []),
        ("", []),
        (None, []),
    ],
)
def test_email_split(text: str | None, expected: list[str]) -> None:
    assert email_split(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a@example.com", "a@example.com"),
        ("Ann <Ann.Smith@EXAMPLE.com>", "ann.smith@example.com"),
        ("<a@example.com>", "a@example.com"),
        ('"Doe, John" <J@example.org>, k@example.net', "j@example.org"),
        ("admin@localhost", "admin@localhost"),
        ("foo", None),
        ("", None),
        (None, None),
        ("a b@example.com", None),
        ("a@-example.com", None),
        ("a@example..com", None),
        ("a@@example.com", None),
    ],
)
def test_email_normalize(text: str | None, expected: str | None) -> None:
    assert email_normalize(text) == expected
    assert email_is_valid(text) is (expected is not None)


@pytest.mark.parametrize(
    ("name", "email", "expected"),
    [
        ("Ann Smith", "ann@example.com", "Ann Smith <ann@example.com>"),
        ("Doe, John", "j@example.org", '"Doe, John" <j@example.org>'),
        ('Zoë "Z"', "z@example.org", '"Zoë \\"Z\\"" <z@example.org>'),
        ("", "ann@example.com", "ann@example.com"),
        ("Ann", "not-an-address", "not-an-address"),
    ],
)
def test_formataddr(name: str, email: str, expected: str) -> None:
    assert formataddr(name, email) == expected


def test_make_message_id_shape_and_uniqueness(settings: object) -> None:
    settings.MAILCORE_MESSAGE_ID_HOST = "mail.example.com"  # type: ignore[attr-defined]
    first = make_message_id("7-demo.lead")
    assert re.fullmatch(r"<[0-9a-f]{16}\.\d+\.\d{6}-mailcore-7-demo\.lead@mail\.example\.com>", first)
    assert make_message_id().endswith("-mailcore-private@mail.example.com>")
    assert len({make_message_id() for _ in range(200)}) == 200


def test_token_round_trip() -> None:
    token = sign_token("reply", "12.345")
    assert re.fullmatch(r"12\.345-[a-z2-7]{10}", token)
    assert unsign_token("reply", token) == "12.345"
    # Local parts may be case-folded by a provider on the way back.
    assert unsign_token("reply", token.upper()) == "12.345"
    # Values holding the separator still round-trip.
    assert unsign_token("bounce", sign_token("bounce", "m-1-r-2")) == "m-1-r-2"


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
def test_tampered_tokens_are_refused(tamper: object) -> None:
    token = sign_token("reply", "12.345")
    assert unsign_token("reply", tamper(token)) is None  # type: ignore[operator]


def test_tokens_are_bound_to_their_purpose_and_secret(settings: object) -> None:
    token = sign_token("reply", "12.345")
    assert unsign_token("bounce", token) is None
    assert unsign_token("reply", token) == "12.345"  # remembered: the answer must not outlive the secret
    settings.SECRET_KEY = "another-secret-" + "x" * 40  # type: ignore[attr-defined]
    assert unsign_token("reply", token) is None


def test_signature_length_is_configurable() -> None:
    token = sign_token("reply", "1", length=16)
    assert len(token.rpartition("-")[2]) == 16
    assert unsign_token("reply", token, length=16) == "1"
    assert unsign_token("reply", token) is None
