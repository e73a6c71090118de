"""The queue screens speak the user's language (French, Japanese): Odoo's own words for the states
and buttons, plural-aware messages and translated API errors, while SMTP answers stay as received."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import translation

from chatter.models import FailureType, Message, Notification, NotificationStatus
from demo.models import Lead
from mailcore.models import Partner
from mailqueue.models import Mail, MailState
from mailqueue.support import queue_checks, support_bundle
from tests.languages import compile_catalogues, staff_client_in

LOCALE = Path(__file__).resolve().parent.parent / "locale"
MAILCORE_LOCALE = Path(__file__).resolve().parent.parent.parent / "mailcore" / "locale"
SMTP_ANSWER = "550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown"


@pytest.fixture(scope="module", autouse=True)
def _compiled() -> None:
    compile_catalogues(LOCALE)
    compile_catalogues(MAILCORE_LOCALE)  # the failure summaries and the diagnostics' words


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


SUMMARIES = {"fr": "Destinataire inconnu", "ja": "宛先が存在しません"}


@pytest.mark.django_db
@pytest.mark.parametrize("lang", ["fr", "ja"])
def test_failure_summary_is_translated_everywhere_but_the_reason_stays_english(lang: str) -> None:
    """The queue screen, the failure dialog and the API show one summary, in the user's language."""
    mail = _failed_mail()
    Notification.objects.filter(message=mail.message).update(
        notification_status=NotificationStatus.EXCEPTION, failure_type=FailureType.MAIL_SMTP, failure_reason=SMTP_ANSWER
    )
    client = staff_client_in(lang)
    summary = SUMMARIES[lang]

    queue = client.get(reverse("mailqueue:list")).content.decode()
    assert f'<div class="small failure-summary" style="color:var(--danger)" title="{SMTP_ANSWER}">{summary}</div>' in (
        queue.replace("&lt;", "<").replace("&gt;", ">")
    )
    dialog = client.get(reverse("chatter:resend", args=[mail.message_id])).content.decode()
    assert f'<div class="reason">{summary}</div>' in dialog
    assert "Recipient unknown" not in queue + dialog

    rows = client.get("/api/queue/").json()
    row = next(r for r in (rows["results"] if isinstance(rows, dict) else rows) if r["id"] == mail.pk)
    assert row["failure_summary"] == summary  # field names stay English, the words follow the language
    assert row["failure_reason"] == SMTP_ANSWER  # the remote server's protocol text, as stored

    mail.refresh_from_db()
    assert mail.failure_reason == SMTP_ANSWER
    assert Notification.objects.get(message=mail.message).failure_reason == SMTP_ANSWER


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("lang", "titles", "failed"),
    [
        (
            "fr",
            ["Taux de rebond", "Retard de la file d’attente", "E-mails en échec", "Celery beat", "Actions planifiées"],
            "1 e-mail en Échec de livraison ; 0 destinataire avec une enveloppe rouge.",
        ),
        (
            "ja",
            ["バウンス率", "キューの遅延", "送信失敗したEメール", "Celery beat", "スケジュールされたアクション"],
            "配信失敗のEメール 1 通、赤い封筒の宛先 0 件。",
        ),
    ],
)
def test_queue_checks_in_french_and_japanese(lang: str, titles: list[str], failed: str) -> None:
    _failed_mail()
    with translation.override(lang):
        checks = {check.key: check for check in queue_checks()}
        assert [check.title for check in checks.values()] == titles
        assert checks["failed_mail"].summary == failed
        assert checks["failed_mail"].items[0].text.startswith(SUMMARIES[lang] + ": 550 5.1.1")
        assert (
            checks["failed_mail"].items[0].url_label
            == {"fr": "Dossier pour le support", "ja": "サポート用パッケージ"}[lang]
        )


@pytest.mark.django_db
def test_the_support_bundle_stays_english_for_support() -> None:
    """The bundle goes to support next to English SMTP answers: one language, whoever downloads it."""
    mail = _failed_mail()
    with translation.override("ja"):
        archive = zipfile.ZipFile(io.BytesIO(support_bundle(mail.pk)))
    facts = archive.read("facts.txt").decode()
    assert "Failed e-mails [Warning]: 1 e-mail in Delivery Failed" in facts
    assert "Daily sending quota [" in facts
    assert "配信失敗" not in facts
    assert translation.get_language() == "en"  # the override ended with the bundle


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("lang", "names"),
    [
        ("fr", ["Mail : Gestionnaire de la file d’attente des e-mails", "Base : Nettoyage automatique"]),
        ("ja", ["メール: Eメール送信予約管理機能", "ベース: 自動バキューム"]),
    ],
)
def test_scheduled_actions_carry_odoos_translated_names(lang: str, names: list[str]) -> None:
    """The seed page in each language names the crons; the page shows those names, while the
    name kept in the database (the key beat and the forms use) stays the English one."""
    from mailqueue.crons import QUEUE_CRON, crons_ensure

    crons_ensure()
    client = staff_client_in(lang)
    page = client.get(reverse("mailqueue:crons")).content.decode()
    for name in names:
        assert name in page, name
    assert f'value="{QUEUE_CRON}"' in page  # the form still posts the key
    answer = client.post(reverse("mailqueue:cron_run"), {"name": QUEUE_CRON}, follow=True).content.decode()
    assert names[0] in answer
