"""The resend dialog's outcome is the truth everywhere, in a real browser with a real worker and sink.

A message to three followers: Carl and Dan are refused by the SMTP sink. The Delivery failure
dialog resends to Dan and toggles Carl off; a queue tab opened before still shows the old failed
row, and its Retry (and a bulk Retry of everything) sends nothing to Carl. A second message, also
refused for Carl, is settled with Ignore all, then everything in the queue is retried again. Carl's
mailbox never receives a thing, and his envelope lines stay "Cancelled".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, expect

from chatter.models import Notification, NotificationStatus
from demo.models import Lead
from mailcore.models import Partner
from mailcore.testing.smtp import SmtpSink
from mailqueue.models import Mail, MailState
from tests.celery_fixtures import LiveWorker, wait_until

REFUSED = "554 5.7.1 <{}>: Relay access denied by policy"
TIMEOUT = 25_000  # ms


def _received(sink: SmtpSink, address: str) -> list[Any]:
    return [m for m in sink.messages if address in m.rcpt_tos]


def _send_message(page: Page, text: str) -> int:
    if page.locator("form.composer").is_hidden():
        page.click("#btn-send-message")
    page.fill(".composer textarea", text)
    page.click("#composer-send")
    first = page.locator("#messages .msg").first
    expect(first).to_contain_text(text)
    return int(first.get_attribute("data-message-id") or 0)


def _open_dialog(page: Page, message_id: int) -> Any:
    envelope = page.locator(f"#envelope-{message_id}")
    expect(envelope).to_have_attribute("data-state", "failed", timeout=TIMEOUT)
    envelope.locator(".envelope-toggle").click()
    envelope.get_by_role("button", name="Resend or ignore…").click()
    dialog = page.locator("#modal")
    expect(dialog).to_be_visible()
    return dialog


def _queue_idle() -> bool:
    return not Mail.objects.filter(state=MailState.OUTGOING).exists()


def _retry_everything(queue: Page, app_url: str) -> None:
    """What a user could still click: bulk Retry on every row of the queue."""
    queue.goto(f"{app_url}/queue/")
    if queue.locator("#queue-table").count():
        queue.locator('input[data-select-all="#queue-table .row-check"]').check()
        queue.click("#bulk-retry")
        expect(queue.locator(".flash")).to_be_visible()


def test_a_recipient_excluded_in_the_dialog_never_receives_anything(
    page: Page,
    app_url: str,
    make_user: Callable[..., Any],
    login: Callable[[Page, str], None],
    smtp_sink: SmtpSink,
    celery_worker_live: LiveWorker,
) -> None:
    make_user("alice", email="alice@example.com", name="Alice Martin", staff=True)
    lead = Lead.objects.create(name="Office chairs for Globex")
    bob = Partner.objects.create(name="Bob Customer", email="bob@example.com")
    carl = Partner.objects.create(name="Carl Excluded", email="carl@example.com")
    dan = Partner.objects.create(name="Dan Retried", email="dan@example.com")
    lead.message_subscribe([bob, carl, dan])
    # Carl is refused once for each message: any later attempt would reach his mailbox.
    smtp_sink.fail("RCPT", REFUSED.format(carl.email), address=carl.email, times=1)
    smtp_sink.fail("RCPT", REFUSED.format(dan.email), address=dan.email, times=1)
    login(page, "alice")
    page.goto(f"{app_url}/leads/{lead.pk}/")

    first = _send_message(page, "Your quotation is ready.")
    dialog = _open_dialog(page, first)
    (old_row,) = Mail.objects.filter(message_id=first)
    # A queue tab opened while the row is still "Delivery Failed".
    queue = page.context.new_page()
    queue.goto(f"{app_url}/queue/?state=exception")
    stale = queue.locator(f'tr[data-mail-id="{old_row.pk}"]')
    expect(stale).to_contain_text("Delivery Failed")

    # Send & close: Dan resent, Carl toggled off.
    expect(dialog).to_contain_text("Carl Excluded")
    expect(dialog).to_contain_text("Dan Retried")
    dialog.get_by_label("Try again for Carl Excluded").set_checked(False, force=True)
    dialog.get_by_role("button", name="Send & close").click()
    expect(dialog).to_be_hidden()
    assert wait_until(lambda: bool(_received(smtp_sink, dan.email)), timeout=TIMEOUT / 1000)
    expect(page.locator(f"#envelope-{first}")).to_have_attribute("data-state", "sent", timeout=TIMEOUT)

    # Retry on the stale row: nothing left on it to send.
    stale.locator('button[data-action="retry"]').click()
    expect(queue.locator(".flash")).to_contain_text("Nothing was put back in the queue")
    queue.goto(f"{app_url}/queue/?state=exception")
    expect(queue.locator(f'tr[data-mail-id="{old_row.pk}"]')).to_have_count(0)
    _retry_everything(queue, app_url)
    assert wait_until(_queue_idle, timeout=TIMEOUT / 1000)
    assert _received(smtp_sink, carl.email) == []

    # A second message: Carl refused again, the dialog's Ignore all.
    smtp_sink.fail("RCPT", REFUSED.format(carl.email), address=carl.email, times=1)
    page.bring_to_front()
    second = _send_message(page, "Reminder: the offer expires on Friday.")
    dialog = _open_dialog(page, second)
    expect(dialog).to_contain_text("Carl Excluded")
    dialog.get_by_role("button", name="Ignore all").click()
    expect(dialog).to_be_hidden()
    expect(page.locator(f"#envelope-{second}")).to_have_attribute("data-state", "sent")
    queue.goto(f"{app_url}/queue/?state=exception")
    expect(queue.locator("#queue-table")).to_have_count(0)
    _retry_everything(queue, app_url)
    # Whatever the worker had left to do is done: Bob and Dan got both messages (Dan the first by
    # the dialog's resend).
    assert wait_until(lambda: len(_received(smtp_sink, bob.email)) == 2, timeout=TIMEOUT / 1000)
    assert wait_until(_queue_idle, timeout=TIMEOUT / 1000)

    assert _received(smtp_sink, carl.email) == []
    assert len(_received(smtp_sink, dan.email)) == 2
    for message_id in (first, second):
        assert Notification.objects.get(message_id=message_id, res_partner=carl).notification_status == (
            NotificationStatus.CANCELED
        )
    page.reload()
    for message_id in (first, second):
        envelope = page.locator(f"#envelope-{message_id}")
        expect(envelope).to_have_attribute("data-state", "sent")
        envelope.locator(".envelope-toggle").click()
        line = envelope.locator(f'.recipient[data-partner-id="{carl.pk}"]')
        expect(line).to_have_attribute("data-status", "canceled")
        expect(line).to_contain_text("Cancelled")
        envelope.locator(".envelope-toggle").click()
