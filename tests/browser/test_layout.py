"""The queue screen and a record page with its chatter at a laptop's width (1280 px) and a phone's
(390 px): the status and the action buttons of every row are on screen and not clipped by a
scrolling or hidden-overflow container, and a phone never scrolls sideways."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from chatter.models import Message
from demo.models import Lead
from mailcore.models import Partner
from mailcore.testing.smtp import SmtpSink
from mailqueue.models import Mail
from mailqueue.sender import send_mails

WIDTHS = {"1280": (1280, 860), "390": (390, 844)}

# The part of ``el`` that is really painted: its box cut by the viewport and by every ancestor
# that clips (overflow other than visible). Equal to its box when nothing hides any of it.
_VISIBLE_PART = """
(el) => {
  const r = el.getBoundingClientRect();
  let left = Math.max(r.left, 0), right = Math.min(r.right, window.innerWidth);
  let top = r.top, bottom = r.bottom;
  for (let a = el.parentElement; a; a = a.parentElement) {
    const style = getComputedStyle(a);
    if (style.overflowX !== 'visible') {
      const b = a.getBoundingClientRect();
      left = Math.max(left, b.left); right = Math.min(right, b.right);
    }
    if (style.overflowY !== 'visible' && a !== document.documentElement && a !== document.body) {
      const b = a.getBoundingClientRect();
      top = Math.max(top, b.top); bottom = Math.min(bottom, b.bottom);
    }
  }
  return {box: [r.left, r.right, r.top, r.bottom], visible: [left, right, top, bottom],
          viewport: window.innerWidth};
}
"""


def assert_fully_shown(locator: Locator) -> None:
    """``locator`` is displayed, inside the viewport's width and cut by no ancestor."""
    expect(locator).to_be_visible()
    geometry = locator.evaluate(_VISIBLE_PART)
    left, right, top, bottom = geometry["box"]
    assert right - left > 0 and bottom - top > 0, geometry
    assert 0 <= left and right <= geometry["viewport"] + 0.5, f"outside the viewport: {geometry}"
    assert [round(v, 1) for v in geometry["visible"]] == [round(v, 1) for v in geometry["box"]], f"clipped: {geometry}"


def assert_no_horizontal_scroll(page: Page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"


def _queued(lead: Lead, author: Partner, subject: str, *partners: Partner) -> Mail:
    message: Message = lead.message_post(
        body=f"About {subject}.",
        body_is_html=False,
        subject=subject,
        subtype="mt_note",
        partner_ids=[p.pk for p in partners],
        author=author,
        urgent=False,
        mail_auto_delete=False,
    )
    return Mail.objects.get(message=message)


@pytest.fixture
def queue(make_user: Callable[..., Any], smtp_sink: SmtpSink) -> dict[str, Mail]:
    """A failed row (Retry), an outgoing one (Send Now, Cancel Email) and a sent one."""
    make_user("alice", email="alice@example.com", name="Alice Martin", staff=True)
    alice = Partner.objects.get(user__username="alice")
    lead = Lead.objects.create(name="Office chairs for Globex")
    carol = Partner.objects.create(name="Carol Buyer", email="carol.buyer.accounts@bad.example")
    bob = Partner.objects.create(name="Bob Customer", email="bob@example.com")
    erin = Partner.objects.create(name="Erin Office", email="erin@example.com")
    smtp_sink.fail("DATA", "550 The from address does not match a verified Sender Identity", address=carol.email)
    failed = _queued(lead, alice, "Quotation S00042 for 40 ergonomic office chairs and delivery", carol)
    sent = _queued(lead, alice, "Meeting next week", erin)
    send_mails()
    # Several long names and addresses: the To column must not push the buttons out of the card.
    others = [
        Partner.objects.create(
            name=f"Accounts Payable Department {n}", email=f"accounts.payable.{n}@globex-industries.example"
        )
        for n in range(3)
    ]
    outgoing = _queued(lead, alice, "Renewal contract for the coming year", bob, *others)
    return {"failed": failed, "outgoing": outgoing, "sent": sent}


@pytest.mark.parametrize("width", WIDTHS)
def test_queue_rows_show_status_and_actions(
    page: Page,
    app_url: str,
    login: Callable[[Page, str], None],
    queue: dict[str, Mail],
    screenshot: Callable[[Any, str], Any],
    width: str,
) -> None:
    page.set_viewport_size(dict(zip(("width", "height"), WIDTHS[width], strict=True)))
    login(page, "alice")
    page.goto(f"{app_url}/queue/")
    for key, actions in (("failed", ["retry"]), ("outgoing", ["send_now", "cancel"]), ("sent", [])):
        row = page.locator(f'#queue-table [data-mail-id="{queue[key].pk}"]')
        assert_fully_shown(row.locator(".badge").first)
        assert_fully_shown(row.locator("a strong"))  # the subject
        for action in actions:
            assert_fully_shown(row.locator(f"[data-action={action}]"))
    failed = page.locator(f'#queue-table [data-mail-id="{queue["failed"].pk}"]')
    expect(failed.locator(".failure-summary")).to_have_text("Sender refused")
    assert_fully_shown(failed.locator(".failure-summary"))
    if width == "390":
        # The status comes first in a card: above the subject, not after it.
        badge, subject = failed.locator(".badge").first.bounding_box(), failed.locator("a strong").bounding_box()
        assert badge is not None and subject is not None and badge["y"] < subject["y"]
        assert_no_horizontal_scroll(page)
    assert_fully_shown(page.locator("#bulk-retry"))
    assert_fully_shown(page.locator(".searchbar button"))
    screenshot(page, f"queue-{width}")


@pytest.mark.parametrize("width", WIDTHS)
def test_record_page_with_chatter(
    page: Page,
    app_url: str,
    login: Callable[[Page, str], None],
    queue: dict[str, Mail],
    screenshot: Callable[[Any, str], Any],
    width: str,
) -> None:
    page.set_viewport_size(dict(zip(("width", "height"), WIDTHS[width], strict=True)))
    login(page, "alice")
    page.goto(f"{app_url}/leads/{queue['failed'].message.res_id}/")
    expect(page.locator("#chatter")).to_be_visible()
    for selector in ("#btn-send-message", "#btn-followers", ".record-title h1"):
        assert_fully_shown(page.locator(selector).first)
    envelope = page.locator(f"#envelope-{queue['failed'].message_id} summary.envelope-toggle")
    envelope.scroll_into_view_if_needed()
    assert_fully_shown(envelope)
    envelope.click()
    popover = page.locator(f"#envelope-{queue['failed'].message_id} .popover")
    expect(popover.locator(".failure-summary")).to_have_text("Sender refused")
    assert_fully_shown(popover.locator(".failure-summary"))
    assert_fully_shown(popover.locator("button", has_text="Resend or ignore"))
    if width == "390":
        assert_no_horizontal_scroll(page)
    screenshot(page, f"chatter-{width}")
