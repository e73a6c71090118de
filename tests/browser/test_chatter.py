"""The chatter in a real browser, with a real Celery worker delivering to a real SMTP sink.

Post a message → the follower receives it → the envelope is plain; a refused recipient turns
it red → the failure dialog → Send & close after fixing the address → delivered; Ignore all
turns it plain again; a follower added in the UI gets the next message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from chatter.context import acting_as
from chatter.models import Message, MessageType, Notification, NotificationStatus
from demo.models import Lead
from mailcore.models import Partner
from mailcore.testing.smtp import SmtpSink
from tests.celery_fixtures import LiveWorker, wait_until

REFUSED = "550 5.1.1 <bob@bad.example>: Recipient address rejected: User unknown in virtual mailbox table"
TIMEOUT = 25_000  # ms: the worker sends right after commit; the envelope polls every 2 s


def _delivered_to(sink: SmtpSink, address: str) -> list[Any]:
    return [m for m in sink.messages if address in m.rcpt_tos]


@pytest.fixture
def lead_with_bob(make_user: Callable[..., Any]) -> tuple[Lead, Partner]:
    make_user("alice", email="alice@example.com", name="Alice Martin", staff=True)
    lead = Lead.objects.create(name="Office chairs for Globex", expected_revenue=12000)
    bob = Partner.objects.create(name="Bob Customer", email="bob@example.com")
    lead.message_subscribe([bob])
    return lead, bob


def _some_history(lead: Lead, bob: Partner) -> None:
    """An incoming e-mail, a tracked stage change and a note with a file: what a chatter holds."""
    alice = Partner.objects.get(user__username="alice")
    lead.message_post(
        body="<p>Hi, could you send us a quotation for 40 office chairs?</p>",
        message_type=MessageType.EMAIL,
        subtype="mt_comment",
        author=bob,
        subject="Quotation request",
    )
    with acting_as(alice):
        lead.stage = Lead.Stage.QUALIFIED
        lead.save()
        lead.message_post(
            body="Budget confirmed by phone; price list attached.",
            body_is_html=False,
            subtype="mt_note",
            attachments=[("price-list.csv", b"model,price\nErgo 200,189.00\n", "text/csv")],
        )


def _open_lead(page: Page, app_url: str, lead: Lead) -> None:
    page.goto(f"{app_url}/leads/{lead.pk}/")
    expect(page.locator("#chatter")).to_be_visible()


def _send_message(page: Page, text: str) -> int:
    if page.locator("form.composer").is_hidden():
        page.click("#btn-send-message")
    page.fill(".composer textarea", text)
    page.click("#composer-send")
    first = page.locator("#messages .msg").first
    expect(first).to_contain_text(text)
    return int(first.get_attribute("data-message-id") or 0)


def test_post_message_reaches_follower_and_envelope_turns_plain(
    page: Page,
    app_url: str,
    login: Callable[[Page, str], None],
    lead_with_bob: tuple[Lead, Partner],
    smtp_sink: SmtpSink,
    celery_worker_live: LiveWorker,
) -> None:
    lead, _bob = lead_with_bob
    login(page, "alice")
    _open_lead(page, app_url, lead)
    page.click("#btn-send-message")
    # Recipients are shown before sending.
    expect(page.locator("#recipients-message")).to_contain_text("Bob Customer")
    message_id = _send_message(page, "Hello Bob, the chairs ship on Monday.")

    assert wait_until(lambda: bool(_delivered_to(smtp_sink, "bob@example.com")), timeout=TIMEOUT / 1000)
    envelope = page.locator(f"#envelope-{message_id}")
    expect(envelope).to_have_attribute("data-state", "sent", timeout=TIMEOUT)
    received = _delivered_to(smtp_sink, "bob@example.com")[0].message
    assert "Office chairs for Globex" in received["Subject"]
    envelope.locator(".envelope-toggle").click()
    expect(envelope.locator(".recipient")).to_contain_text("Bob Customer")
    expect(envelope.locator(".recipient")).to_contain_text("Sent")
    # One click from the popover (alice is staff): the .eml is the bytes the sink received.
    with page.expect_download() as download:
        envelope.locator('.recipient [data-link="eml"]').click()
    with open(download.value.path(), "rb") as handle:
        assert handle.read() == _delivered_to(smtp_sink, "bob@example.com")[0].data


def test_refused_recipient_red_envelope_dialog_send_and_close(
    page: Page,
    app_url: str,
    login: Callable[[Page, str], None],
    lead_with_bob: tuple[Lead, Partner],
    smtp_sink: SmtpSink,
    celery_worker_live: LiveWorker,
    screenshot: Callable[[Any, str], Any],
) -> None:
    lead, bob = lead_with_bob
    _some_history(lead, bob)
    bob.email = "bob@bad.example"
    bob.save()
    smtp_sink.fail("RCPT", REFUSED, address="bob@bad.example")
    login(page, "alice")
    _open_lead(page, app_url, lead)
    message_id = _send_message(page, "Your quotation is ready: please confirm the delivery address.")

    envelope = page.locator(f"#envelope-{message_id}")
    expect(envelope).to_have_attribute("data-state", "failed", timeout=TIMEOUT)
    screenshot(page, "chatter-red-envelope")
    envelope.locator(".envelope-toggle").click()
    recipient = envelope.locator(".recipient")
    expect(recipient).to_contain_text("Bob Customer")
    recipient.get_by_text("See Error Details").click()
    expect(recipient.locator("pre")).to_contain_text("550 5.1.1")
    screenshot(page, "envelope-error-details")

    envelope.get_by_role("button", name="Resend or ignore…").click()
    dialog = page.locator("#modal")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Bob Customer")
    screenshot(dialog, "failure-dialog")

    dialog.get_by_label("E-mail of Bob Customer").fill("bob@example.com")
    dialog.get_by_role("button", name="Send & close").click()
    expect(dialog).to_be_hidden()
    assert wait_until(lambda: bool(_delivered_to(smtp_sink, "bob@example.com")), timeout=TIMEOUT / 1000)
    expect(page.locator(f"#envelope-{message_id}")).to_have_attribute("data-state", "sent", timeout=TIMEOUT)
    bob.refresh_from_db()
    assert bob.email == "bob@example.com"  # the dialog updated the contact
    assert Notification.objects.get(message_id=message_id, res_partner=bob).notification_status == "sent"


def test_ignore_all_turns_envelope_plain(
    page: Page,
    app_url: str,
    login: Callable[[Page, str], None],
    lead_with_bob: tuple[Lead, Partner],
    smtp_sink: SmtpSink,
    celery_worker_live: LiveWorker,
) -> None:
    lead, bob = lead_with_bob
    bob.email = "bob@bad.example"
    bob.save()
    smtp_sink.fail("RCPT", REFUSED, address="bob@bad.example")
    login(page, "alice")
    _open_lead(page, app_url, lead)
    message_id = _send_message(page, "Reminder: the offer expires on Friday.")

    envelope = page.locator(f"#envelope-{message_id}")
    expect(envelope).to_have_attribute("data-state", "failed", timeout=TIMEOUT)
    # The record list flags the record; "My delivery failures" lists the message.
    page.goto(f"{app_url}/leads/")
    expect(page.locator(f'tr[data-record-id="{lead.pk}"]')).to_contain_text("1 failed")
    page.goto(f"{app_url}/failures/")
    row = page.locator(f'tr[data-message-id="{message_id}"]')
    expect(row).to_contain_text("Bob Customer")

    _open_lead(page, app_url, lead)
    envelope.locator(".envelope-toggle").click()
    envelope.get_by_role("button", name="Resend or ignore…").click()
    page.locator("#modal").get_by_role("button", name="Ignore all").click()
    expect(page.locator("#modal")).to_be_hidden()
    expect(page.locator(f"#envelope-{message_id}")).to_have_attribute("data-state", "sent")
    assert Notification.objects.get(message_id=message_id, res_partner=bob).notification_status == (
        NotificationStatus.CANCELED
    )
    assert not _delivered_to(smtp_sink, "bob@bad.example")


def test_added_follower_gets_the_next_message(
    page: Page,
    app_url: str,
    login: Callable[[Page, str], None],
    lead_with_bob: tuple[Lead, Partner],
    smtp_sink: SmtpSink,
    celery_worker_live: LiveWorker,
) -> None:
    lead, _bob = lead_with_bob
    login(page, "alice")
    _open_lead(page, app_url, lead)
    page.click("#btn-followers")
    page.fill("#add-follower", "Dana Buyer <dana@example.com>")
    page.click("#btn-add-follower")
    expect(page.locator("#followers-menu")).to_contain_text("Dana Buyer")
    page.keyboard.press("Escape")
    page.click("#btn-send-message")
    expect(page.locator("#recipients-message")).to_contain_text("Dana Buyer")
    message_id = _send_message(page, "Welcome aboard, Dana.")

    assert wait_until(lambda: bool(_delivered_to(smtp_sink, "dana@example.com")), timeout=TIMEOUT / 1000)
    expect(page.locator(f"#envelope-{message_id}")).to_have_attribute("data-state", "sent", timeout=TIMEOUT)
    assert Message.objects.get(pk=message_id).notifications.count() == 2  # Bob and Dana
