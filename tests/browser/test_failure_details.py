"""In a real browser: a bounce that names no reason explains itself in the envelope ("No error
populated"), with the notice's readable text and the pointers; a sent mail offers the pointers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, expect

from bounces import services
from bounces.models import InboundDecision
from chatter.models import Notification, NotificationStatus
from chatter.services import message_post
from demo.models import Lead
from mailcore.models import AliasDomain, Partner
from mailcore.signed_addresses import bounce_address
from mailqueue.models import MailRecipient

UNREADABLE = (
    b"From: MAILER-DAEMON@legacy.example\r\nSubject: Returned mail: see transcript for details\r\n"
    b"Message-ID: <legacy-2@legacy.example>\r\n\r\nSomething went wrong with your mail, sorry. <b>bold?</b>\r\n"
)


def _bounce(notification: Notification) -> None:
    delivery = MailRecipient.objects.get(notification=notification)
    rcpt = bounce_address(alias_domain=AliasDomain.objects.get(name="mailcore.localhost"), recipient_id=delivery.pk)
    reception = services.inbound_receive(raw=UNREADABLE, mail_from="", rcpt_tos=[rcpt])
    assert reception.decision == InboundDecision.BOUNCE
    assert services.message_process(inbound_id=reception.inbound_id).status == "done"


def test_unreadable_bounce_and_sent_mail_point_to_the_checks(
    page: Page, app_url: str, make_user: Callable[..., Any], login: Callable[[Any, str], None]
) -> None:
    make_user("alice", email="alice@example.com", name="Alice Martin", staff=True)
    lead = Lead.objects.create(name="Bounce target")
    bob = Partner.objects.create(name="Bob", email="bob@example.net")
    lead.message_subscribe([bob])
    author = Partner.objects.create(name="Sales", email="sales@example.com")
    bounced = message_post(
        record=lead, body="<p>Offer</p>", subtype="mt_comment", author=author, mail_auto_delete=False
    )
    _bounce(Notification.objects.get(message=bounced, res_partner=bob))
    delivered = message_post(record=lead, body="<p>Hello</p>", subtype="mt_comment", author=author)
    Notification.objects.filter(message=delivered).update(notification_status=NotificationStatus.SENT)

    login(page, "alice")
    page.goto(f"{app_url}/leads/{lead.pk}/")
    envelope = page.locator(f"#envelope-{bounced.pk}")
    expect(envelope).to_have_attribute("data-state", "failed")
    envelope.locator(".envelope-toggle").click()
    explained = envelope.locator("[data-unexplained-bounce]")
    expect(explained).to_contain_text("No error populated")
    explained.get_by_text("See Error Details").click()
    # The sender's markup is shown as text, not rendered.
    expect(explained.locator("pre.bounce-notice")).to_contain_text("sorry. <b>bold?</b>")
    expect(explained.locator("pre.bounce-notice b")).to_have_count(0)
    dns = explained.locator('a[data-link="dns"]')
    expect(dns).to_be_visible()
    expect(explained.locator('a[data-link="bounce-eml"]')).to_be_visible()
    expect(explained.locator('a[data-link="log"]')).to_be_visible()
    dns.click()
    page.wait_for_url(f"{app_url}/diagnostics/#check-dns")
    expect(page.locator("#check-dns")).to_be_visible()

    page.goto(f"{app_url}/leads/{lead.pk}/")
    sent = page.locator(f"#envelope-{delivered.pk}")
    expect(sent).to_have_attribute("data-state", "sent")
    sent.locator(".envelope-toggle").click()
    sent.get_by_text("The recipient says it never arrived?").click()
    help_block = sent.locator(".never-arrived [data-delivery-help]")
    expect(help_block.locator('a[data-link="dns"]')).to_be_visible()
    expect(help_block.locator('a[data-link="log"]')).to_be_visible()
    expect(sent.locator('a[data-link="support"]')).to_be_visible()
