"""Contacts by address: the one lookup rule, setting an address, bounce counter and blacklist."""

from __future__ import annotations

import pytest

from mailcore.contacts import (
    EMAIL_MAX_LENGTH,
    contact_blacklist_add,
    contact_bounce_increment,
    contact_bounce_reset,
    contact_email_clean,
    contact_email_set,
    contact_find,
    contact_find_or_create,
    contacts_by_email,
)
from mailcore.exceptions import InvalidEmailError
from mailcore.models import Partner

pytestmark = pytest.mark.django_db


def _partner(name: str, email: str, **values: object) -> Partner:
    return Partner.objects.create(name=name, email=email, **values)


# --- finding ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["bob@example.com", "BOB@Example.COM", "Robert <Bob@example.com>", " bob@example.com"])
def test_contact_find_normalises_the_address(text: str) -> None:
    bob = _partner("Bob", "Bob <bob@example.com>")
    assert contact_find(email=text) == bob


def test_contact_find_prefers_the_oldest_active_contact_and_ignores_archived_ones() -> None:
    archived = _partner("Old Bob", "bob@example.com", active=False)
    first = _partner("Bob", "bob@example.com")
    _partner("Bob again", "BOB@example.com")
    # The archived one is older, yet never the answer.
    assert contact_find(email="bob@example.com") == first
    Partner.objects.filter(pk=first.pk).update(active=False)
    assert contact_find(email="bob@example.com").name == "Bob again"  # type: ignore[union-attr]
    Partner.objects.exclude(pk=archived.pk).delete()
    assert contact_find(email="bob@example.com") is None


@pytest.mark.parametrize("text", ["", None, "not an address", "bob@"])
def test_contact_find_without_a_valid_address_finds_nobody(text: str | None) -> None:
    _partner("No address", "")
    _partner("Broken", "not an address")
    assert contact_find(email=text) is None
    assert not contacts_by_email(email=text).exists()


def test_contacts_by_email_includes_archived_contacts() -> None:
    active = _partner("Bob", "bob@example.com")
    archived = _partner("Old Bob", "Bob@Example.com", active=False)
    _partner("Carol", "carol@example.com")
    assert set(contacts_by_email(email="<bob@example.com>")) == {active, archived}


# --- setting the address ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("  jane@example.com ", "jane@example.com"),
        ("Jane Doe <Jane@Example.com>", "Jane Doe <Jane@Example.com>"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_contact_email_clean_accepts(text: str, stored: str) -> None:
    assert contact_email_clean(text) == stored


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("jane", "Invalid email address: 'jane'."),
        ("jane@", "Invalid email address: 'jane@'."),
        ("Jane <no-at-sign>", "Invalid email address: 'Jane <no-at-sign>'."),
        ("a b@example.com", "Invalid email address: 'a b@example.com'."),
        ("x" * 250 + "@example.com", f"Invalid email address: longer than {EMAIL_MAX_LENGTH} characters."),
    ],
)
def test_contact_email_clean_refuses_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(InvalidEmailError) as caught:
        contact_email_clean(text)
    assert str(caught.value) == message
    assert caught.value.email == text.strip()
    assert isinstance(caught.value, ValueError)


def test_contact_email_clean_can_require_an_address() -> None:
    with pytest.raises(InvalidEmailError, match="Missing email address"):
        contact_email_clean("  ", required=True)


def test_contact_email_set_normalises_and_writes_only_the_address() -> None:
    partner = _partner("Jane", "jane@old.example")
    partner.name = "Not saved"
    contact_email_set(partner=partner, email=" Jane <JANE@New.Example> ")
    partner.refresh_from_db()
    assert (partner.name, partner.email) == ("Jane", "Jane <JANE@New.Example>")
    assert partner.email_normalized == "jane@new.example"


def test_contact_email_set_writes_nothing_on_invalid_input() -> None:
    partner = _partner("Jane", "jane@old.example")
    with pytest.raises(InvalidEmailError):
        contact_email_set(partner=partner, email="jane at new")
    partner.refresh_from_db()
    assert (partner.email, partner.email_normalized) == ("jane@old.example", "jane@old.example")


def test_contact_find_or_create() -> None:
    existing = _partner("Bob", "bob@example.com")
    assert contact_find_or_create(text="Robert <BOB@example.com>") == existing
    new = contact_find_or_create(text=" Jane Doe <jane@example.com> ")
    assert (new.name, new.email, new.email_normalized) == ("Jane Doe", "jane@example.com", "jane@example.com")
    assert contact_find_or_create(text="ann@example.com").name == "ann"
    # An archived contact is not brought back: typing its address makes a new contact.
    gone = _partner("Gone", "gone@example.com", active=False)
    again = contact_find_or_create(text="gone@example.com")
    assert again != gone and again.active
    for text in ("", "not an address"):
        with pytest.raises(InvalidEmailError):
            contact_find_or_create(text=text)
    assert Partner.objects.count() == 5


# --- bounce counter and blacklist ---------------------------------------------------------------
def test_bounce_counter_counts_and_resets_for_every_contact_of_the_address() -> None:
    active = _partner("Bob", "bob@example.com")
    archived = _partner("Old Bob", "Bob <BOB@example.com>", active=False)
    other = _partner("Carol", "carol@example.com", message_bounce=2)
    assert contact_bounce_increment(email="bob@example.com") == 2
    assert contact_bounce_increment(email="Bob <bob@EXAMPLE.com>") == 2
    assert [p.message_bounce for p in Partner.objects.filter(pk__in=[active.pk, archived.pk])] == [2, 2]
    assert contact_bounce_increment(email="nobody@example.com") == 0
    assert contact_bounce_increment(email="") == 0
    assert contact_bounce_reset(email="BOB@example.com") == 2
    assert contact_bounce_reset(email="bob@example.com") == 0  # nothing left to reset
    assert set(Partner.objects.values_list("message_bounce", flat=True)) == {0, 2}
    other.refresh_from_db()
    assert other.message_bounce == 2


def test_blacklist_covers_every_contact_of_the_address_once() -> None:
    _partner("Bob", "bob@example.com")
    _partner("Old Bob", "bob@example.com", active=False)
    carol = _partner("Carol", "carol@example.com")
    assert contact_blacklist_add(email="Bob@Example.com") == 2
    assert contact_blacklist_add(email="bob@example.com") == 0  # already blacklisted
    assert contact_blacklist_add(email="") == 0
    assert list(Partner.objects.filter(is_blacklisted=True).values_list("name", flat=True).order_by("id")) == [
        "Bob",
        "Old Bob",
    ]
    carol.refresh_from_db()
    assert not carol.is_blacklisted
