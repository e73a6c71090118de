"""The CSV contact import: every line checked first, per-line errors, nothing half-imported."""

from __future__ import annotations

import pytest

from mailcore.models import Partner
from marketing.exceptions import ContactImportError
from marketing.models import MailingList, MailingSubscription
from marketing.services import contacts_import_csv, mailing_list_create

pytestmark = pytest.mark.django_db


def errors_of(data: bytes, default_list: MailingList | None = None) -> list[tuple[int, str]]:
    with pytest.raises(ContactImportError) as caught:
        contacts_import_csv(data=data, default_list=default_list)
    return [(e.line, e.message) for e in caught.value.errors]


def test_imports_contacts_into_the_named_lists() -> None:
    news, customers = mailing_list_create(name="Newsletter"), mailing_list_create(name="Customers")
    data = (
        b"name,email,list\n"
        b"Azure Interior,Azure.Interior@Example.com,Newsletter\n"
        b"Deco Addict,deco@example.com,Newsletter|customers\n"
        b"\n"
        b",azure.interior@example.com,Customers\n"
    )

    result = contacts_import_csv(data=data)

    assert (result.rows, result.contacts_created, result.contacts_existing) == (3, 2, 0)
    assert (result.subscriptions_added, result.subscriptions_already) == (4, 0)
    azure = Partner.objects.get(email_normalized="azure.interior@example.com")
    assert azure.name == "Azure Interior"  # a later line without a name does not blank it
    assert set(MailingSubscription.objects.filter(contact=azure).values_list("mailing_list__name", flat=True)) == {
        "Newsletter",
        "Customers",
    }
    assert news.subscriptions.count() == 2 and customers.subscriptions.count() == 2


def test_one_bad_line_refuses_the_whole_file_and_every_bad_line_is_named() -> None:
    mailing_list_create(name="Newsletter")
    data = (
        b"Name;E-mail;List\n"
        b"Good One;good@example.com;Newsletter\n"
        b"No Address;;Newsletter\n"
        b"Broken;not-an-address;Newsletter\n"
        b"Two;a@example.com, b@example.com;Newsletter\n"
        b"Typo;typo@example.com;Newsleter\n"
    )

    assert errors_of(data) == [
        (3, "no e-mail address"),
        (4, "invalid e-mail address 'not-an-address'"),
        (5, "one address per line, not 'a@example.com, b@example.com'"),
        (6, "no mailing list named 'Newsleter'"),
    ]
    assert not Partner.objects.filter(email_normalized="good@example.com").exists()
    assert MailingSubscription.objects.count() == 0


def test_the_header_must_name_an_email_column_and_a_list_must_be_known() -> None:
    assert errors_of(b"name,address\nA,a@example.com\n") == [
        (1, "no e-mail column: the first line must name the columns, e.g. 'name,email,list'")
    ]
    assert errors_of(b"name,email\nA,a@example.com\n") == [
        (1, "no list column: add a 'list' column or choose a list")
    ]
    assert errors_of(b"") == [(1, "the file is empty")]
    assert errors_of(b"name,email,list\n\n") == [(2, "no contact to import")]


def test_a_file_that_is_not_utf8_is_refused_with_the_line() -> None:
    news = mailing_list_create(name="Newsletter")
    data = "name,email\nZoë,zoe@example.com\nRené,rene@example.com\n".encode("cp1252")
    assert errors_of(data, news) == [
        (2, "the file is not UTF-8 text: save it as 'CSV UTF-8' and import it again")
    ]


def test_a_utf8_file_with_a_byte_order_mark_and_the_default_list() -> None:
    news = mailing_list_create(name="Newsletter")
    data = "\ufeffname,email\nZoë Durand,zoe@example.com\n".encode()
    result = contacts_import_csv(data=data, default_list=news)
    assert result.lists == ["Newsletter"]
    assert Partner.objects.get(email_normalized="zoe@example.com").name == "Zoë Durand"


def test_known_addresses_reuse_their_contact_and_opted_out_members_stay_out() -> None:
    news = mailing_list_create(name="Newsletter")
    known = Partner.objects.create(name="Known Name", email="known@example.com")
    left = Partner.objects.create(name="Left", email="left@example.com", is_blacklisted=True)
    MailingSubscription.objects.create(mailing_list=news, contact=left, opt_out=True)
    data = b"name,email,list\nOther Name,KNOWN@example.com,Newsletter\nLeft,left@example.com,Newsletter\n"

    result = contacts_import_csv(data=data)

    assert (result.contacts_created, result.contacts_existing) == (0, 2)
    assert (result.subscriptions_added, result.kept_opted_out, result.blacklisted) == (1, 1, 1)
    known.refresh_from_db()
    assert known.name == "Known Name"  # an import never renames a contact someone knows
    assert MailingSubscription.objects.get(mailing_list=news, contact=left).opt_out is True


def test_importing_the_same_file_twice_adds_nothing(settings: pytest.FixtureRequest) -> None:
    mailing_list_create(name="Newsletter")
    data = b"email,list\na@example.com,Newsletter\nb@example.com,Newsletter\n"
    contacts_import_csv(data=data)
    again = contacts_import_csv(data=data)
    assert (again.contacts_created, again.contacts_existing) == (0, 2)
    assert (again.subscriptions_added, again.subscriptions_already) == (0, 2)
    assert Partner.objects.count() == 2


def test_a_file_over_the_row_limit_is_refused(settings: pytest.FixtureRequest) -> None:
    settings.MARKETING_IMPORT_MAX_ROWS = 2  # type: ignore[attr-defined]
    news = mailing_list_create(name="Newsletter")
    data = b"email\na@example.com\nb@example.com\nc@example.com\n"
    assert errors_of(data, news) == [(4, "more than 2 contacts: split the file")]
