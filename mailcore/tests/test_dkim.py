"""DKIM keys of the alias domains, signatures verified by dkimpy, and the diagnostics' comparison."""

from __future__ import annotations

import base64
from typing import Any

import dkim
import pytest
from cryptography.hazmat.primitives.serialization import load_der_public_key
from django.test import Client
from django.urls import reverse

from mailcore.diagnostics import Status, check_dkim, make_resolver
from mailcore.dkim import dkim_generate_key, dkim_record, dkim_sign, dkim_signing_domain
from mailcore.models import AliasDomain
from mailcore.testing.dns import DnsStandIn

pytestmark = pytest.mark.django_db

MESSAGE = (
    b"From: Sales <sales@shop.example.com>\r\nTo: zoe@example.net\r\nSubject: Spring offers\r\n"
    b"Message-ID: <1@shop.example.com>\r\nList-Unsubscribe: <https://crm.example.com/u/1/>\r\n"
    b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\nHello Zoe,\r\nour offers.\r\n"
)


@pytest.fixture
def domain() -> AliasDomain:
    alias_domain = AliasDomain.objects.create(name="example.com")
    dkim_generate_key(alias_domain=alias_domain, selector="mc2026")
    return alias_domain


def dns_for(alias_domain: AliasDomain) -> Any:
    record = dkim_record(alias_domain)
    assert record is not None

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        return record.value.encode() if name.decode().rstrip(".") == record.name else b""

    return lookup


def test_a_generated_key_is_2048_bit_rsa_published_under_its_selector(domain: AliasDomain) -> None:
    record = dkim_record(domain)
    assert record is not None and record.name == "mc2026._domainkey.example.com"
    assert record.value.startswith("v=DKIM1; k=rsa; p=")
    key = load_der_public_key(base64.b64decode(record.value.split("p=")[1]))
    assert key.key_size == 2048  # type: ignore[union-attr]
    assert dkim_record(AliasDomain.objects.create(name="other.example")) is None


def test_dkimpy_verifies_the_signature_and_refuses_a_changed_body(domain: AliasDomain) -> None:
    signed = dkim_sign(MESSAGE, domain)
    assert signed.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com;")
    header = signed.split(b"\r\n\r\n")[0].decode()
    assert "list-unsubscribe-post" in header.lower()  # RFC 8058: the one-click headers are signed
    assert dkim.verify(signed, dnsfunc=dns_for(domain))
    assert not dkim.verify(signed.replace(b"our offers", b"our 0ffers"), dnsfunc=dns_for(domain))


def test_the_signing_domain_is_the_from_domain_or_a_parent_with_a_key(domain: AliasDomain) -> None:
    sub = AliasDomain.objects.create(name="shop.example.com")
    domains = list(AliasDomain.objects.all())
    assert dkim_signing_domain("Sales <sales@shop.example.com>", domains) == domain  # the sub has no key
    dkim_generate_key(alias_domain=sub)
    assert dkim_signing_domain("sales@shop.example.com", list(AliasDomain.objects.all())) == sub  # the closest
    assert dkim_signing_domain("someone@example.org", domains) is None
    assert dkim_signing_domain("not an address", domains) is None
    assert dkim_signing_domain("x@notexample.com", domains) is None


def test_diagnostics_compare_the_published_key_with_the_signing_key(
    domain: AliasDomain, dns_server: DnsStandIn
) -> None:
    record = dkim_record(domain)
    assert record is not None
    signing_key = record.value.split("p=")[1]
    dns_server.add_txt(record.name, record.value)
    assert check_dkim(make_resolver(), "example.com", "mc2026", signing_key).status is Status.OK

    old = AliasDomain.objects.create(name="old.example.com")
    old_record = dkim_generate_key(alias_domain=old, selector="mc2026")
    dns_server.add_txt("mc2026._domainkey.old.example.com", old_record.value)
    dkim_generate_key(alias_domain=old)  # replaced, the new record not published yet
    new_key = (dkim_record(old) or old_record).value.split("p=")[1]
    stale = check_dkim(make_resolver(), "old.example.com", "mc2026", new_key)
    assert stale.status is Status.ERROR
    assert stale.verdict.startswith("The published key is not the one mailcore signs this domain's mail with")


def test_staff_generate_a_key_on_the_alias_domain_page(admin_client: Client) -> None:
    alias_domain = AliasDomain.objects.create(name="example.org")
    page = admin_client.get(reverse("mailcore:alias_domain_edit", args=[alias_domain.pk])).content.decode()
    assert "No key yet: this domain's mail is not signed." in page
    url = reverse("mailcore:alias_domain_dkim", args=[alias_domain.pk])
    refused = admin_client.post(url, {"selector": "bad selector!"}, follow=True).content.decode()
    assert "A selector is letters, digits and hyphens" in refused
    page = admin_client.post(url, {"selector": "news2026"}, follow=True).content.decode()
    assert "New DKIM key generated" in page and "news2026._domainkey.example.org" in page
    alias_domain.refresh_from_db()
    assert alias_domain.dkim_selector == "news2026" and alias_domain.dkim_private_key.startswith("-----BEGIN")


def test_the_sender_signs_each_row_once_and_every_recipient_verifies(smtp_sink: Any) -> None:
    from chatter.tests.factories import PartnerFactory
    from mailqueue.sender import send_mails
    from mailqueue.tests.test_sender import post

    shop = AliasDomain.objects.create(name="shop.example.com", sequence=0)
    dkim_generate_key(alias_domain=shop, selector="s1")
    author = PartnerFactory(name="Sales", email="sales@shop.example.com")
    post(PartnerFactory(email="bob@example.net"), PartnerFactory(email="cleo@example.org"), author=author)
    assert send_mails().sent == 2
    smtp_sink.wait_for(2)

    for received in smtp_sink.messages:
        assert received.data.count(b"DKIM-Signature:") == 1
        assert b"d=shop.example.com" in received.data and b"s=s1" in received.data
        assert dkim.verify(received.data, dnsfunc=dns_for(shop)), received.data[:400]


def test_mail_from_a_domain_without_a_key_is_not_signed(smtp_sink: Any) -> None:
    from chatter.tests.factories import PartnerFactory
    from mailqueue.sender import send_mails
    from mailqueue.tests.test_sender import post

    post(PartnerFactory(email="bob@example.net"), author=PartnerFactory(email="ann@unsigned.example"))
    assert send_mails().sent == 1
    smtp_sink.wait_for(1)
    assert b"DKIM-Signature:" not in smtp_sink.messages[0].data
