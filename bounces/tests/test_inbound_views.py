"""The inbound log UI: staff only, filters, search, detail with decision and preview, raw .eml."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse

from bounces import services
from bounces.models import InboundMessage
from bounces.tests.dsn_builder import make_dsn
from bounces.tests.smtp_talk import make_mail
from demo.models import Lead
from mailcore.models import AliasDomain
from mailcore.signed_addresses import reply_address

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client: Client) -> Client:
    user = get_user_model().objects.create_user("admin", "admin@example.com", "pw", is_staff=True)
    client.force_login(user)
    return client


@pytest.fixture
def rows() -> dict[str, InboundMessage]:
    lead = Lead.objects.create(name="Logged lead")
    ct = ContentType.objects.get_for_model(Lead)
    token = reply_address(alias_domain=AliasDomain(name="mailcore.localhost"), model_id=ct.pk, res_id=lead.pk)
    accepted = services.inbound_receive(
        raw=make_mail(subject="Accepted one <b>", body="Body of the accepted mail"),
        mail_from="a@example.com",
        rcpt_tos=[token],
    )
    services.message_process(inbound_id=accepted.inbound_id)
    rejected = services.inbound_receive(
        raw=make_mail(subject="Direct to catchall"), mail_from="b@example.com", rcpt_tos=["catchall@mailcore.localhost"]
    )
    bounced = services.inbound_receive(
        raw=make_dsn(recipient="gone@example.net"), mail_from="", rcpt_tos=["bounce@mailcore.localhost"]
    )
    services.message_process(inbound_id=bounced.inbound_id)
    return {
        "accepted": InboundMessage.objects.get(pk=accepted.inbound_id),
        "rejected": InboundMessage.objects.get(pk=rejected.inbound_id),
        "bounce": InboundMessage.objects.get(pk=bounced.inbound_id),
    }


def test_login_and_staff_are_required(client: Client, rows: dict[str, InboundMessage]) -> None:
    url = reverse("bounces:inbound_list")
    assert client.get(url).status_code == 302
    user = get_user_model().objects.create_user("plain", "plain@example.com", "pw")
    client.force_login(user)
    assert client.get(url).status_code == 403
    assert client.get(reverse("bounces:inbound_eml", args=[rows["accepted"].pk])).status_code == 403


def test_list_filters_and_search(staff_client: Client, rows: dict[str, InboundMessage]) -> None:
    url = reverse("bounces:inbound_list")
    page = staff_client.get(url).content.decode()
    assert all(f'data-inbound-id="{row.pk}"' in page for row in rows.values())
    for name, row in rows.items():
        filtered = staff_client.get(url, {"filter": name}).content.decode()
        assert f'data-inbound-id="{row.pk}"' in filtered
        assert sum(f'data-inbound-id="{r.pk}"' in filtered for r in rows.values()) == 1
    searched = staff_client.get(url, {"q": "catchall"}).content.decode()
    assert (
        f'data-inbound-id="{rows["rejected"].pk}"' not in staff_client.get(url, {"q": "Accepted one"}).content.decode()
    )
    assert f'data-inbound-id="{rows["accepted"].pk}"' in staff_client.get(url, {"q": "Accepted one"}).content.decode()
    assert f'data-inbound-id="{rows["rejected"].pk}"' in searched


def test_detail_shows_envelope_decision_record_and_preview(
    staff_client: Client, rows: dict[str, InboundMessage]
) -> None:
    accepted = staff_client.get(reverse("bounces:inbound_detail", args=[rows["accepted"].pk])).content.decode()
    assert "a@example.com" in accepted
    assert "Accepted one &lt;b&gt;" in accepted
    assert "Logged lead" in accepted  # the routed record
    assert "Body of the accepted mail" in accepted  # the parsed preview
    assert rows["accepted"].smtp_reply in accepted
    rejected = staff_client.get(reverse("bounces:inbound_detail", args=[rows["rejected"].pk])).content.decode()
    assert "Written directly to the catchall address without any reference." in rejected
    assert "550-5.7.1 The email sent to catchall@mailcore.localhost" in rejected
    bounce = staff_client.get(reverse("bounces:inbound_detail", args=[rows["bounce"].pk])).content.decode()
    assert "gone@example.net" in bounce and "5.1.1" in bounce


def test_download_eml_returns_the_raw_bytes(staff_client: Client, rows: dict[str, InboundMessage]) -> None:
    row = rows["bounce"]
    response = staff_client.get(reverse("bounces:inbound_eml", args=[row.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "message/rfc822"
    assert response["Content-Disposition"] == f'attachment; filename="inbound-{row.queue_id}.eml"'
    assert response.content == bytes(row.raw)


def test_admin_pages_render(staff_client: Client, rows: dict[str, InboundMessage]) -> None:
    user = get_user_model().objects.get(username="admin")
    user.is_superuser = True
    user.save()
    assert staff_client.get(reverse("admin:bounces_inboundmessage_changelist")).status_code == 200
    assert (
        staff_client.get(reverse("admin:bounces_inboundmessage_change", args=[rows["accepted"].pk])).status_code == 200
    )
    assert staff_client.get(reverse("admin:bounces_bounceevent_changelist")).status_code == 200


def test_refusals_tab_lists_refused_commands_with_the_flood_count(
    staff_client: Client, rows: dict[str, InboundMessage]
) -> None:
    services.inbound_refusals_record(
        batch=services.RefusalBatch(
            [
                services.Refusal(
                    at=1_800_000_001,
                    remote_address="192.0.2.7",
                    helo="mx.example.org",
                    mail_from="alice@example.org",
                    recipient="nobody@mailcore.localhost",
                    command="RCPT TO:<nobody@mailcore.localhost>",
                    reply="550 5.1.1 <nobody@mailcore.localhost>: Recipient address rejected: mailbox unavailable",
                    reason="No active alias by that name.",
                ),
                services.Refusal(at=1_800_000_002, remote_address="192.0.2.8", reply="552 5.3.4 Message too big"),
            ],
            {("192.0.2.7", 30_000_000): 41},
        )
    )
    url = reverse("bounces:inbound_list")
    everything = staff_client.get(url).content.decode()
    assert 'href="?filter=refused"' in everything and "Refused in SMTP" in everything
    assert "data-refusal-id" not in everything
    page = staff_client.get(url, {"filter": "refused"}).content.decode()
    assert page.count("data-refusal-id=") == 2
    assert "data-inbound-id" not in page
    for text in ("192.0.2.7", "mx.example.org", "alice@example.org", "nobody@mailcore.localhost", "No active alias"):
        assert text in page
    assert "and 41 more refusals from this address in this minute" in page
    searched = staff_client.get(url, {"filter": "refused", "q": "192.0.2.8"}).content.decode()
    assert searched.count("data-refusal-id=") == 1 and "Message too big" in searched
