"""SPF, DKIM and DMARC diagnostics against a stand-in DNS server on 127.0.0.1."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest

from mailcore.diagnostics import (
    Status,
    check_dkim,
    check_dmarc,
    check_spf,
    dns_check,
    domain_reports,
    make_resolver,
)
from mailcore.models import AliasDomain, MailServer
from mailcore.testing.dns import DnsStandIn


# --- RSA public keys built by hand (no crypto library needed to publish a test key) ---------------
def _der(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return bytes([tag, length]) + content
    size = (length.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + length.to_bytes(size, "big") + content


def rsa_public_key(bits: int) -> str:
    """A base64 SubjectPublicKeyInfo with a ``bits``-bit modulus, as a DKIM p= value."""
    modulus = (1 << (bits - 1)) | 0x1234567 | 1
    modulus_bytes = b"\x00" + modulus.to_bytes(bits // 8, "big")  # leading 0: a positive INTEGER
    rsa_key = _der(0x30, _der(0x02, modulus_bytes) + _der(0x02, (65537).to_bytes(3, "big")))
    algorithm = _der(0x30, _der(0x06, bytes.fromhex("2a864886f70d010101")) + _der(0x05, b""))
    return base64.b64encode(_der(0x30, algorithm + _der(0x03, b"\x00" + rsa_key))).decode()


# --- SPF --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("record", "extra", "status", "verdict"),
    [
        ("v=spf1 ip4:192.0.2.10 -all", {}, Status.OK, "Authorises the sending server"),
        ("v=spf1 ip4:192.0.2.0/24 ~all", {}, Status.OK, "Authorises"),
        ("v=spf1 a:smtp.example.com -all", {("smtp.example.com", "A"): ["192.0.2.10"]}, Status.OK, "Authorises"),
        (
            "v=spf1 mx -all",
            {("example.com", "MX"): ["10 mx1.example.com."], ("mx1.example.com", "A"): ["192.0.2.10"]},
            Status.OK,
            "Authorises",
        ),
        (
            "v=spf1 include:_spf.relay.example.net -all",
            {("_spf.relay.example.net", "TXT"): ['"v=spf1 ip4:192.0.2.0/28 -all"']},
            Status.OK,
            "Authorises",
        ),
        (
            "v=spf1 redirect=_spf.example.org",
            {("_spf.example.org", "TXT"): ['"v=spf1 ip4:192.0.2.10 -all"']},
            Status.OK,
            "Authorises",
        ),
        ("v=spf1 ip4:198.51.100.1 -all", {}, Status.ERROR, "(fail)"),
        ("v=spf1 ip4:198.51.100.1 ~all", {}, Status.WARNING, "(softfail)"),
        ("v=spf1 ip4:198.51.100.1 ?all", {}, Status.WARNING, "(neutral)"),
        ("v=spf1 ip4:198.51.100.1", {}, Status.WARNING, "(neutral)"),
        ("v=spf1 +all", {}, Status.WARNING, "any server"),
        ("v=spf1 include:nothing.example.net -all", {}, Status.ERROR, "permerror"),
        ("v=spf1 ip4:not-an-ip -all", {}, Status.ERROR, "permerror"),
        # Macros are evaluated (RFC 7208 §7): %{i} is the sending address.
        (
            "v=spf1 exists:%{i}.spf.example.com -all",
            {("192.0.2.10.spf.example.com", "A"): ["127.0.0.2"]},
            Status.OK,
            "Authorises",
        ),
        ("v=spf1 exists:%{i}.spf.example.com -all", {}, Status.ERROR, "(fail)"),
        (
            "v=spf1 include:_spf.relay.example.net -all",
            {("_spf.relay.example.net", "TXT"): ['"v=spf1 -ip4:192.0.2.10 +all"']},
            Status.ERROR,
            "(fail)",
        ),
    ],
)
def test_spf_verdicts(
    dns_server: DnsStandIn, record: str, extra: dict[tuple[str, str], list[str]], status: Status, verdict: str
) -> None:
    dns_server.add_txt("example.com", record, "google-site-verification=abc")  # other TXT records are ignored
    for (name, rdtype), values in extra.items():
        dns_server.add(name, rdtype, *values)
    result = check_spf(make_resolver(), "example.com", "192.0.2.10")
    assert result.kind == "SPF"
    assert result.status is status, result
    assert verdict in result.verdict
    assert result.record == record


def test_spf_resolves_the_sending_host_and_lists_includes(dns_server: DnsStandIn) -> None:
    dns_server.add_txt("example.com", "v=spf1 include:_spf.relay.example.net ~all")
    dns_server.add_txt("_spf.relay.example.net", "v=spf1 ip4:203.0.113.0/24 ip6:2001:db8::/32 -all")
    dns_server.add("smtp.relay.example.net", "A", "203.0.113.7")
    dns_server.add("smtp.relay.example.net", "AAAA", "2001:db8::25")
    result = check_spf(make_resolver(), "example.com", "smtp.relay.example.net")
    assert result.status is Status.OK
    assert result.verdict == "Authorises the sending server smtp.relay.example.net."
    assert "Includes: _spf.relay.example.net" in result.details
    assert "203.0.113.7: pass" in result.details and "2001:db8::25: pass" in result.details


def test_spf_one_unauthorised_address_is_enough_to_fail(dns_server: DnsStandIn) -> None:
    dns_server.add_txt("example.com", "v=spf1 ip4:203.0.113.7 -all")
    dns_server.add("smtp.example.com", "A", "203.0.113.7", "203.0.113.8")
    result = check_spf(make_resolver(), "example.com", "smtp.example.com")
    assert result.status is Status.ERROR
    assert "203.0.113.8: fail" in result.details


def test_spf_long_record_split_in_strings(dns_server: DnsStandIn) -> None:
    networks = " ".join(f"ip4:198.51.100.{i}" for i in range(1, 30))
    record = f"v=spf1 {networks} ip4:192.0.2.10 -all"
    assert len(record) > 255  # published as several strings, read back as one text
    dns_server.add_txt("example.com", record)
    result = check_spf(make_resolver(), "example.com", "192.0.2.10")
    assert result.status is Status.OK
    assert result.record == record


def test_spf_missing_and_duplicate(dns_server: DnsStandIn) -> None:
    dns_server.add_txt("example.com", "v=DMARC1; p=none")  # a TXT, but not SPF
    missing = check_spf(make_resolver(), "example.com", "192.0.2.10")
    assert missing.status is Status.ERROR
    assert missing.verdict.startswith("No SPF record")
    assert check_spf(make_resolver(), "nxdomain.example.net", "192.0.2.10").verdict.startswith("No SPF record")
    dns_server.add_txt("example.org", "v=spf1 ip4:192.0.2.10 -all", "v=spf1 -all")
    duplicate = check_spf(make_resolver(), "example.org", "192.0.2.10")
    assert duplicate.status is Status.ERROR
    assert "2 SPF records" in duplicate.verdict


def test_spf_lookup_limit(dns_server: DnsStandIn) -> None:
    includes = " ".join(f"include:s{i}.example.net" for i in range(11))
    dns_server.add_txt("example.com", f"v=spf1 {includes} -all")
    for i in range(11):
        dns_server.add_txt(f"s{i}.example.net", "v=spf1 ip4:198.51.100.1 -all")
    result = check_spf(make_resolver(), "example.com", "192.0.2.10")
    assert result.status is Status.ERROR
    assert "192.0.2.10: permerror: Too many DNS lookups" in result.details  # RFC 7208 §4.6.4: at most 10


@pytest.mark.parametrize("host", ["127.0.0.1", "10.1.2.3", "192.168.0.25", "::1", "localhost.example.com"])
def test_spf_of_a_local_sending_server_cannot_be_checked(dns_server: DnsStandIn, host: str) -> None:
    dns_server.add_txt("example.com", "v=spf1 ip4:192.0.2.10 -all")
    dns_server.add("localhost.example.com", "A", "127.0.0.1")
    result = check_spf(make_resolver(), "example.com", host)
    assert result.status is Status.UNKNOWN
    assert result.verdict.startswith(f"could not check: the sending server {host} is a local address")
    assert result.record == "v=spf1 ip4:192.0.2.10 -all"


def test_spf_dns_failures_are_could_not_check(dns_server: DnsStandIn) -> None:
    dns_server.silence("slow.example.com")
    dns_server.servfail("broken.example.com")
    dns_server.add_txt("example.com", "v=spf1 a:slow.example.com -all")
    started = time.monotonic()
    timeout = check_spf(make_resolver(), "slow.example.com", "192.0.2.10")
    assert time.monotonic() - started < 5
    assert timeout.status is Status.UNKNOWN
    assert timeout.verdict == "could not check: no answer from the DNS server for slow.example.com TXT (timeout)"
    servfail = check_spf(make_resolver(), "broken.example.com", "192.0.2.10")
    assert servfail.status is Status.UNKNOWN
    assert "SERVFAIL" in servfail.verdict
    nested = check_spf(make_resolver(), "example.com", "192.0.2.10")
    assert nested.status is Status.UNKNOWN and "slow.example.com A" in nested.verdict


# --- DKIM -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("record", "status", "verdict"),
    [
        (f"v=DKIM1; k=rsa; p={rsa_public_key(2048)}", Status.OK, "RSA key of 2048 bits"),
        (f"v=DKIM1; p={rsa_public_key(1024)}", Status.WARNING, "2048 bits are recommended"),
        (f"v=DKIM1; k=rsa; p={rsa_public_key(512)}", Status.ERROR, "only 512 bits"),
        ("v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", Status.OK, "(ed25519)"),
        ("v=DKIM1; k=rsa; p=", Status.ERROR, "revoked"),
        ("v=DKIM1; k=rsa; p=not*base64", Status.ERROR, "not valid base64"),
        ("v=DKIM1; k=rsa; p=aGVsbG8=", Status.ERROR, "not an RSA public key"),
    ],
)
def test_dkim_verdicts(dns_server: DnsStandIn, record: str, status: Status, verdict: str) -> None:
    dns_server.add_txt("sel1._domainkey.example.com", record)
    result = check_dkim(make_resolver(), "example.com", "sel1")
    assert result.name == "sel1._domainkey.example.com"
    assert result.status is status, result
    assert verdict in result.verdict
    assert result.record == record


def test_dkim_missing_key(dns_server: DnsStandIn) -> None:
    dns_server.add_txt("other._domainkey.example.com", f"v=DKIM1; p={rsa_public_key(2048)}")
    result = check_dkim(make_resolver(), "example.com", "mailcore")
    assert result.status is Status.ERROR
    assert result.verdict.startswith("No DKIM key for selector 'mailcore'")


def test_dkim_timeout(dns_server: DnsStandIn) -> None:
    dns_server.silence("mailcore._domainkey.example.com")
    result = check_dkim(make_resolver(), "example.com", "mailcore")
    assert result.status is Status.UNKNOWN
    assert result.verdict.startswith("could not check: no answer")


# --- DMARC ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("record", "status", "verdict"),
    [
        ("v=DMARC1; p=reject; rua=mailto:dmarc@example.com", Status.OK, "Policy reject"),
        ("v=DMARC1; p=quarantine; pct=50", Status.OK, "Policy quarantine"),
        ("v=DMARC1; p=none", Status.WARNING, "monitoring only"),
        ("v=DMARC1; rua=mailto:x@example.com", Status.ERROR, "no valid policy"),
        ("v=DMARC1; p=sometimes", Status.ERROR, "no valid policy"),
    ],
)
def test_dmarc_verdicts(dns_server: DnsStandIn, record: str, status: Status, verdict: str) -> None:
    dns_server.add_txt("_dmarc.example.com", record)
    result = check_dmarc(make_resolver(), "example.com")
    assert result.name == "_dmarc.example.com"
    assert result.status is status
    assert verdict in result.verdict
    assert result.record == record


def test_dmarc_details() -> None:
    with DnsStandIn() as server:
        server.add_txt("_dmarc.example.com", "v=DMARC1; p=reject; sp=quarantine; pct=100; rua=mailto:d@example.com")
        resolver = make_resolver()
        resolver.nameservers = [server.host]
        resolver.port = server.port
        result = check_dmarc(resolver, "example.com")
    assert result.details == (
        "Policy: p=reject",
        "Subdomain policy: sp=quarantine",
        "Applied to 100% of failing mail (pct)",
        "Aggregate reports to mailto:d@example.com",
    )


def test_dmarc_missing_duplicate_and_inherited(dns_server: DnsStandIn) -> None:
    missing = check_dmarc(make_resolver(), "example.com")
    assert missing.status is Status.WARNING and missing.verdict.startswith("No DMARC record")
    dns_server.add_txt("_dmarc.example.net", "v=DMARC1; p=reject", "v=DMARC1; p=none")
    duplicate = check_dmarc(make_resolver(), "example.net")
    assert duplicate.status is Status.ERROR and "2 DMARC records" in duplicate.verdict
    # A subdomain without its own record takes the organizational domain's, with sp= when given.
    dns_server.add_txt("_dmarc.example.org", "v=DMARC1; p=reject; sp=none")
    inherited = check_dmarc(make_resolver(), "mail.example.org")
    assert inherited.name == "_dmarc.example.org"
    assert inherited.status is Status.WARNING and "monitoring only" in inherited.verdict
    assert "Inherited from the organizational domain (_dmarc.example.org)." in inherited.details


def test_dmarc_organizational_domain_follows_the_public_suffix_list(dns_server: DnsStandIn) -> None:
    dns_server.add_txt("_dmarc.co.uk", "v=DMARC1; p=none")  # a public suffix: never an organization
    dns_server.add_txt("_dmarc.example.co.uk", "v=DMARC1; p=reject")
    inherited = check_dmarc(make_resolver(), "news.mail.example.co.uk")
    assert inherited.name == "_dmarc.example.co.uk"
    assert inherited.status is Status.OK


# --- every alias domain -----------------------------------------------------------------------------
def _publish_good_domain(server: DnsStandIn, domain: str, selector: str = "mailcore") -> None:
    server.add_txt(domain, "v=spf1 include:_spf.relay.example.net -all")
    server.add_txt("_spf.relay.example.net", "v=spf1 ip4:203.0.113.0/24 -all")
    server.add("smtp.relay.example.net", "A", "203.0.113.7")
    server.add_txt(f"{selector}._domainkey.{domain}", f"v=DKIM1; k=rsa; p={rsa_public_key(2048)}")
    server.add_txt(f"_dmarc.{domain}", "v=DMARC1; p=reject")


@pytest.mark.django_db
def test_domain_reports_check_every_alias_domain(dns_server: DnsStandIn, settings: Any) -> None:
    settings.MAILCORE_SMTP_HOST = "smtp.relay.example.net"
    settings.MAILCORE_DKIM_SELECTOR = "s2026"
    AliasDomain.objects.create(name="example.com", sequence=20)
    AliasDomain.objects.create(name="bad.example.net", sequence=30)
    _publish_good_domain(dns_server, "example.com", selector="s2026")
    dns_server.add_txt("bad.example.net", "v=spf1 ip4:198.51.100.1 -all")

    reports = {r.domain: r for r in domain_reports()}

    assert list(reports) == ["mailcore.localhost", "example.com", "bad.example.net"]
    good = reports["example.com"]
    assert good.sending_host == "smtp.relay.example.net"
    assert [v.status for v in good.verdicts] == [Status.OK, Status.OK, Status.OK]
    assert good.dkim.name == "s2026._domainkey.example.com"
    bad = reports["bad.example.net"]
    assert (bad.spf.status, bad.dkim.status, bad.dmarc.status) == (Status.ERROR, Status.ERROR, Status.WARNING)
    assert bad.status is Status.ERROR
    # The default development domain is not public: no lookup at all, and it says why.
    local = reports["mailcore.localhost"]
    assert local.public is False and local.status is Status.WARNING
    assert "not a public domain" in local.spf.verdict
    assert not [q for q in dns_server.queries if "mailcore.localhost" in q[0]]

    check = dns_check(list(reports.values()))
    assert check.status is Status.ERROR
    assert "SPF bad.example.net" in [item.label for item in check.items]


@pytest.mark.django_db
def test_domain_reports_use_the_server_chosen_for_the_domain(dns_server: DnsStandIn, settings: Any) -> None:
    settings.MAILCORE_SMTP_HOST = "127.0.0.1"
    AliasDomain.objects.all().delete()
    AliasDomain.objects.create(name="example.com")
    MailServer.objects.create(name="Other", smtp_host="smtp.other.example.net", from_filter="other.example.org")
    MailServer.objects.create(name="Relay", smtp_host="smtp.relay.example.net", from_filter="example.com")
    _publish_good_domain(dns_server, "example.com")
    (report,) = domain_reports()
    assert report.sending_host == "smtp.relay.example.net"
    assert report.spf.status is Status.OK


@pytest.mark.django_db
def test_domain_reports_without_a_usable_resolver(settings: Any) -> None:
    settings.MAILCORE_DNS_NAMESERVER = "not-an-address"
    AliasDomain.objects.create(name="example.com", sequence=20)
    reports = {r.domain: r for r in domain_reports()}
    report = reports["example.com"]
    assert {v.status for v in report.verdicts} == {Status.UNKNOWN}
    assert report.spf.verdict.startswith("could not check: no DNS resolver")


@pytest.mark.django_db
def test_domain_reports_time_out_quickly_and_never_raise(dns_server: DnsStandIn) -> None:
    AliasDomain.objects.create(name="example.com", sequence=20)
    for name in ("example.com", "mailcore._domainkey.example.com", "_dmarc.example.com"):
        dns_server.silence(name)
    started = time.monotonic()
    reports = {r.domain: r for r in domain_reports()}
    # Looked up in parallel: about one timeout (0.5 s), not three.
    assert time.monotonic() - started < 3
    assert {v.status for v in reports["example.com"].verdicts} == {Status.UNKNOWN}
    assert all(v.verdict.startswith("could not check:") for v in reports["example.com"].verdicts)


@pytest.mark.django_db
def test_no_alias_domain() -> None:
    AliasDomain.objects.all().delete()
    assert domain_reports() == []
    assert dns_check([]).status is Status.WARNING
