"""Notification e-mails in each recipient's language (Odoo renders its layout per ``partner.lang``),
with one render per language whatever the number of recipients, then sent through a real SMTP sink."""

from __future__ import annotations

from email import message_from_bytes
from email import policy as email_policy

import pytest
from django.db import connection
from django.test.signals import template_rendered
from django.test.utils import CaptureQueriesContext

from chatter.tests.factories import LeadFactory, PartnerFactory
from demo.models import Lead
from mailcore.models import Partner
from mailcore.testing.smtp import SmtpSink
from mailqueue.models import Mail
from mailqueue.sender import send_mails

pytestmark = pytest.mark.django_db
LAYOUT = "mailqueue/mail/notification_body.html"
# The "View <record>" link of the layout, as each catalogue says it.
VIEW = {"en": "View Deal", "fr": "Voir Deal", "ja": "Deal を表示"}


def _followers(lead: Lead, langs: list[str]) -> list[Partner]:
    partners = [PartnerFactory(email=f"p{i}-{lang}@example.com", lang=lang) for i, lang in enumerate(langs)]
    lead.message_subscribe(partners, subtype_codes=["mt_comment"])
    return partners


def _post_counting(lead: Lead) -> tuple[int, int]:
    """Post a comment on ``lead``; the renders of the layout and the queries it cost."""
    renders: list[str] = []

    def count(sender: object, template: object, **kwargs: object) -> None:
        if getattr(template, "name", "") == LAYOUT:
            renders.append(LAYOUT)

    author = PartnerFactory(name="Ann", email="ann@example.com")
    template_rendered.connect(count)
    try:
        with CaptureQueriesContext(connection) as queries:
            lead.message_post(body="<p>Hello</p>", subtype="mt_comment", author=author)
    finally:
        template_rendered.disconnect(count)
    return len(renders), len(queries)


def test_each_follower_gets_the_notification_in_their_language(smtp_sink: SmtpSink) -> None:
    lead = LeadFactory(name="Deal")
    _followers(lead, ["en", "fr", "ja"])
    renders, _queries = _post_counting(lead)
    assert renders == 3  # one per language

    rows = list(Mail.objects.filter(message__res_id=lead.pk).prefetch_related("recipients__partner"))
    assert len(rows) == 3
    for row in rows:
        (recipient,) = row.recipients.all()
        assert VIEW[recipient.partner.lang] in row.body_html

    send_mails()
    received = {m.rcpt_tos[0]: m for m in smtp_sink.wait_for(3)}
    assert set(received) == {"p0-en@example.com", "p1-fr@example.com", "p2-ja@example.com"}
    for address, lang in [("p0-en@example.com", "en"), ("p1-fr@example.com", "fr"), ("p2-ja@example.com", "ja")]:
        msg = message_from_bytes(received[address].data, policy=email_policy.default)
        html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert VIEW[lang] in html
        assert [v for other, v in VIEW.items() if other != lang and v in html] == []


def test_renders_and_queries_do_not_grow_with_recipients_of_the_same_languages() -> None:
    small = LeadFactory(name="Deal")
    _followers(small, ["en", "fr", "ja"])
    large = LeadFactory(name="Deal")
    _followers(large, ["en", "fr", "ja"] * 4)
    assert _post_counting(small) == _post_counting(large)
    renders, _queries = _post_counting(large)
    assert renders == 3
    assert Mail.objects.filter(message__res_id=large.pk).count() == 3 * 2  # two posts, one row per language


def test_contact_without_a_language_gets_the_company_language(settings: object) -> None:
    settings.MAILCORE_DEFAULT_LANGUAGE = "fr"  # type: ignore[attr-defined]
    lead = LeadFactory(name="Deal")
    (partner,) = _followers(lead, ["en"])
    Partner.objects.filter(pk=partner.pk).update(lang="")
    lead.message_post(body="<p>Hello</p>", subtype="mt_comment", author=PartnerFactory())
    (row,) = Mail.objects.filter(message__res_id=lead.pk)
    assert VIEW["fr"] in row.body_html
