"""The diagnostics page in the user's language: the checks' titles, summaries, badges and DNS
verdicts (written in Python) are French or Japanese; records and host names stay as published."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from mailcore.models import AliasDomain
from mailcore.testing.dns import DnsStandIn
from tests.languages import compile_catalogues, staff_client_in

ROOT = Path(__file__).resolve().parent.parent.parent

# Every DNS lookup of these tests goes to the stand-in on loopback (the root conftest).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("dns_server")]


@pytest.fixture(scope="module", autouse=True)
def _compiled() -> None:
    for app in ("mailcore", "mailqueue", "console"):
        compile_catalogues(ROOT / app / "locale")


def _section(html: str, section_id: str) -> str:
    match = re.search(rf'<section[^>]*id="{section_id}"[^>]*>(.*?)</section>', html, re.S)
    assert match, f"section {section_id} missing"
    return match.group(0)


PAGES = {
    "fr": {
        "admin": ("Adresse e-mail de l’administrateur", "1 compte utilise encore l’adresse fictive admin@example.com."),
        "quota": ("Quota d’envoi journalier", "0 e-mails utilisés sur 50 (0 %)"),
        "crons": "Actions planifiées",
        "failed": ("E-mails en échec", "Aucun e-mail en Échec de livraison et aucun destinataire en échec."),
        "badge": "Avertissement",
        "dkim": "Aucune clé DKIM pour le sélecteur",
    },
    "ja": {
        "admin": (
            "管理者Eメールアドレス",
            "1 件のアカウントがまだプレースホルダーのアドレス admin@example.com を使用しています。",
        ),
        "quota": ("日次送信上限", "50 通中 0 通のEメールを使用済み(0%)"),
        "crons": "スケジュールされたアクション",
        "failed": ("送信失敗したEメール", "配信失敗のEメールも、送信に失敗した宛先もありません。"),
        "badge": "警告",
        "dkim": "のDKIMキーがありません",
    },
}


@pytest.mark.parametrize("lang", ["fr", "ja"])
def test_diagnostics_page_in_the_users_language(lang: str, settings: Any, dns_server: DnsStandIn) -> None:
    expected = PAGES[lang]
    settings.MAILCORE_DAILY_LIMIT = 50
    get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    AliasDomain.objects.create(name="example.com", sequence=20)
    dns_server.add_txt("example.com", "v=spf1 ip4:192.0.2.0/24 -all")
    html = staff_client_in(lang).get("/diagnostics/").content.decode()
    assert f'<html lang="{lang}">' in html

    admin = _section(html, "check-admin_email")
    title, summary = expected["admin"]
    assert title in admin and summary in admin
    assert expected["badge"] in admin
    quota = _section(html, "check-quota")
    assert expected["quota"][0] in quota and expected["quota"][1] in quota
    assert expected["crons"] in _section(html, "check-crons")
    failed = _section(html, "check-failed_mail")
    assert expected["failed"][0] in failed and expected["failed"][1] in failed

    dns = _section(html, "check-dns")
    assert expected["dkim"] in dns  # looked up in the pool's threads, in the request's language
    assert "v=spf1 ip4:192.0.2.0/24 -all" in dns  # the record as published
    for english in ("Administrator e-mail address", "Daily sending quota", "No DKIM key", "could not check"):
        assert english not in html, english
