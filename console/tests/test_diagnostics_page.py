"""The /diagnostics/ page and the support bundle download: staff only, every section rendered."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from chatter.models import FailureType
from chatter.tests.factories import LeadFactory, PartnerFactory
from mailcore.models import AliasDomain
from mailcore.testing.dns import DnsStandIn
from mailqueue.models import Mail, MailState

# Every DNS lookup of these tests goes to the stand-in on loopback (the root conftest).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("dns_server")]

SECTIONS = [
    "check-admin_email",
    "check-quota",
    "check-bounce_rate",
    "check-queue_lag",
    "check-failed_mail",
    "check-crons",
    "check-dns",
    "check-log_files",
    "support-bundle",
]


@pytest.fixture
def staff_client(client: Client) -> Client:
    user = get_user_model().objects.create_user("ops", "ops@company.example.org", "pw", is_staff=True)
    client.force_login(user)
    return client


def _section(html: str, section_id: str) -> str:
    match = re.search(rf'<section[^>]*id="{section_id}"[^>]*>(.*?)</section>', html, re.S)
    assert match, f"section {section_id} missing"
    return match.group(0)


def _failed_row() -> Mail:
    lead = LeadFactory()
    message = lead.message_post(body="x", author=PartnerFactory())
    return Mail.objects.create(
        message=message,
        email_to="carol@example.org",
        state=MailState.EXCEPTION,
        subject="Invoice INV/0007",
        failure_type=FailureType.MAIL_SMTP,
        failure_reason="Mail delivery failed via SMTP server 'smtp.example.net'.\nSMTPDataError: 550 5.7.1 no",
    )


# --- access ------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/diagnostics/", "/queue/1/support/", "/diagnostics/support/?mail_id=1"])
def test_anonymous_visitors_are_sent_to_login(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith(f"/login/?next={path.split('?')[0]}")


@pytest.mark.parametrize("path", ["/diagnostics/", "/queue/1/support/", "/diagnostics/support/?mail_id=1"])
def test_non_staff_users_are_refused(client: Client, path: str) -> None:
    client.force_login(get_user_model().objects.create_user("clerk", "clerk@company.example.org", "pw"))
    assert client.get(path).status_code == 403


def test_post_is_not_allowed(staff_client: Client) -> None:
    assert staff_client.post("/diagnostics/").status_code == 405


# --- the page ----------------------------------------------------------------------------------
def test_page_renders_every_section(staff_client: Client, dns_server: DnsStandIn) -> None:
    AliasDomain.objects.create(name="example.com", sequence=20)
    dns_server.add_txt("example.com", "v=spf1 ip4:192.0.2.0/24 -all")
    dns_server.add_txt("_dmarc.example.com", "v=DMARC1; p=reject")
    response = staff_client.get("/diagnostics/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<title>E-mail diagnostics" in html
    for section in SECTIONS:
        _section(html, section)
    # Each alias domain has its SPF, DKIM and DMARC rows.
    table = re.search(r'<table class="dns-report"[^>]*data-domain="example.com".*?</table>', html, re.S)
    assert table
    rows = dict(re.findall(r'<tr data-kind="(\w+)" data-status="(\w+)">', table.group(0)))
    assert rows == {"SPF": "unknown", "DKIM": "error", "DMARC": "ok"}
    assert "v=spf1 ip4:192.0.2.0/24 -all" in table.group(0)
    assert "could not check: the sending server 127.0.0.1 is a local address" in table.group(0)
    assert "No DKIM key for selector &#x27;mailcore&#x27;" in table.group(0)
    assert "mailcore.localhost is not a public domain" in html


def test_placeholder_admin_address_is_flagged(staff_client: Client) -> None:
    get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    section = _section(staff_client.get("/diagnostics/").content.decode(), "check-admin_email")
    assert 'data-status="warning"' in section
    assert "1 account still uses the placeholder address admin@example.com." in section
    assert "<dt>admin</dt>" in section


def test_failed_rows_link_to_their_support_bundle(staff_client: Client) -> None:
    row = _failed_row()
    section = _section(staff_client.get("/diagnostics/").content.decode(), "check-failed_mail")
    assert 'data-status="warning"' in section
    assert f"#{row.pk} Invoice INV/0007" in section
    assert f'href="/queue/{row.pk}/support/"' in section


def test_quota_section(staff_client: Client, settings: Any) -> None:
    settings.MAILCORE_DAILY_LIMIT = 50
    section = _section(staff_client.get("/diagnostics/").content.decode(), "check-quota")
    assert 'data-status="ok"' in section
    assert "0 of 50 e-mails used (0%)" in section


def test_a_broken_check_reads_could_not_check(staff_client: Client, settings: Any) -> None:
    settings.MAILCORE_DAILY_LIMIT = None
    settings.MAILCORE_PLAN = "platinum"
    response = staff_client.get("/diagnostics/")
    assert response.status_code == 200
    section = _section(response.content.decode(), "check-quota")
    assert 'data-status="unknown"' in section
    assert "could not check: QuotaConfigError" in section


def test_dns_timeouts_never_break_the_page(staff_client: Client, dns_server: DnsStandIn) -> None:
    AliasDomain.objects.create(name="example.com", sequence=20)
    for name in ("example.com", "mailcore._domainkey.example.com", "_dmarc.example.com"):
        dns_server.silence(name)
    response = staff_client.get("/diagnostics/")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("could not check: no answer from the DNS server") == 3
    assert re.search(r'<table class="dns-report"[^>]*data-domain="example.com" data-status="unknown"', html)


# --- support bundle ----------------------------------------------------------------------------
def test_support_bundle_download(staff_client: Client) -> None:
    row = _failed_row()
    response = staff_client.get(f"/queue/{row.pk}/support/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert re.fullmatch(
        rf'attachment; filename="mailcore-support-mail-{row.pk}-\d{{8}}T\d{{6}}Z\.zip"', response["Content-Disposition"]
    )
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert f"mail-{row.pk}.eml" in archive.namelist()
        assert "SMTPDataError: 550 5.7.1 no" in archive.read("facts.txt").decode()


def test_support_bundle_of_an_unknown_mail_is_404(staff_client: Client) -> None:
    assert staff_client.get("/queue/424242/support/").status_code == 404


def test_support_bundle_form(staff_client: Client) -> None:
    response = staff_client.get("/diagnostics/support/", {"mail_id": " #17 "})
    assert (response.status_code, response["Location"]) == (302, "/queue/17/support/")
    response = staff_client.get("/diagnostics/support/", {"mail_id": "seventeen"}, follow=True)
    assert response.redirect_chain == [("/diagnostics/", 302)]
    assert "Enter the number of an outgoing e-mail" in response.content.decode()
    # A digit that is not ASCII ("²" passes str.isdigit, not int) is refused the same way, not a 500.
    response = staff_client.get("/diagnostics/support/", {"mail_id": "²"}, follow=True)
    assert response.redirect_chain == [("/diagnostics/", 302)]
