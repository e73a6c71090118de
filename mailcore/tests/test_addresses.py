"""Address parsing, formatting and Message-IDs (signed tokens: test_signed_addresses.py)."""

from __future__ import annotations

import re

import pytest

from mailcore.addresses import (
    email_is_valid,
    email_normalize,
    email_split,
    formataddr,
    make_message_id,
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

