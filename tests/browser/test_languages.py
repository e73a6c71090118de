"""The product in French, Japanese, Romanian and Chinese: a user of each language walks the red
envelope, the failure dialog and the queue screen, and a campaign's page (its state, progress and
statistics), at 1280 px and 390 px; nothing overflows its box.

The failure is set on the rows directly (no worker): what is tested here is the pages in each
language, not delivery (the English browser tests cover that).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from chatter.models import FailureType, Notification, NotificationStatus
from demo.models import Lead
from mailcore.models import Partner
from mailcore.smtp_replies import delivery_failure_reason
from mailqueue.models import Mail, MailState
from marketing.models import Mailing, MailingState, MailingTrace, TraceFailure, TraceStatus
from marketing.services import mailing_list_create, mailing_list_subscribe

# What the sender records for a refused recipient (mailcore.smtp_replies.delivery_failure_reason).
REASON = delivery_failure_reason(
    "mx.bad.example",
    "SMTPRecipientsRefused",
    "RCPT 550 5.1.1 <bob@bad.example>: Recipient address rejected: User unknown",
)
# Each language's words for what the walk checks (Odoo's own terms where its documentation has them).
WORDS = {
    "fr": {"failed": "Échec de livraison", "dialog": "Envoyer et fermer", "details": "Voir les détails de l’erreur"},
    "ja": {"failed": "配信失敗", "dialog": "送信して閉じる", "details": "エラー詳細を表示"},
    "ro": {"failed": "Livrare eșuată", "dialog": "Trimite și închide", "details": "Vezi detaliile erorii"},
    "zh-hans": {"failed": "投递失败", "dialog": "发送并关闭", "details": "查看错误详情"},
}
# A campaign in each language: its subject, and the page's words for its state and its statistics.
CAMPAIGN = {
    "fr": {"subject": "Offres de printemps", "state": "Envoi en cours", "statistics": "Statistiques"},
    "ja": {"subject": "春のセールのお知らせ", "state": "送信中", "statistics": "統計"},
    "ro": {"subject": "Oferte de primăvară", "state": "Se trimite", "statistics": "Statistici"},
    "zh-hans": {"subject": "春季优惠活动", "state": "正在发送", "statistics": "统计"},
}
WIDTHS = {"desktop": (1280, 860), "phone": (390, 844)}

# Elements whose text must fit: a box narrower than its text clips a label. Elements that truncate
# on purpose (ellipsis) are left out.
OVERFLOWING = """() => [...document.querySelectorAll(
    'button, .btn, .badge, label, .navlink, .tab, th, .counter, .envelope-toggle, .modal-head h2, .breadcrumb'
  )].filter(e => {
    const s = getComputedStyle(e);
    if (e.closest('.truncate') || s.textOverflow === 'ellipsis') return false;
    if (!e.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) return false;
    return e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 2 && s.overflowY === 'hidden';
  }).map(e => `${e.scrollWidth}>${e.clientWidth} ${e.id} ${e.className} ${e.textContent.trim().slice(0, 60)}`)"""

# How far each table scrolls sideways in its card (0 when it fits): a column pushed out of the card,
# its buttons cut at the card's edge, is a label that does not fit either.
SIDEWAYS = "() => [...document.querySelectorAll('.table-wrap')].map(e => e.scrollWidth - e.clientWidth)"


def _failed_message(author: Partner) -> tuple[Lead, Mail]:
    """A lead whose last message could not be delivered to Bob, and its failed queue row."""
    lead = Lead.objects.create(name="Projet Atlas / アトラス / 阿特拉斯")
    bob = Partner.objects.create(name="Bob Customer", email="bob@bad.example")
    message = lead.message_post(
        body="Quotation ready", subject="Quotation", subtype="mt_note", partner_ids=[bob.pk], author=author,
        urgent=False, mail_auto_delete=False,
    )  # fmt: skip
    Notification.objects.filter(message=message).update(
        notification_status=NotificationStatus.EXCEPTION, failure_type=FailureType.MAIL_SMTP,
        failure_reason=REASON,
    )  # fmt: skip
    mail = Mail.objects.get(message=message)
    Mail.objects.filter(pk=mail.pk).update(
        state=MailState.EXCEPTION, failure_type=FailureType.MAIL_SMTP, failure_reason=REASON
    )
    return lead, mail


def _no_overflow(page: Page, where: str) -> None:
    wide = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"{where}: page wider than the window by {wide}px"
    overflowing = page.evaluate(OVERFLOWING)
    assert overflowing == [], f"{where}: {overflowing}"
    scrolling = page.evaluate(SIDEWAYS)
    assert all(extra <= 1 for extra in scrolling), f"{where}: a table scrolls sideways by {scrolling}px"


@pytest.mark.parametrize("lang", list(WORDS))
def test_user_walks_red_envelope_dialog_and_queue_in_their_language(
    page: Page,
    app_url: str,
    make_user: Callable[..., Any],
    login: Callable[[Page, str], None],
    screenshot: Callable[[Any, str], Any],
    lang: str,
) -> None:
    user = make_user(f"user-{lang}", staff=True)
    Partner.objects.filter(pk=user.partner_id).update(lang=lang, tz="Asia/Tokyo" if lang == "ja" else "")
    author = Partner.objects.get(pk=user.partner_id)
    lead, mail = _failed_message(author)
    words = WORDS[lang]
    login(page, user.username)
    expect(page.locator("html")).to_have_attribute("lang", lang)
    for size, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{app_url}/leads/{lead.pk}/")
        envelope = page.locator(".envelope.is-failed").first
        expect(envelope).to_be_visible()
        _no_overflow(page, f"{lang} {size} record page")
        envelope.locator(".envelope-toggle").click()
        popover = envelope.locator(".popover")
        expect(popover).to_contain_text(words["failed"])
        expect(popover).to_contain_text(words["details"])
        _no_overflow(page, f"{lang} {size} envelope")
        screenshot(page, f"lang-{lang}-envelope-{size}")
        popover.locator("[id^=open-resend-]").click()
        dialog = page.locator("#modal")
        expect(dialog.locator("#resend-send")).to_have_text(words["dialog"])
        _no_overflow(page, f"{lang} {size} failure dialog")
        screenshot(page, f"lang-{lang}-dialog-{size}")
        dialog.locator("[data-close-modal]").first.click()
        page.goto(f"{app_url}/queue/")
        expect(page.locator(f'#queue-table tr[data-mail-id="{mail.pk}"]')).to_be_visible()
        _no_overflow(page, f"{lang} {size} queue")
        screenshot(page, f"lang-{lang}-queue-{size}")


def _campaign_half_sent(subject: str) -> Mailing:
    """A campaign to a list being sent: 12 recipients, 5 still waiting in the queue, the others
    delivered, opened, replied, bounced, failed or left out (opted out, blacklisted)."""
    newsletter = mailing_list_create(name="Newsletter")
    mailing = Mailing.objects.create(
        subject=subject, email_from="news@mailcore.localhost", body_html="<p>{{ contact.name }}</p>",
        state=MailingState.SENDING,
    )  # fmt: skip
    sent = {"sent_datetime": mailing.created_at}
    outcomes: list[dict[str, Any]] = [{"trace_status": TraceStatus.OUTGOING}] * 5 + [
        {"trace_status": TraceStatus.SENT, **sent},
        {"trace_status": TraceStatus.OPEN, "links_click_datetime": mailing.created_at, **sent},
        {"trace_status": TraceStatus.REPLY, **sent},
        {"trace_status": TraceStatus.BOUNCE, "hard_bounce": True, "failure_type": TraceFailure.MAIL_BOUNCE, **sent},
        {"trace_status": TraceStatus.ERROR, "failure_type": TraceFailure.MAIL_SMTP, "failure_reason": REASON},
        {"trace_status": TraceStatus.CANCEL, "failure_type": TraceFailure.MAIL_OPTOUT},
        {"trace_status": TraceStatus.CANCEL, "failure_type": TraceFailure.MAIL_BL},
    ]
    mailing.mailing_lists.set([newsletter])
    for i, outcome in enumerate(outcomes):
        contact = Partner.objects.create(name=f"Contact {i}", email=f"contact{i}@example.com")
        mailing_list_subscribe(mailing_list=newsletter, contacts=[contact])
        MailingTrace.objects.create(mailing=mailing, contact=contact, email=contact.email, **outcome)
    return mailing


@pytest.mark.parametrize("lang", list(CAMPAIGN))
def test_marketer_sees_a_campaign_page_in_their_language(
    page: Page,
    app_url: str,
    make_user: Callable[..., Any],
    login: Callable[[Page, str], None],
    screenshot: Callable[[Any, str], Any],
    lang: str,
) -> None:
    user = make_user(f"marketer-{lang}", staff=True)
    Partner.objects.filter(pk=user.partner_id).update(lang=lang)
    words = CAMPAIGN[lang]
    mailing = _campaign_half_sent(words["subject"])
    login(page, user.username)
    for size, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{app_url}/marketing/campaigns/{mailing.pk}/")
        expect(page.locator("h1")).to_have_text(words["subject"])
        expect(page.locator(".page-head .badge")).to_have_text(words["state"])
        expect(page.locator("h2", has_text=words["statistics"])).to_be_visible()
        progress = page.locator("#mailing-progress")
        expect(progress.locator("progress")).to_have_attribute("value", "58")  # 7 of 12 no longer waiting
        expect(progress).to_contain_text("58%")
        _no_overflow(page, f"{lang} {size} campaign")
        screenshot(page, f"lang-{lang}-campaign-{size}")
        # Where the marketer comes from and goes next: the campaigns with their progress, the form.
        page.goto(f"{app_url}/marketing/campaigns/")
        expect(page.locator("table .badge").first).to_have_text(words["state"])
        _no_overflow(page, f"{lang} {size} campaigns")
        page.goto(f"{app_url}/marketing/campaigns/new/")
        expect(page.locator("form textarea").first).to_be_visible()
        _no_overflow(page, f"{lang} {size} campaign form")
