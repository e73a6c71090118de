"""The Technical pages through Django's test client: the e-mail queue, scheduled actions, quota,
outgoing mail servers (Test Connection against a real SMTP sink), alias domains and aliases."""

from __future__ import annotations

import datetime as dt
import email
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse
from django.utils.formats import time_format

from chatter.models import Message
from demo.models import Lead
from mailcore.models import Alias, AliasDomain, MailServer, Partner, QuotaDay
from mailcore.quota import quota_window
from mailcore.testing.smtp import SmtpSink, free_port
from mailqueue import crons
from mailqueue.models import DeliveryLog, Mail, MailState

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> Client:
    user = get_user_model().objects.create_user("boss", email="boss@corp.example", password="pw", is_staff=True)
    client = Client()
    client.force_login(user)
    client.get(reverse("chatter:home"))
    return client


def _mail(subject: str, partner: Partner, *, state: str = MailState.OUTGOING) -> Mail:
    lead = Lead.objects.create(name=f"Lead for {subject}")
    author = Partner.objects.get(user__username="boss")
    message: Message = lead.message_post(
        body=f"<p>{subject} body</p>",
        subject=subject,
        subtype="mt_note",
        partner_ids=[partner.pk],
        author=author,
        urgent=False,
        mail_auto_delete=False,
    )
    mail = Mail.objects.get(message=message)
    if state != MailState.OUTGOING:
        Mail.objects.filter(pk=mail.pk).update(
            state=state, failure_reason="550 5.1.1 unknown" if state == MailState.EXCEPTION else ""
        )
        mail.refresh_from_db()
    return mail


@pytest.fixture
def mails(staff: Client) -> dict[str, Mail]:
    bob = Partner.objects.create(name="Bob Customer", email="bob@example.com")
    carol = Partner.objects.create(name="Carol Buyer", email="carol@example.com")
    return {
        "outgoing": _mail("Renewal", bob),
        "failed": _mail("Billing", carol, state=MailState.EXCEPTION),
        "cancelled": _mail("Invoice", bob, state=MailState.CANCEL),
    }


# --- queue --------------------------------------------------------------------------------------
def test_queue_filters_search_and_buttons(staff: Client, mails: dict[str, Mail]) -> None:
    url = reverse("mailqueue:list")
    assert {m.pk for m in staff.get(url).context["page"].object_list} == {m.pk for m in mails.values()}
    failed = staff.get(url, {"state": "exception"})
    assert [m.pk for m in failed.context["page"].object_list] == [mails["failed"].pk]
    html = failed.content.decode()
    assert "Delivery Failed" in html and 'data-action="retry"' in html and 'data-action="send_now"' not in html
    outgoing = staff.get(url, {"state": "outgoing"}).content.decode()
    assert 'data-action="send_now"' in outgoing and 'data-action="cancel"' in outgoing
    assert 'data-action="retry"' not in outgoing
    by_to = staff.get(url, {"q": "carol@"}).context["page"].object_list
    assert [m.pk for m in by_to] == [mails["failed"].pk]
    by_subject = staff.get(url, {"q": "renew"}).context["page"].object_list
    assert [m.pk for m in by_subject] == [mails["outgoing"].pk]
    by_from = staff.get(url, {"q": "boss@corp"}).context["page"].object_list
    assert len(by_from) == 3
    assert staff.get(url, {"state": "bogus"}).status_code == 200


def test_queue_retry_cancel_and_bulk(staff: Client, mails: dict[str, Mail]) -> None:
    action = reverse("mailqueue:action")
    staff.post(action, {"action": "cancel", "mail_ids": [mails["outgoing"].pk]})
    mails["outgoing"].refresh_from_db()
    assert mails["outgoing"].state == MailState.CANCEL
    response = staff.post(
        action, {"action": "retry", "mail_ids": [m.pk for m in mails.values()], "next": "/queue/?state=cancel"}
    )
    assert response["Location"] == "/queue/?state=cancel"
    assert set(Mail.objects.values_list("state", flat=True)) == {MailState.OUTGOING}
    assert staff.post(action, {"action": "explode", "mail_ids": [1]}).status_code == 400
    empty = staff.post(action, {"action": "retry"}, follow=True)
    assert "Select at least one e-mail first." in empty.content.decode()


def test_queue_send_now_delivers_to_the_sink(staff: Client, mails: dict[str, Mail], smtp_sink: SmtpSink) -> None:
    response = staff.post(
        reverse("mailqueue:action"), {"action": "send_now", "mail_ids": [mails["outgoing"].pk]}, follow=True
    )
    assert "Sent to 1 recipient." in response.content.decode()
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["bob@example.com"]]
    again = staff.post(
        reverse("mailqueue:action"), {"action": "send_now", "mail_ids": [mails["cancelled"].pk]}, follow=True
    )
    assert "Nothing was sent" in again.content.decode()


def test_queue_detail_and_eml(staff: Client, mails: dict[str, Mail]) -> None:
    mail = mails["failed"]
    DeliveryLog.objects.create(
        mail_id_ref=mail.pk,
        message_id="<x@y>",
        recipient="carol@example.com",
        server="127.0.0.1",
        smtp_response="550 5.1.1 unknown",
        success=False,
    )
    html = staff.get(reverse("mailqueue:detail", args=[mail.pk])).content.decode()
    for text in ("Billing", "550 5.1.1 unknown", "Carol Buyer", "attempt-history", "Download .eml", "Open Document"):
        assert text in html
    assert 'sandbox title="Body"' in html  # the body renders in a sandboxed frame
    response = staff.get(reverse("mailqueue:eml", args=[mail.pk]))
    assert response["Content-Type"] == "message/rfc822"
    assert response["Content-Disposition"] == f'attachment; filename="mail-{mail.pk}.eml"'
    parsed = email.message_from_bytes(response.content)
    assert parsed["Subject"] == "Billing"
    assert "carol@example.com" in parsed["To"]
    assert parsed["Message-ID"] == mail.message.message_id
    assert parsed.get_content_type() == "multipart/alternative"
    assert staff.get(reverse("mailqueue:detail", args=[999999])).status_code == 404


# --- crons and quota ----------------------------------------------------------------------------
def test_crons_interval_floor_and_manual_run(staff: Client) -> None:
    crons.crons_ensure()
    html = staff.get(reverse("mailqueue:crons")).content.decode()
    assert crons.QUEUE_CRON in html and "15 minutes is recommended" in html and "data-confirm" in html
    refused = staff.post(reverse("mailqueue:cron_interval"), {"name": crons.QUEUE_CRON, "minutes": "2"}, follow=True)
    assert "The lowest running interval for a cron is 5 minutes" in refused.content.decode()
    assert crons.cron_get(crons.QUEUE_CRON).interval is not None
    assert crons.cron_get(crons.QUEUE_CRON).interval.total_seconds() != 120
    staff.post(reverse("mailqueue:cron_interval"), {"name": crons.QUEUE_CRON, "minutes": "15"})
    assert crons.cron_get(crons.QUEUE_CRON).interval.total_seconds() == 15 * 60
    ran = staff.post(reverse("mailqueue:cron_run"), {"name": crons.QUEUE_CRON}, follow=True)
    assert "was asked to run now" in ran.content.decode()
    assert staff.post(reverse("mailqueue:cron_run"), {"name": "nope"}).status_code == 404
    bad = staff.post(reverse("mailqueue:cron_interval"), {"name": crons.QUEUE_CRON, "minutes": "soon"}, follow=True)
    assert "number of minutes" in bad.content.decode()


def test_quota_page(staff: Client, settings: object) -> None:
    settings.MAILCORE_DAILY_LIMIT = 50  # type: ignore[attr-defined]
    day, _reset = quota_window()
    QuotaDay.objects.create(day=day, count=12)
    html = staff.get(reverse("mailqueue:quota")).content.decode()
    assert 'id="quota-used">12<' in html and 'id="quota-limit">50<' in html and "UTC" in html


def test_quota_reset_time_in_the_user_time_zone_and_utc(staff: Client) -> None:
    _day, reset = quota_window()
    partner = Partner.objects.get(user__username="boss")
    partner.tz = "Asia/Tokyo"
    partner.save(update_fields=["tz"])
    html = staff.get(reverse("mailqueue:quota")).content.decode()
    card = html.split('id="quota-reset"', 1)[1].split("</div></div>", 1)[0]
    tokyo = reset.astimezone(ZoneInfo("Asia/Tokyo"))
    assert f"{time_format(tokyo)} <span" in card and "JST" in card
    assert f"{time_format(reset.astimezone(dt.UTC))} UTC" in card
    assert time_format(tokyo) != time_format(reset.astimezone(dt.UTC))


# --- servers ------------------------------------------------------------------------------------
def test_test_connection_against_a_real_sink(staff: Client, smtp_sink: SmtpSink) -> None:
    ok = staff.post(reverse("mailcore:server_test_builtin"), HTTP_HX_REQUEST="true").content.decode()
    assert "Connection Test Successful!" in ok and "badge-success" in ok
    server = MailServer.objects.create(name="Sink", smtp_host=smtp_sink.host, smtp_port=smtp_sink.port)
    assert (
        "Connection Test Successful!"
        in staff.post(reverse("mailcore:server_test", args=[server.pk]), follow=True).content.decode()
    )
    dead = MailServer.objects.create(name="Dead", smtp_host="127.0.0.1", smtp_port=free_port(), smtp_timeout=2)
    failed = staff.post(reverse("mailcore:server_test", args=[dead.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert "badge-danger" in failed and "Connection Test Successful!" not in failed


def test_server_crud_keeps_the_password(staff: Client) -> None:
    data = {
        "name": "Relay",
        "smtp_host": "smtp.corp.example",
        "smtp_port": "587",
        "smtp_encryption": "starttls",
        "smtp_user": "u",
        "smtp_pass": "secret",
        "from_filter": "corp.example",
        "sequence": "5",
        "smtp_timeout": "30",
        "active": "on",
    }
    assert staff.post(reverse("mailcore:server_create"), data).status_code == 302
    server = MailServer.objects.get(name="Relay")
    page = staff.get(reverse("mailcore:server_edit", args=[server.pk])).content.decode()
    assert "secret" not in page  # never rendered back
    staff.post(reverse("mailcore:server_edit", args=[server.pk]), {**data, "smtp_pass": "", "smtp_port": "2525"})
    server.refresh_from_db()
    assert server.smtp_pass == "secret" and server.smtp_port == 2525
    assert "Relay" in staff.get(reverse("mailcore:servers")).content.decode()
    staff.post(reverse("mailcore:server_delete", args=[server.pk]))
    assert not MailServer.objects.filter(pk=server.pk).exists()


# --- alias domains and aliases ------------------------------------------------------------------
def test_alias_domain_and_alias_crud(staff: Client) -> None:
    staff.post(
        reverse("mailcore:alias_domain_create"),
        {
            "name": "globex.example",
            "bounce_alias": "bounce",
            "catchall_alias": "catchall",
            "default_from": "notifications",
            "sequence": "20",
        },
    )
    domain = AliasDomain.objects.get(name="globex.example")
    assert "bounce@globex.example" in staff.get(reverse("mailcore:alias_domains")).content.decode()
    lead_ct = ContentType.objects.get_for_model(Lead)
    form = staff.get(reverse("mailcore:alias_create")).content.decode()
    assert "Lead" in form and "Partner" not in form  # only models with a chatter
    response = staff.post(
        reverse("mailcore:alias_create"),
        {
            "alias_name": "Sales",
            "alias_domain": domain.pk,
            "alias_model": lead_ct.pk,
            "alias_defaults": '{"stage": "new"}',
            "alias_contact": "followers",
            "alias_bounced_content": "Only our customers may write to sales.",
            "active": "on",
        },
    )
    assert response.status_code == 302
    alias = Alias.objects.get()
    assert alias.alias_name == "sales" and alias.alias_defaults == {"stage": "new"}
    assert alias.alias_contact == "followers"
    listing = staff.get(reverse("mailcore:aliases")).content.decode()
    assert "sales@globex.example" in listing and "Followers only" in listing
    bad = staff.post(
        reverse("mailcore:alias_create"),
        {
            "alias_name": "a b@c",
            "alias_domain": domain.pk,
            "alias_model": lead_ct.pk,
            "alias_defaults": "[1]",
            "alias_contact": "everyone",
        },
    ).content.decode()
    assert "Use the part before the @ only" in bad and "Write an object" in bad
    staff.post(reverse("mailcore:alias_delete", args=[alias.pk]))
    assert not Alias.objects.exists()
    staff.post(reverse("mailcore:alias_domain_delete", args=[domain.pk]))
    assert not AliasDomain.objects.filter(pk=domain.pk).exists()


def test_queue_send_now_reports_each_outcome_in_the_users_language(staff: Client, smtp_sink: SmtpSink) -> None:
    """Send Now on rows with different fates says how many of each, with each language's plural."""
    from pathlib import Path

    from tests.languages import compile_catalogues

    compile_catalogues(Path(__file__).resolve().parent.parent / "mailqueue" / "locale")
    smtp_sink.fail("RCPT", "550 5.1.1 <carol@example.com>: Recipient address rejected", address="carol@example.com")
    bob = Partner.objects.create(name="Bob Customer", email="bob@example.com")
    carol = Partner.objects.create(name="Carol Gone", email="carol@example.com")
    action = reverse("mailqueue:action")

    rows = [_mail("To Bob", bob).pk, _mail("To Carol", carol).pk]
    english = staff.post(action, {"action": "send_now", "mail_ids": rows}, follow=True).content.decode()
    assert "Recipients: 1 sent, 1 failed." in english

    Partner.objects.filter(user__username="boss").update(lang="fr")
    rows = [_mail("À Bob", bob).pk, _mail("À Bob encore", bob).pk, _mail("À Carol", carol).pk]
    french = staff.post(action, {"action": "send_now", "mail_ids": rows}, follow=True).content.decode()
    assert "2 envoyés, 1 en échec" in french
