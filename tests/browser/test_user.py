"""Per-user pages in a real browser: preferences, the inbox (unread count, mark as read, open the
record), the placeholder-admin banner, and the chatter on a phone-sized screen."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import Browser, Page, expect

from chatter.context import acting_as
from chatter.models import Notification
from demo.models import Lead, Ticket
from mailcore.models import NotificationType, Partner
from mailcore.testing.smtp import SmtpSink


def test_inbox_unread_count_and_mark_as_read(
    page: Page, app_url: str, login: Callable[[Page, str], None], make_user: Callable[..., Any]
) -> None:
    make_user("alice", name="Alice Martin")
    carol = make_user("carol", name="Carol Sales")
    lead = Lead.objects.create(name="Initech upgrade")
    lead.message_subscribe([Partner.objects.get(pk=carol.partner_id)])

    # Carol chooses "Handle in the app" in her preferences.
    login(page, "carol")
    page.goto(f"{app_url}/preferences/")
    expect(page.get_by_text("do not count against the daily e-mail limit")).to_be_visible()
    page.get_by_label("Handle in the app").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_contain_text("Preferences saved")
    assert Partner.objects.get(pk=carol.partner_id).notification_type == NotificationType.INBOX

    # Alice writes on the lead: Carol is notified in the app, not by e-mail.
    with acting_as(Partner.objects.get(user__username="alice")):
        lead.message_post(body="Initech signed: please prepare the kickoff.", body_is_html=False, subtype="mt_comment")
        lead.message_post(body="Kickoff is on Thursday.", body_is_html=False, subtype="mt_comment")
    assert Notification.objects.filter(res_partner_id=carol.partner_id, notification_type="inbox").count() == 2

    page.goto(f"{app_url}/")
    expect(page.locator("#inbox-count")).to_have_text("2")
    page.locator("a[aria-label=Inbox]").click()
    items = page.locator("#inbox-list .inbox-item.unread")
    expect(items).to_have_count(2)
    expect(items.first).to_contain_text("Initech upgrade")
    items.first.locator(".mark-read").click()
    expect(page.locator("#inbox-count")).to_have_text("1")  # updated without a reload
    expect(page.locator("#inbox-list .inbox-item.unread")).to_have_count(1)

    # Opening the other one marks it read and shows the record.
    page.locator("#inbox-list .inbox-item.unread").get_by_role("button", name="Open").click()
    page.wait_for_url(f"{app_url}/leads/{lead.pk}/")
    expect(page.locator("#messages")).to_contain_text("Kickoff is on Thursday.")
    expect(page.locator("#inbox-count")).to_have_text("")
    assert not Notification.objects.filter(res_partner_id=carol.partner_id, is_read=False).exists()


def test_admin_banner_disappears_once_the_email_is_changed(
    page: Page, app_url: str, login: Callable[[Page, str], None], make_user: Callable[..., Any]
) -> None:
    admin = make_user("admin", email="admin@example.com", name="Administrator", staff=True)
    login(page, "admin")
    banner = page.locator("#placeholder-admin-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("admin@example.com")
    page.goto(f"{app_url}/leads/")
    expect(banner).to_be_visible()  # on every page

    banner.get_by_role("link", name="set a real e-mail address").click()
    page.fill("#id_email", "it@globex.example")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_contain_text("Preferences saved")
    expect(page.locator("#placeholder-admin-banner")).to_have_count(0)
    partner = Partner.objects.get(pk=admin.partner_id)
    assert partner.email == "it@globex.example"
    assert partner.user is not None and partner.user.email == "it@globex.example"


def test_chatter_on_a_phone(
    browser: Browser,
    app_url: str,
    login: Callable[[Page, str], None],
    make_user: Callable[..., Any],
    smtp_sink: SmtpSink,
    screenshot: Callable[[Any, str], Any],
) -> None:
    make_user("alice", name="Alice Martin")
    ticket = Ticket.objects.create(name="Printer on floor 2 is jammed")
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        login(page, "alice")
        page.goto(f"{app_url}/tickets/{ticket.pk}/")
        # The chatter sits under the record, full width, and the composer works.
        chatter = page.locator("#chatter")
        expect(chatter).to_be_visible()
        assert (chatter.bounding_box() or {}).get("width", 0) > 340
        page.click("#btn-log-note")
        expect(page.locator("#recipients-note")).to_contain_text("nobody is notified")
        page.fill(".composer textarea", "Called facilities; technician comes at 14:00.")
        page.click("#composer-log")
        expect(page.locator("#messages .msg").first).to_contain_text("technician comes at 14:00")
        expect(page.locator("#messages .msg").first).to_contain_text("Note")
        # The menu folds into the hamburger.
        page.click("summary[aria-label=Menu]")
        expect(page.locator(".mobile-only .menu-panel").get_by_role("link", name="Tickets")).to_be_visible()
        page.keyboard.press("Escape")
        chatter.scroll_into_view_if_needed()
        screenshot(page, "phone-ticket")
    finally:
        context.close()
    assert not smtp_sink.messages  # a note to nobody sends nothing
