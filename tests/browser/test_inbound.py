"""The inbound log's refusals in a real browser: the tab, each refusal's facts and the flood count."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, expect

from bounces import services


def test_refusals_tab_on_a_desktop_and_a_phone(
    page: Page,
    app_url: str,
    make_user: Callable[..., Any],
    login: Callable[[Page, str], None],
    screenshot: Callable[[Any, str], Any],
) -> None:
    make_user("alice", staff=True)
    now = time.time()
    services.inbound_refusals_record(
        batch=services.RefusalBatch(
            [
                services.Refusal(
                    at=now,
                    remote_address="203.0.113.9",
                    helo="mx.example.org",
                    mail_from="carol@example.org",
                    recipient="sales@mailcore.localhost",
                    command="RCPT TO:<sales@mailcore.localhost>",
                    reply="550 5.1.1 <sales@mailcore.localhost>: Recipient address rejected: mailbox unavailable",
                    reason="No active alias, catchall, bounce address or valid signed address by that name in "
                    "mailcore.localhost.",
                )
            ],
            {("203.0.113.9", int(now // 60)): 57},
        )
    )
    login(page, "alice")
    page.goto(f"{app_url}/inbound/")
    page.locator("#inbound-filters").get_by_role("link", name="Refused in SMTP").click()
    row = page.locator("#refusal-list tr[data-refusal-id]")
    expect(row).to_have_count(1)
    facts = ("203.0.113.9", "mx.example.org", "carol@example.org", "sales@mailcore.localhost", "550 5.1.1", "that name")
    for text in facts:
        expect(row).to_contain_text(text)
    expect(row.locator(".refusal-more")).to_have_text("and 57 more refusals from this address in this minute")
    screenshot(page, "inbound-refusals")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(row).to_contain_text("203.0.113.9")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
