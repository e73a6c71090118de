"""The inbound log speaks the user's language (French, Japanese): labels, decisions, bounce
reasons and plurals are translated; the SMTP replies and the refused commands stay as exchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from bounces import services
from bounces.models import InboundMessage
from bounces.tests.dsn_builder import make_dsn
from bounces.tests.smtp_talk import make_mail
from tests.languages import compile_catalogues, staff_client_in

pytestmark = pytest.mark.django_db
LOCALE = Path(__file__).resolve().parent.parent / "locale"


@pytest.fixture(scope="module", autouse=True)
def _compiled() -> None:
    compile_catalogues(LOCALE)


def _rows() -> tuple[InboundMessage, InboundMessage]:
    rejected = services.inbound_receive(
        raw=make_mail(subject="Direct to catchall"), mail_from="b@example.com", rcpt_tos=["catchall@mailcore.localhost"]
    )
    bounced = services.inbound_receive(
        raw=make_dsn(recipient="gone@example.net"), mail_from="", rcpt_tos=["bounce@mailcore.localhost"]
    )
    services.message_process(inbound_id=bounced.inbound_id)
    return InboundMessage.objects.get(pk=rejected.inbound_id), InboundMessage.objects.get(pk=bounced.inbound_id)


def _refusals(more: int) -> None:
    services.inbound_refusals_record(
        batch=services.RefusalBatch(
            [
                services.Refusal(
                    at=1_800_000_001,
                    remote_address="192.0.2.7",
                    helo="",
                    recipient="nobody@mailcore.localhost",
                    command="RCPT TO:<nobody@mailcore.localhost>",
                    reply="550 5.1.1 Recipient address rejected: mailbox unavailable",
                )
            ],
            {("192.0.2.7", 30_000_000): more},
        )
    )


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("fr", ["E-mails entrants", "Refusé", "Rebond", "Refusé en SMTP", "Décision", "Reçu (UTC)"]),
        ("ja", ["受信メール", "拒否", "バウンス", "SMTPで拒否", "判定", "受信日時（UTC）"]),
    ],
)
def test_inbound_log_in_the_users_language(lang: str, expected: list[str]) -> None:
    _rows()
    page = staff_client_in(lang).get(reverse("bounces:inbound_list")).content.decode()
    assert f'<html lang="{lang}">' in page
    for text in expected:
        assert text in page, text
    for english in ("Inbound mail", "Refused in SMTP", "Rejected"):
        assert english not in page, english


def test_detail_translates_labels_and_reasons_but_keeps_the_smtp_reply() -> None:
    rejected, bounced = _rows()
    client = staff_client_in("fr")
    page = client.get(reverse("bounces:inbound_detail", args=[rejected.pk])).content.decode()
    assert "Enveloppe" in page and "Réponse SMTP" in page
    assert "550-5.7.1 The email sent to catchall@mailcore.localhost" in page  # our SMTP reply: protocol text
    page = client.get(reverse("bounces:inbound_detail", args=[bounced.pk])).content.decode()
    assert "Destinataires en rebond" in page
    assert "Utilisateur inconnu" in page  # the bounce reason's label
    assert "Unknown user" not in page


@pytest.mark.parametrize(
    ("lang", "more", "text"),
    [
        ("fr", 1, "et 1 autre refus de cette adresse dans cette minute"),
        ("fr", 41, "et 41 autres refus de cette adresse dans cette minute"),
        ("ja", 41, "このアドレスからこの1分間にさらに 41 件の拒否"),
    ],
)
def test_refusals_tab_uses_the_plural_of_the_language(lang: str, more: int, text: str) -> None:
    _refusals(more)
    page = staff_client_in(lang).get(reverse("bounces:inbound_list"), {"filter": "refused"}).content.decode()
    assert text in page
    assert "550 5.1.1 Recipient address rejected: mailbox unavailable" in page
    assert ("pas de HELO" if lang == "fr" else "HELOなし") in page


def test_english_stays_the_default() -> None:
    _rows()
    page = staff_client_in("en").get(reverse("bounces:inbound_list")).content.decode()
    assert "Inbound mail" in page and "Refused in SMTP" in page
