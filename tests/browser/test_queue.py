"""The e-mail queue screen in a real browser: developer mode, filters, Send Now, Cancel Email,
Retry (row and bulk), the detail page and "Download .eml", against a real SMTP sink."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from chatter.models import Message
from demo.models import Lead
from mailcore.models import Partner
from mailcore.testing.smtp import SmtpSink
from mailqueue.models import Mail, MailState

REFUSED = "550 5.1.1 <carol@bad.example>: Recipient address rejected: User unknown"


def _queued(lead: Lead, author: Partner, subject: str, body: str, partner: Partner) -> Mail:
    """A non-urgent mail to ``partner``: it waits in the queue for the cron (no worker runs here)."""
    message: Message = lead.message_post(
        body=body,
        body_is_html=False,
        subject=subject,
        subtype="mt_note",
        partner_ids=[partner.pk],
        author=author,
        urgent=False,
        mail_auto_delete=False,
    )
    return Mail.objects.get(message=message)


def _row(page: Page, mail: Mail) -> Any:
    return page.locator(f'#queue-table tr[data-mail-id="{mail.pk}"]')


@pytest.fixture
def queue(make_user: Callable[..., Any]) -> dict[str, Any]:
    make_user("alice", email="alice@example.com", name="Alice Martin", staff=True)
    alice = Partner.objects.get(user__username="alice")
    lead = Lead.objects.create(name="Globex renewal")
    bob = Partner.objects.create(name="Bob Customer", email="bob@example.com")
    carol = Partner.objects.create(name="Carol Buyer", email="carol@bad.example")
    dave = Partner.objects.create(name="Dave Accounts", email="dave@example.com")
    erin = Partner.objects.create(name="Erin Office", email="erin@example.com")
    return {
        "lead": lead,
        "to_bob": _queued(lead, alice, "Renewal contract", "The renewal contract is attached.", bob),
        "to_carol": _queued(lead, alice, "Billing contact", "Can you confirm the billing contact?", carol),
        "to_dave": _queued(lead, alice, "Invoice 2024/0042", "Invoice 2024/0042 is overdue.", dave),
        "to_erin": _queued(lead, alice, "Meeting next week", "Does Tuesday 10:00 suit you?", erin),
    }


def test_queue_send_now_cancel_retry(
    page: Page,
    app_url: str,
    login: Callable[[Page, str], None],
    queue: dict[str, Any],
    smtp_sink: SmtpSink,
    screenshot: Callable[[Any, str], Any],
) -> None:
    smtp_sink.fail("RCPT", REFUSED, address="carol@bad.example")
    page.on("dialog", lambda dialog: dialog.accept())  # Cancel Email asks first
    login(page, "alice")

    # The Technical menu appears in developer mode, as in Odoo.
    expect(page.get_by_text("Technical", exact=True)).to_have_count(0)
    page.click("summary[aria-label='User menu']")
    page.click("#developer-mode-toggle")
    page.get_by_text("Technical", exact=True).click()
    page.get_by_role("link", name="Emails").click()
    expect(page.locator("#queue-table")).to_be_visible()

    page.locator("#queue-filters [data-filter=outgoing]").click()
    for mail in queue.values():
        if isinstance(mail, Mail):
            expect(_row(page, mail)).to_contain_text("Outgoing")
    # Outgoing rows offer Send Now and Cancel Email, not Retry.
    expect(_row(page, queue["to_bob"]).locator("[data-action=retry]")).to_have_count(0)

    _row(page, queue["to_bob"]).locator("[data-action=send_now]").click()
    expect(page.locator(".flash")).to_contain_text("Sent to 1 recipient")
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["bob@example.com"]]

    _row(page, queue["to_carol"]).locator("[data-action=send_now]").click()
    expect(page.locator(".flash")).to_contain_text("1 failed")
    _row(page, queue["to_dave"]).locator("[data-action=cancel]").click()
    expect(page.locator(".flash")).to_contain_text("1 e-mail cancelled")

    page.goto(f"{app_url}/queue/")
    expect(_row(page, queue["to_bob"])).to_contain_text("Sent")
    expect(_row(page, queue["to_carol"])).to_contain_text("Delivery Failed")
    expect(_row(page, queue["to_dave"])).to_contain_text("Cancelled")
    expect(_row(page, queue["to_carol"]).locator("[data-action=retry]")).to_be_visible()
    expect(_row(page, queue["to_bob"]).locator("[data-action]")).to_have_count(0)
    screenshot(page, "queue-screen")

    # Search on to / subject.
    page.fill("input[name=q]", "carol@bad")
    page.press("input[name=q]", "Enter")
    expect(page.locator("#queue-table tbody tr")).to_have_count(1)
    page.goto(f"{app_url}/queue/?state=exception")
    expect(page.locator("#queue-table tbody tr")).to_have_count(1)

    # Bulk Retry: the failed and the cancelled row go back to Outgoing.
    page.goto(f"{app_url}/queue/")
    _row(page, queue["to_carol"]).locator(".row-check").check()
    _row(page, queue["to_dave"]).locator(".row-check").check()
    page.click("#bulk-retry")
    expect(page.locator(".flash")).to_contain_text("2 e-mails put back in the queue")
    for key in ("to_carol", "to_dave"):
        queue[key].refresh_from_db()
        assert queue[key].state == MailState.OUTGOING
    expect(_row(page, queue["to_dave"])).to_contain_text("Outgoing")

    # Row Retry from the detail page of a failed mail; its recipients and history are shown.
    smtp_sink.reset()
    smtp_sink.fail("RCPT", REFUSED, address="carol@bad.example")
    _row(page, queue["to_carol"]).locator("[data-action=send_now]").click()
    page.goto(f"{app_url}/queue/{queue['to_carol'].pk}/")
    expect(page.locator("#failure-reason")).to_contain_text("550 5.1.1")
    expect(page.locator("#recipients-table")).to_contain_text("Carol Buyer")
    expect(page.locator("#attempt-history")).to_contain_text("carol@bad.example")
    with page.expect_download() as download_info:
        page.click("#download-eml")
    eml = download_info.value.path().read_bytes()
    assert b"Subject: Billing contact" in eml and b"carol@bad.example" in eml
    page.locator("[data-action=retry]").click()
    expect(page.locator(".flash")).to_contain_text("1 e-mail put back in the queue")
    queue["to_carol"].refresh_from_db()
    assert queue["to_carol"].state == MailState.OUTGOING
