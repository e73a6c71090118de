"""The demo records in the user's language: Odoo's names for leads, quotations and tickets, their
fields and stages (French, Japanese), while the URLs and the stored values stay the same."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import translation

from chatter.models import Message, TrackingValue
from chatter.selectors import _record_types, record_type_for_slug
from demo.models import Lead, Quotation, Ticket
from mailqueue.services import render_notification_body
from tests.languages import compile_catalogues, staff_client_in

ROOT = Path(__file__).resolve().parent.parent.parent

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module", autouse=True)
def _compiled() -> None:
    for app in ("demo", "chatter", "mailcore"):
        compile_catalogues(ROOT / app / "locale")


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("fr", ["Pistes", "Opportunité", "Étape", "Revenu espéré", "Qualifié", "Nouveau"]),
        ("ja", ["リード", "案件", "ステージ", "予想収益", "見込みあり", "新規"]),
    ],
)
def test_lead_list_in_the_users_language(lang: str, expected: list[str]) -> None:
    Lead.objects.create(name="Office Design Project", stage=Lead.Stage.QUALIFIED)
    Lead.objects.create(name="Quote for 150 carpets")
    page = staff_client_in(lang).get(reverse("chatter:record_list", args=["leads"])).content.decode()
    for text in expected:
        assert text in page, text
    assert "Qualified" not in page
    assert "Office Design Project" in page  # the records' own data is not translated


@pytest.mark.parametrize(
    ("lang", "quotation", "ticket"),
    [
        ("fr", ("Devis", "Bon de commande", "Référence de la commande"), ("Tickets", "Urgente", "Résolu")),
        ("ja", ("見積", "販売オーダ", "オーダ参照"), ("チケット", "緊急", "解決済")),
    ],
)
def test_quotation_and_ticket_names_and_choices(lang: str, quotation: tuple[str, ...], ticket: tuple[str, ...]) -> None:
    with translation.override(lang):
        assert str(Quotation._meta.verbose_name_plural).capitalize() == quotation[0]
        assert Quotation(state=Quotation.State.SALE).get_state_display() == quotation[1]
        assert str(Quotation._meta.get_field("name").verbose_name).capitalize() == quotation[2]
        assert str(Ticket._meta.verbose_name_plural).capitalize() == ticket[0]
        assert Ticket(priority=Ticket.Priority.URGENT).get_priority_display() == ticket[1]
        assert Ticket(stage=Ticket.Stage.SOLVED).get_stage_display() == ticket[2]
    assert Ticket.Stage.SOLVED == "solved"  # stored values stay Odoo's keys


def test_record_urls_do_not_depend_on_who_asked_first() -> None:
    """The record types are cached once per process: a French first visitor must not rename /leads/."""
    _record_types.cache_clear()
    try:
        with translation.override("fr"):
            record_type = record_type_for_slug("leads")
            assert record_type is not None
            assert record_type.label_plural == "Pistes"
        with translation.override("ja"):
            assert record_type.label_plural == "リード"
        assert record_type.label_plural == "Leads"
        assert [rt.slug for rt in _record_types()] == ["leads", "quotations", "tickets"]
    finally:
        _record_types.cache_clear()


def test_a_stage_change_written_in_french_reads_in_japanese() -> None:
    """Tracked changes and subtypes are stored in the company's language and shown in the reader's:
    a French user's stage change reads in Japanese on the record and in a Japanese e-mail (Odoo
    shows the field's description and the subtype's name translated)."""
    with translation.override("fr"):
        lead = Lead.objects.create(name="Office Design Project")
        lead.stage = Lead.Stage.QUALIFIED
        lead.save()
    tracking = TrackingValue.objects.get(message__res_id=lead.pk)
    assert (tracking.field_desc, tracking.old_value_char, tracking.new_value_char) == ("Stage", "New", "Qualified")
    creation = Message.objects.filter(res_id=lead.pk, tracking_values__isnull=True).get()
    assert "Piste" in creation.body  # the creation message is written in its writer's language, as Odoo's

    page = staff_client_in("ja").get(reverse("chatter:record_detail", args=["leads", lead.pk])).content.decode()
    for text in ("ステージ", "新規", "見込みあり", "ステージ変更"):
        assert text in page, text
    assert "Qualified" not in page and "Stage Changed" not in page

    with translation.override("ja"):
        body = render_notification_body(tracking.message, lang="ja")
    assert "ステージ: 新規 → 見込みあり" in body
