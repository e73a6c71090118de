"""The product in French, Japanese, Romanian and Chinese: a user of each language walks the red
envelope, the failure dialog and the queue screen at 1280 px and 390 px; nothing overflows its box.

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
from mailqueue.models import Mail, MailState

REASON = "RCPT 550 5.1.1 mx.bad.example: <bob@bad.example>: Recipient address rejected: User unknown"
# Each language's words for what the walk checks (Odoo's own terms where its documentation has them).
WORDS = {
    "fr": {"failed": "Échec de livraison", "dialog": "Envoyer et fermer", "details": "Voir les détails de l’erreur"},
    "ja": {"failed": "配信失敗", "dialog": "送信して閉じる", "details": "エラー詳細を表示"},
    "ro": {"failed": "Livrare eșuată", "dialog": "Trimite și închide", "details": "Vezi detaliile erorii"},
    "zh-hans": {"failed": "发送失败", "dialog": "发送并关闭", "details": "查看错误详情"},
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


def _failed_message(author: Partner) -> tuple[Lead, Mail]:
    """A lead whose last message could not be delivered to Bob, and its failed queue row."""
    lead = Lead.objects.create(name="Projet Atlas / アトラス / 阿特拉斯")
    bob = Partner.objects.create(name="Bob Customer", email="bob@bad.example")
    message = lead.message_post(
        body="Quotation ready", subject="Quotation", subtype="mt_note", partner_ids=[bob.pk], author=author,
        urgent=False, mail_auto_delete=False,
    )  # fmt: skip
    Notification.objects.filter(message=message).update(
        notification_status=NotificationStatus.EXCEPTION, failure_type=FailureType.MAIL_EMAIL_INVALID,
        failure_reason=REASON,
    )  # fmt: skip
    mail = Mail.objects.get(message=message)
    Mail.objects.filter(pk=mail.pk).update(state=MailState.EXCEPTION, failure_reason=REASON)
    return lead, mail


def _no_overflow(page: Page, where: str) -> None:
    overflowing = page.evaluate(OVERFLOWING)
    assert overflowing == [], f"{where}: {overflowing}"


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
