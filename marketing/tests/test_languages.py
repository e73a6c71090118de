"""Campaigns in several languages, and the marketing screens and public pages in each language.

A campaign may carry its text in more languages: each contact receives the variant of its own
language (``Partner.lang``), else the campaign's main text, with the footer in its language.
Needs the compiled catalogues (``make compilemessages``), like every translated page.
"""

from __future__ import annotations

from email import message_from_bytes
from email import policy as email_policy

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import translation

from mailcore.models import Partner
from mailcore.testing.smtp import SmtpSink
from mailqueue.sender import send_mails
from marketing.models import Mailing, MailingState, MailingTranslation
from marketing.queue import process_marketing_queue
from marketing.services import (
    mailing_duplicate,
    mailing_errors,
    mailing_list_create,
    mailing_list_subscribe,
    mailing_put_in_queue,
)
from marketing.tests.test_lists import marketer
from marketing.unsubscribe import unsubscribe_token
from tests.api_helpers import client_for, make_user

pytestmark = pytest.mark.django_db


VARIANTS = {
    "en": ("Spring offers", "<p>Hello {{ contact.first_name }}</p>"),
    "fr": ("Offres de printemps", "<p>Bonjour {{ contact.first_name }}</p>"),
    "ja": ("春のセール", "<p>{{ contact.name }} 様</p>"),
}


def _campaign_in_three_languages() -> Mailing:
    news = mailing_list_create(name="Newsletter")
    contacts = [
        Partner.objects.create(name="Ann Smith", email="ann@example.com", lang="en"),
        Partner.objects.create(name="Zoé Martin", email="zoe@example.com", lang="fr"),
        Partner.objects.create(name="山田 太郎", email="taro@example.com", lang="ja"),
        Partner.objects.create(name="Ana Pop", email="ana@example.com", lang="ro"),  # no Romanian variant
    ]
    mailing_list_subscribe(mailing_list=news, contacts=contacts)
    mailing = Mailing.objects.create(
        subject="Offers", email_from="news@mailcore.localhost", body_html="<p>Main text for {{ contact.name }}</p>"
    )
    mailing.mailing_lists.set([news])
    for lang, (subject, body) in VARIANTS.items():
        MailingTranslation.objects.create(mailing=mailing, lang=lang, subject=subject, body_html=body)
    return mailing


def test_each_contact_receives_the_campaign_in_its_own_language(smtp_sink: SmtpSink) -> None:
    mailing_put_in_queue(mailing=_campaign_in_three_languages())
    process_marketing_queue(time_budget=30)
    assert send_mails().sent == 4
    received = {}
    for message in smtp_sink.wait_for(4):
        parsed = message_from_bytes(message.data, policy=email_policy.default)
        body = parsed.get_body(preferencelist=("html",))
        assert body is not None
        received[message.rcpt_tos[0]] = (str(parsed["Subject"]), body.get_content())

    subject, body = received["ann@example.com"]
    assert subject == "Spring offers" and "Hello Ann" in body and ">Unsubscribe</a>" in body
    subject, body = received["zoe@example.com"]
    assert subject == "Offres de printemps" and "Bonjour Zoé" in body and ">Se désinscrire</a>" in body
    subject, body = received["taro@example.com"]
    assert subject == "春のセール" and "山田 太郎 様" in body and ">配信停止</a>" in body
    # No Romanian variant: the main text, with the footer still in Romanian.
    subject, body = received["ana@example.com"]
    assert subject == "Offers" and "Main text for Ana Pop" in body and ">Dezabonare</a>" in body


def test_an_unknown_placeholder_in_a_variant_stops_the_campaign() -> None:
    mailing = _campaign_in_three_languages()
    assert mailing_errors(mailing) == []
    MailingTranslation.objects.filter(mailing=mailing, lang="fr").update(preview="Salut {{ contact.surnom }}")
    assert mailing_errors(mailing) == [
        "In the preview (Français), {{ contact.surnom }}: contact has no field 'surnom': use name, first_name, email"
    ]
    copy = mailing_duplicate(mailing=mailing)
    assert sorted(copy.translations.values_list("lang", flat=True)) == ["en", "fr", "ja"]
    assert mailing.state == MailingState.DRAFT


def test_the_campaign_form_edits_one_tab_per_language() -> None:
    client = marketer()
    news = mailing_list_create(name="Newsletter")
    data = {
        "subject": "Spring offers",
        "email_from": "news@example.com",
        "reply_to_mode": "new",
        "mailing_lists": [news.pk],
        "body_html": "<p>Hello</p>",
        "fr-subject": "Offres de printemps",
        "fr-body_html": "<p>Bonjour</p>",
        "ja-subject": "",
    }
    form = client.get(reverse("marketing:mailing_create")).content.decode()
    assert 'data-tab="fr"' in form and 'data-tab="ja"' in form and 'data-tab="en"' not in form
    too_long = client.post(reverse("marketing:mailing_create"), {**data, "ro-subject": "x" * 999}).content.decode()
    # Nothing saved, and the Romanian tab (the one with the error) is the one shown.
    assert not Mailing.objects.exists() and 'data-tab="ro" aria-selected="true"' in too_long
    assert 'data-tab-panel="ro" lang="ro" >' in too_long and 'data-tab-panel="fr" lang="fr" hidden>' in too_long
    client.post(reverse("marketing:mailing_create"), data)
    mailing = Mailing.objects.get()
    assert list(mailing.translations.values_list("lang", "subject", "body_html")) == [
        ("fr", "Offres de printemps", "<p>Bonjour</p>")
    ]
    MailingTranslation.objects.create(mailing=mailing, lang="en", subject="Made through the API")
    data.update({"fr-subject": "", "fr-body_html": "", "ja-subject": "春のセール"})
    client.post(reverse("marketing:mailing_edit", args=[mailing.pk]), data)
    # The emptied French tab removed its variant; the English one (not a tab) is kept.
    assert list(mailing.translations.values_list("lang", "subject")) == [
        ("en", "Made through the API"),
        ("ja", "春のセール"),
    ]


def test_the_api_writes_and_reads_the_variants_and_refuses_a_language_twice() -> None:
    user = make_user("api-languages")
    user.user_permissions.add(Permission.objects.get(codename="change_mailinglist"))
    api = client_for(user)
    news = mailing_list_create(name="Newsletter")
    payload = {
        "subject": "Spring offers",
        "email_from": "news@example.com",
        "mailing_lists": [news.pk],
        "translations": [
            {"lang": "fr", "subject": "Offres", "body_html": "<p>{{ contact.surnom }}</p>"},
            {"lang": "ja", "subject": "春"},
        ],
    }
    created = api.post("/api/marketing/campaigns/", payload, format="json")
    assert created.status_code == 201
    assert [(v["lang"], v["subject"]) for v in created.json()["translations"]] == [("fr", "Offres"), ("ja", "春")]
    assert created.json()["problems"] == [
        "In the body (Français), {{ contact.surnom }}: contact has no field 'surnom': use name, first_name, email"
    ]
    campaign = f"/api/marketing/campaigns/{created.json()['id']}/"
    twice = api.patch(campaign, {"translations": [{"lang": "fr"}, {"lang": "fr"}]}, format="json")
    assert twice.status_code == 400 and "one variant only" in str(twice.json())
    unknown = api.patch(campaign, {"translations": [{"lang": "xx", "subject": "?"}]}, format="json")
    assert unknown.status_code == 400
    kept = api.patch(campaign, {"translations": [{"lang": "ja", "subject": "春のセール"}]}, format="json")
    assert kept.status_code == 200
    assert list(MailingTranslation.objects.values_list("lang", "subject")) == [("ja", "春のセール")]


@pytest.mark.parametrize(
    ("language", "question", "button"),
    [
        ("fr", "Se désinscrire ?", "Choisir plutôt les listes"),
        ("ja", "配信を停止しますか？", "代わりにリストを選択"),
        ("ro", "Dezabonare?", "Alegeți listele în schimb"),
        ("zh-hans", "要退订吗？", "改为选择列表"),
    ],
)
def test_the_public_unsubscribe_page_speaks_the_browsers_language(language: str, question: str, button: str) -> None:
    url = reverse("mailing:unsubscribe", args=[unsubscribe_token(email="zoe@example.com")])
    page = Client().get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert question in page and button in page


def test_states_reasons_and_plural_counts_are_translated() -> None:
    with translation.override("fr"):
        assert str(MailingState.IN_QUEUE.label) == "En file d'attente"
    with translation.override("zh-hans"):
        assert str(MailingState.DONE.label) == "已发送"
    with translation.override("ro"):
        for count, text in ((1, "1 contact"), (3, "3 contacte"), (21, "21 de contacte")):
            page = translation.ngettext("%(counter)s contact", "%(counter)s contacts", count) % {"counter": count}
            assert page == text


def test_a_campaigns_cancel_is_odoos_word_and_a_dialogs_cancel_is_not() -> None:
    """Stopping a campaign and closing a dialog are both "Cancel" in English, not in Japanese."""
    with translation.override("ja"):
        assert translation.pgettext("stop a campaign", "Cancel") == "取消"  # Odoo's button, per its documentation
        assert translation.gettext("Cancel") == "キャンセル"
