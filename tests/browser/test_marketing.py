"""E-mail marketing in a real browser: a list created, contacts imported from CSV (a bad file
first), and a recipient unsubscribing from the public page on a phone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect

from marketing.models import MailingList, MailingSubscription
from marketing.unsubscribe import unsubscribe_token


def test_create_a_list_and_import_contacts(
    page: Page,
    app_url: str,
    login: Callable[[Page, str], None],
    make_user: Callable[..., Any],
    screenshot: Callable[[Any, str], Path],
) -> None:
    make_user("marketer", staff=True)
    login(page, "marketer")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Email Marketing").click()
    page.get_by_role("link", name="Mailing lists").click()
    page.get_by_label("List name").fill("Spring newsletter")
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".flash")).to_contain_text("Mailing list “Spring newsletter” created.")

    page.get_by_role("link", name="Import contacts").click()
    bad = b"name,email\nAzure Interior,azure@example.com\nDeco Addict,deco@\n"
    page.set_input_files("#id_file", files=[{"name": "contacts.csv", "mimeType": "text/csv", "buffer": bad}])
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("alert")).to_contain_text("Nothing was imported: 1 line to correct")
    expect(page.get_by_role("alert")).to_contain_text("Line 3: invalid e-mail address 'deco@'")
    screenshot(page, "marketing-import-errors")

    good = b"name,email\nAzure Interior,azure@example.com\nDeco Addict,deco@example.com\n"
    page.set_input_files("#id_file", files=[{"name": "contacts.csv", "mimeType": "text/csv", "buffer": good}])
    page.get_by_label("Add to list").select_option(label="Spring newsletter")
    page.get_by_role("button", name="Import").click()
    expect(page.locator(".flash").first).to_contain_text("Imported 2 lines: 2 new contacts")
    row = page.locator("tr", has_text="Spring newsletter")
    expect(row.locator("td").nth(1)).to_have_text("2")
    screenshot(page, "marketing-lists")
    assert MailingList.objects.get(name="Spring newsletter").subscriptions.count() == 2


def test_unsubscribe_from_the_public_page_on_a_phone(
    browser: Browser, app_url: str, screenshot: Callable[[Any, str], Path]
) -> None:
    from mailcore.models import Partner
    from marketing.services import mailing_list_create, mailing_list_subscribe

    news = mailing_list_create(name="Spring newsletter")
    mailing_list_subscribe(mailing_list=news, contacts=[Partner.objects.create(name="Zoe", email="zoe@example.com")])
    token = unsubscribe_token(email="zoe@example.com", list_ids=[news.pk])
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone = context.new_page()
    phone.goto(f"{app_url}/mailing/unsubscribe/{token}/")
    expect(phone.get_by_role("heading", name="Unsubscribe?")).to_be_visible()
    assert not MailingSubscription.objects.get().opt_out  # opening the link changes nothing
    phone.get_by_role("button", name="Unsubscribe").click()
    expect(phone.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
    screenshot(phone, "marketing-unsubscribed-phone")
    assert MailingSubscription.objects.get().opt_out

    phone.get_by_role("link", name="Manage my subscriptions").click()
    box = phone.get_by_label("Spring newsletter")
    expect(box).not_to_be_checked()
    box.check()
    phone.get_by_role("button", name="Save").click()
    expect(phone.get_by_role("status")).to_contain_text("Your choices are saved.")
    assert not MailingSubscription.objects.get().opt_out
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()


def test_write_send_and_watch_a_campaign(
    page: Page,
    app_url: str,
    login: Callable[[Page, str], None],
    make_user: Callable[..., Any],
    screenshot: Callable[[Any, str], Path],
    smtp_sink: Any,
) -> None:
    from mailcore.models import Partner
    from mailqueue.sender import send_mails
    from marketing.queue import process_marketing_queue
    from marketing.services import mailing_list_create, mailing_list_subscribe

    news = mailing_list_create(name="Spring newsletter")
    people = [Partner.objects.create(name=f"Customer {i}", email=f"customer{i}@example.com") for i in range(3)]
    people.append(Partner.objects.create(name="Blocked", email="blocked@example.com", is_blacklisted=True))
    mailing_list_subscribe(mailing_list=news, contacts=people)
    make_user("marketer", staff=True, email="marketer@mailcore.localhost")
    login(page, "marketer")

    page.goto(f"{app_url}/marketing/campaigns/")
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Subject", exact=True).fill("Spring offers for {{ contact.name }}")
    page.get_by_label("Spring newsletter").check()
    page.get_by_label("Body", exact=True).fill(
        '<p>Hello {{ contact.nickname }}, see <a href="https://shop.example.com/">offers</a>.</p>'
    )
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Not ready to send")).to_contain_text("no field 'nickname'")

    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Body", exact=True).fill(
        '<p>Hello {{ contact.name }}, see <a href="https://shop.example.com/">offers</a>.</p>'
    )
    page.get_by_role("button", name="Save").click()
    expect(page.locator("body")).to_contain_text("3 will be mailed")
    expect(page.locator("body")).to_contain_text("1 blacklisted")
    screenshot(page, "marketing-campaign-ready")
    page.get_by_role("button", name="Send now").click()
    expect(page.locator(".flash")).to_contain_text("The campaign is in the queue.")

    process_marketing_queue(time_budget=30)  # what the cron does, here in the test process
    page.reload()
    expect(page.locator(".sub .badge")).to_have_text("Sent")  # every recipient queued
    assert send_mails().sent == 3
    assert len(smtp_sink.wait_for(3)) == 3
    page.reload()
    delivered = page.locator("tr", has_text="Delivered")
    expect(delivered).to_contain_text("3")
    screenshot(page, "marketing-campaign-sent")
    page.get_by_role("link", name="Campaigns").first.click()
    expect(page.locator("tr", has_text="Spring offers")).to_contain_text("0 waiting of 4")


def test_the_campaign_form_has_a_tab_per_language(
    page: Page, app_url: str, login: Callable[[Page, str], None], make_user: Callable[..., Any]
) -> None:
    from marketing.models import Mailing
    from marketing.services import mailing_list_create

    mailing_list_create(name="Spring newsletter")
    make_user("marketer", staff=True, email="marketer@mailcore.localhost")
    login(page, "marketer")
    page.goto(f"{app_url}/marketing/campaigns/new/")
    page.get_by_label("Subject", exact=True).fill("Spring offers")
    page.get_by_label("Spring newsletter").check()
    page.get_by_label("Body", exact=True).fill("<p>Hello</p>")
    expect(page.get_by_label("Subject (Français)")).to_be_visible()
    expect(page.get_by_label("Subject (日本語)")).to_be_hidden()
    page.get_by_role("tab", name="日本語").click()
    expect(page.get_by_label("Subject (Français)")).to_be_hidden()
    page.get_by_label("Subject (日本語)").fill("春のセール")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Spring offers")).to_be_visible()
    assert list(Mailing.objects.get().translations.values_list("lang", "subject")) == [("ja", "春のセール")]
