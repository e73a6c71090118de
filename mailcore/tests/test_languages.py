"""mailcore's words in the user's language (French, Japanese): the SMTP failure summaries, the
diagnostics, the settings forms and "Test Connection", while the recorded reason, DNS records and
host names stay as they are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import translation

from mailcore.diagnostics import Status, check_admin_email, check_quota, dns_check, domain_reports
from mailcore.models import AliasDomain, MailServer
from mailcore.servers import server_test_connection
from mailcore.smtp_replies import delivery_failure_reason, describe_unknown_failure, summarize_delivery_failure
from mailcore.testing.dns import DnsStandIn
from mailcore.testing.smtp import free_port
from tests.languages import compile_catalogues, staff_client_in

LOCALE = Path(__file__).resolve().parent.parent / "locale"
REASON = delivery_failure_reason(
    "smtp.example.net", "SMTPRecipientsRefused", "550 5.1.1 <bob@example.org>: Recipient address rejected"
)


@pytest.fixture(scope="module", autouse=True)
def _compiled() -> None:
    compile_catalogues(LOCALE)


@pytest.mark.parametrize(
    ("lang", "summary", "mailbox_full", "unknown"),
    [
        ("fr", "Destinataire inconnu", "Boîte aux lettres pleine", "Erreur inconnue : boom"),
        ("ja", "宛先が存在しません", "メールボックス容量超過", "不明なエラー: boom"),
        ("en", "Recipient unknown", "Mailbox full", "Unknown error: boom"),
    ],
)
def test_smtp_summaries_follow_the_active_language(lang: str, summary: str, mailbox_full: str, unknown: str) -> None:
    with translation.override(lang):
        assert summarize_delivery_failure(REASON) == summary
        assert summarize_delivery_failure("smtp; 552 5.2.2 mailbox full") == mailbox_full
        assert describe_unknown_failure("boom") == unknown
    # The recorded reason is the server's protocol text, in English whatever the language.
    assert REASON.endswith("SMTPRecipientsRefused: 550 5.1.1 <bob@example.org>: Recipient address rejected")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("lang", "title", "summary", "label"),
    [
        (
            "fr",
            "Adresse e-mail de l’administrateur",
            "2 comptes utilisent encore l’adresse fictive admin@example.com.",
            "Avertissement",
        ),
        (
            "ja",
            "管理者Eメールアドレス",
            "2 件のアカウントがまだプレースホルダーのアドレス admin@example.com を使用しています。",
            "警告",
        ),
    ],
)
def test_admin_address_check_in_french_and_japanese(lang: str, title: str, summary: str, label: str) -> None:
    get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    get_user_model().objects.create_user("ops", "admin@example.com", "pw", is_staff=True)
    with translation.override(lang):
        check = check_admin_email()
        assert (check.title, check.summary, check.status.label) == (title, summary, label)
        assert [item.text for item in check.items] == (
            ["administrateur", "personnel"] if lang == "fr" else ["管理者", "スタッフ"]
        )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("lang", "title", "summary"),
    [
        ("fr", "Quota d’envoi journalier", "0 e-mails utilisés sur 50 (0 %) ; le quota est réinitialisé le "),
        ("ja", "日次送信上限", "50 通中 0 通のEメールを使用済み(0%)。上限は "),
    ],
)
def test_quota_check_in_french_and_japanese(lang: str, title: str, summary: str, settings: Any) -> None:
    settings.MAILCORE_DAILY_LIMIT = 50
    with translation.override(lang):
        check = check_quota()
    assert check.status is Status.OK
    assert check.title == title
    assert check.summary.startswith(summary)
    assert "UTC" in check.summary  # the reset time keeps its protocol form


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("lang", "no_dkim", "timeout"),
    [
        (
            "fr",
            "Aucune clé DKIM pour le sélecteur « mailcore »",
            "vérification impossible : pas de réponse du serveur DNS",
        ),
        (
            "ja",
            "セレクター「mailcore」のDKIMキーがありません",
            "確認できません: _dmarc.example.com TXT に対するDNSサーバーの応答",
        ),
    ],
)
def test_dns_verdicts_are_translated_in_the_lookup_threads(
    lang: str, no_dkim: str, timeout: str, dns_server: DnsStandIn
) -> None:
    """The lookups run in a thread pool: each thread speaks the language of the request."""
    AliasDomain.objects.create(name="example.com", sequence=20)
    dns_server.add_txt("example.com", "v=spf1 ip4:192.0.2.0/24 -all")
    dns_server.silence("_dmarc.example.com")
    with translation.override(lang):
        report = next(r for r in domain_reports() if r.domain == "example.com")
        check = dns_check([report])
    assert report.dkim.verdict.startswith(no_dkim)
    assert report.dmarc.verdict.startswith(timeout)
    assert report.spf.record == "v=spf1 ip4:192.0.2.0/24 -all"  # DNS records are never translated
    assert (
        check.title
        == {"fr": "SPF, DKIM et DMARC des domaines d’alias", "ja": "エイリアスドメインのSPF、DKIM、DMARC"}[lang]
    )


@pytest.mark.django_db
def test_server_form_in_japanese() -> None:
    page = staff_client_in("ja").get(reverse("mailcore:server_create")).content.decode()
    for text in ["SMTPサーバー", "SMTPポート", "接続の暗号化", "FROMフィルタリング", "タイムアウト(秒)", "有効"]:
        assert text in page
    assert "現在のパスワードを維持する場合は空欄のままにしてください。" in page  # a help text of the form
    assert ">なし<" in page  # the encryption choice "None" (django.contrib.admin's catalogue says "None")
    for english in ["SMTP server", "Connection encryption", "Timeout (seconds)", "Comma-separated", "Active"]:
        assert english not in page


@pytest.mark.django_db
def test_alias_forms_in_japanese() -> None:
    client = staff_client_in("ja")
    page = client.get(reverse("mailcore:alias_create")).content.decode()
    for text in ["新規エイリアス", "エイリアス名", "作成するレコードの種類", "デフォルト値", "投稿先のレコードID"]:
        assert text in page
    for text in ["Eメールの受付元", "全員", "カスタム拒否メッセージ", "エイリアス宛てのメールはレコードを作成します"]:
        assert text in page
    for english in ["Alias name", "Creates records of", "Alias defaults", "Custom rejection message", "Everyone"]:
        assert english not in page
    page = client.get(reverse("mailcore:alias_domain_create")).content.decode()
    for text in ["新規エイリアスドメイン", "バウンスエイリアス", "キャッチオールエイリアス", "デフォルト送信元"]:
        assert text in page
    assert "Bounce alias" not in page and "Catchall alias" not in page


@pytest.mark.django_db
def test_alias_form_errors_in_japanese() -> None:
    domain = AliasDomain.objects.get()
    page = staff_client_in("ja").post(
        reverse("mailcore:alias_create"), {"alias_name": "sales team", "alias_domain": domain.pk}
    )
    assert "@より前の部分のみを、スペースなしで入力してください。" in page.content.decode()


@pytest.mark.django_db
def test_connection_test_speaks_the_users_language() -> None:
    """Odoo's "Test Connection" messages, translated; the system's own error text stays as it is."""
    server = MailServer.objects.create(name="closed", smtp_host="127.0.0.1", smtp_port=free_port(), smtp_timeout=2)
    with translation.override("ja"):
        ok, message = server_test_connection(server)
    assert not ok
    assert message.startswith("応答がありません。サーバーアドレスとポート番号を確認してください。\n ")
