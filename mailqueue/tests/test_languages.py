"""The queue screens speak the user's language (French, Japanese): Odoo's own words for the states
and buttons, plural-aware messages and translated API errors, while SMTP answers stay as received."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from chatter.models import Message
from demo.models import Lead
from mailcore.models import Partner
from mailqueue.models import Mail, MailState
from tests.languages import compile_catalogues, staff_client_in

LOCALE = Path(__file__).resolve().parent.parent / "locale"
SMTP_ANSWER = "550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown"


@pytest.fixture(scope="module", autouse=True)
def _compiled() -> None:
    compile_catalogues(LOCALE)


def _failed_mail() -> Mail:
    bob = Partner.objects.create(name="Bob Customer", email="bob@example.com")
    message: Message = Lead.objects.create(name="Globex chairs").message_post(
        body="<p>Your quotation</p>",
        subject="Quotation",
        subtype="mt_comment",
        partner_ids=[bob.pk],
        author=Partner.objects.create(name="Sally", email="sally@example.com"),
    )
    mail = Mail.objects.get(message=message)
    Mail.objects.filter(pk=mail.pk).update(state=MailState.EXCEPTION, failure_reason=SMTP_ANSWER)
    return mail


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("lang", "expected", "english"),
    [
        ("fr", ["Échec de livraison", "Réessayer", "Réessayer la sélection", "Sortant", "Annulé"], "Retry selected"),
        ("ja", ["配信失敗", "再試行", "選択を再試行", "送信待ち", "取消済"], "Retry selected"),
    ],
)
def test_queue_page_in_the_users_language(lang: str, expected: list[str], english: str) -> None:
    _failed_mail()
    page = staff_client_in(lang).get(reverse("mailqueue:list")).content.decode()
    assert f'<html lang="{lang}">' in page
    for text in expected:
        assert text in page, text
    assert english not in page
    assert "Delivery Failed" not in page
    assert "550 5.1.1" in page  # the failure summary quotes the remote server's answer


@pytest.mark.django_db
def test_detail_page_translates_labels_but_keeps_the_smtp_answer() -> None:
    mail = _failed_mail()
    page = staff_client_in("fr").get(reverse("mailqueue:detail", args=[mail.pk])).content.decode()
    assert "Historique des tentatives" in page
    assert "Télécharger le .eml" in page
    assert "Échec de livraison" in page
    assert "Recipient address rejected: User unknown" in page  # the remote server's words stay as sent


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("lang", "one", "two"),
    [
        ("fr", "1 e-mail annulé.", "2 e-mails annulés."),
        ("ja", "1 件のEメールを取消しました。", "2 件のEメールを取消しました。"),
    ],
)
def test_action_messages_use_the_plural_of_the_language(lang: str, one: str, two: str) -> None:
    client = staff_client_in(lang)
    first, second, third = (_failed_mail() for _ in range(3))
    Mail.objects.update(state=MailState.OUTGOING, failure_reason="")
    url = reverse("mailqueue:action")
    response = client.post(url, {"action": "cancel", "mail_ids": [first.pk]}, follow=True)
    assert [str(m) for m in response.context["messages"]] == [one]
    response = client.post(url, {"action": "cancel", "mail_ids": [second.pk, third.pk]}, follow=True)
    assert [str(m) for m in response.context["messages"]] == [two]


@pytest.mark.django_db
def test_api_errors_are_translated() -> None:
    response = staff_client_in("fr").get("/api/queue/", {"state": "lost"})
    assert response.status_code == 400
    assert response.json() == {
        "state": ["Statut 'lost' inconnu ; valeurs attendues : outgoing, sent, received, exception, cancel."]
    }


@pytest.mark.django_db
def test_english_stays_the_default() -> None:
    _failed_mail()
    page = staff_client_in("en").get(reverse("mailqueue:list")).content.decode()
    assert "Delivery Failed" in page
    assert "Retry selected" in page
