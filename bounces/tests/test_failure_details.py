"""The "See Error Details" when a bounce came back but says no reason we can read ("No error
populated"), and the troubleshooting pointers of a mail that was sent but never arrived."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from bounces import services
from bounces.dsn import notice_excerpt
from bounces.models import InboundDecision, InboundMessage
from bounces.tests.dsn_builder import make_dsn
from chatter.models import Message, Notification, NotificationStatus
from chatter.services import message_post
from demo.models import Lead
from mailcore.models import AliasDomain, Partner
from mailcore.signed_addresses import bounce_address
from mailqueue.models import MailRecipient

pytestmark = pytest.mark.django_db
DOMAIN = "mailcore.localhost"
# A notice known to be a bounce (by its Return-Path token) that names no recipient and no reason,
# with markup that must reach the page escaped.
UNREADABLE = (
    b"From: MAILER-DAEMON@legacy.example\r\nSubject: Returned mail: see transcript for details\r\n"
    b"Message-ID: <legacy-1@legacy.example>\r\n\r\n"
    b"Something went wrong with your mail, sorry. <script>alert(1)</script>\r\n\r\n\r\n\r\n"
    b"Ask the postmaster.\r\n"
)


def _client(*, staff: bool) -> Client:
    user = get_user_model().objects.create_user("alice", password="pw", is_staff=staff, is_superuser=staff)
    client = Client()
    client.force_login(user)
    client.get(reverse("chatter:home"))  # gives the user a contact
    return client


@pytest.fixture
def sent() -> tuple[Message, Partner]:
    """A message on a lead e-mailed to Bob, as the sender would have."""
    lead = Lead.objects.create(name="Bounce target")
    bob = Partner.objects.create(name="Bob", email="bob@example.net")
    lead.message_subscribe([bob])
    message = message_post(
        record=lead,
        body="<p>Offer</p>",
        subtype="mt_comment",
        author=Partner.objects.create(name="Sales", email="sales@example.com"),
        mail_auto_delete=False,
    )
    return message, bob


def bounce_for(message: Message, partner: Partner, raw: bytes) -> InboundMessage:
    """``raw`` received at the Return-Path of ``partner``'s delivery, and processed."""
    notification = Notification.objects.get(message=message, res_partner=partner)
    delivery = MailRecipient.objects.get(notification=notification)
    rcpt = bounce_address(alias_domain=AliasDomain.objects.get(name=DOMAIN), recipient_id=delivery.pk)
    reception = services.inbound_receive(raw=raw, mail_from="", rcpt_tos=[rcpt])
    assert reception.decision == InboundDecision.BOUNCE
    assert services.message_process(inbound_id=reception.inbound_id).status == "done"
    return InboundMessage.objects.get(pk=reception.inbound_id)


def _envelope(client: Client, message: Message) -> str:
    response = client.get(reverse("chatter:envelope", args=[message.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_an_unreadable_bounce_says_so_and_shows_the_notice_escaped(sent: tuple[Message, Partner]) -> None:
    message, bob = sent
    inbound = bounce_for(message, bob, UNREADABLE)
    html = _envelope(_client(staff=True), message)
    assert "No error populated" in html and "gives no reason that can be read" in html
    block = re.search(r'<div class="no-error-populated".*?</ul>', html, re.S)
    assert block is not None
    assert "Something went wrong with your mail, sorry. &lt;script&gt;alert(1)&lt;/script&gt;" in block.group(0)
    assert "<script>alert(1)" not in html
    assert "\n\n\n" not in block.group(0).split("<pre", 1)[1].split("</pre>", 1)[0]  # blank runs folded
    links = dict(re.findall(r'href="([^"]+)"[^>]*data-link="([\w-]+)"', html))
    assert set(links.values()) >= {"log", "bounce-eml", "eml", "support", "dns"}
    by_kind = {kind: href for href, kind in links.items()}
    assert by_kind["bounce-eml"] == reverse("bounces:inbound_eml", args=[inbound.pk])
    assert by_kind["dns"] == reverse("console:diagnostics") + "#check-dns"
    assert by_kind["log"].startswith(reverse("mailqueue:log") + "?message_id=")
    # Every pointer leads somewhere real.
    client = _client_again()
    for href in (by_kind["bounce-eml"], by_kind["dns"].split("#")[0], by_kind["log"], by_kind["eml"]):
        assert client.get(href).status_code == 200, href


def _client_again() -> Client:
    user = get_user_model().objects.get(username="alice")
    client = Client()
    client.force_login(user)
    return client


def test_the_resend_dialog_explains_the_unreadable_bounce_too(sent: tuple[Message, Partner]) -> None:
    message, bob = sent
    bounce_for(message, bob, UNREADABLE)
    html = _client(staff=True).get(reverse("chatter:resend", args=[message.pk])).content.decode()
    assert "No error populated" in html
    assert 'data-link="support"' in html and 'data-link="eml"' in html and 'data-link="dns"' in html


def test_a_readable_bounce_shows_its_reason_not_the_explanation(sent: tuple[Message, Partner]) -> None:
    message, bob = sent
    bounce_for(message, bob, make_dsn(recipient="bob@example.net"))
    html = _envelope(_client(staff=True), message)
    assert "No error populated" not in html
    assert "Recipient address rejected: User unknown" in html


def test_a_sent_mail_offers_the_troubleshooting_pointers(sent: tuple[Message, Partner]) -> None:
    message, bob = sent
    Notification.objects.filter(message=message, res_partner=bob).update(notification_status=NotificationStatus.SENT)
    html = _envelope(_client(staff=True), message)
    assert "The recipient says it never arrived?" in html
    assert "No error populated" not in html
    for kind in ("log", "dns"):
        assert f'data-link="{kind}"' in html
    assert 'data-link="eml"' in html and 'data-link="support"' in html  # the envelope's own download links


def test_a_user_who_is_not_staff_is_told_to_ask_the_administrator(sent: tuple[Message, Partner]) -> None:
    message, bob = sent
    bounce_for(message, bob, UNREADABLE)
    html = _envelope(_client(staff=False), message)
    assert "No error populated" in html
    assert "Ask your administrator" in html
    assert 'data-link="dns"' not in html and 'data-link="bounce-eml"' not in html


def test_the_excerpt_is_bounded_and_without_control_characters() -> None:
    raw = b"From: MAILER-DAEMON@x.example\r\nSubject: failure\r\n\r\n" + b"a\x07b\x1b[31m " * 2000
    text = notice_excerpt(raw, limit=300)
    assert len(text) <= 300 and text.endswith("…")
    assert "\x07" not in text and "\x1b" not in text
    assert notice_excerpt(b"") == ""  # nothing readable: nothing shown, no error
