"""message_post: recipients, notifications, queue rows, author, sanitising, attachments, errors."""

from __future__ import annotations

import re

import pytest
from django.contrib.contenttypes.models import ContentType

from chatter import services
from chatter.context import acting_as
from chatter.exceptions import MessagePostError, UnknownSubtypeError
from chatter.models import (
    Follower,
    Message,
    MessageType,
    Notification,
    NotificationKind,
    NotificationStatus,
)
from chatter.tests.factories import LeadFactory, PartnerFactory, email_user_partner, inbox_user_partner
from demo.models import Lead
from mailcore.models import Alias, AliasDomain
from mailcore.signed_addresses import BOUNCE_PURPOSE, REPLY_PURPOSE, SignedReply, signed_address_read, unsign_token
from mailqueue.models import Mail, MailRecipient

pytestmark = pytest.mark.django_db


def _subscribe(lead: Lead, *partners: object, codes: tuple[str, ...] = ("mt_comment",)) -> None:
    services.message_subscribe(record=lead, partners=partners, subtype_codes=codes)  # type: ignore[arg-type]


def _notified(message: Message) -> dict[int, Notification]:
    return {n.res_partner_id: n for n in message.notifications.all()}


# --- recipients ----------------------------------------------------------------------------------
def test_recipients_are_subtype_followers_plus_explicit_partners_minus_author() -> None:
    lead = LeadFactory()
    author = PartnerFactory(name="Author")
    comment_follower = PartnerFactory(name="Follows discussions")
    note_follower = PartnerFactory(name="Follows notes only")
    stage_follower = PartnerFactory(name="Follows stage only")
    explicit = PartnerFactory(name="Explicit")
    _subscribe(lead, comment_follower)
    _subscribe(lead, note_follower, codes=("mt_note",))
    _subscribe(lead, stage_follower, codes=("demo.mt_lead_stage",))
    _subscribe(lead, author)  # the author follows discussions too, but never notifies itself

    message = lead.message_post(body="<p>Hello</p>", subtype="mt_comment", author=author, partner_ids=[explicit.pk])

    assert set(_notified(message)) == {comment_follower.pk, explicit.pk}
    assert list(message.partners.all()) == [explicit]


def test_notify_author_includes_the_author() -> None:
    lead = LeadFactory()
    author = PartnerFactory()
    _subscribe(lead, author)
    message = lead.message_post(body="x", subtype="mt_comment", author=author, notify_author=True)
    assert set(_notified(message)) == {author.pk}


def test_inactive_followers_and_partners_are_not_notified() -> None:
    lead = LeadFactory()
    author = PartnerFactory()
    gone_follower = PartnerFactory(active=False)
    gone_explicit = PartnerFactory(active=False)
    _subscribe(lead, gone_follower)
    message = lead.message_post(body="x", subtype="mt_comment", author=author, partner_ids=[gone_explicit.pk])
    assert message.notifications.count() == 0
    assert Mail.objects.count() == 0


def test_author_is_auto_subscribed_with_default_subtypes() -> None:
    lead = LeadFactory()
    author = PartnerFactory()
    lead.message_post(body="x", subtype="mt_comment", author=author)

    follower = Follower.objects.get(partner=author)
    assert (follower.model, follower.res_id) == (ContentType.objects.get_for_model(Lead), lead.pk)
    # Defaults for a lead: the global default subtypes plus the lead's default ones; never the
    # internal Note nor the non-default "Stage Changed".
    assert set(follower.subtypes.values_list("code", flat=True)) == {
        "mt_comment",
        "mt_activities",
        "demo.mt_lead_won",
    }


def test_author_already_following_keeps_its_subtypes() -> None:
    lead = LeadFactory()
    author = PartnerFactory()
    _subscribe(lead, author, codes=("demo.mt_lead_stage",))
    lead.message_post(body="x", subtype="mt_comment", author=author)
    follower = Follower.objects.get(partner=author)
    assert list(follower.subtypes.values_list("code", flat=True)) == ["demo.mt_lead_stage"]


def test_acting_user_is_the_author_and_is_subscribed() -> None:
    lead = LeadFactory()
    actor = email_user_partner("Acting user")
    with acting_as(actor):
        message = lead.message_post(body="x", subtype="mt_comment")
    assert message.author == actor
    assert message.email_from == actor.email_formatted
    assert Follower.objects.filter(partner=actor, res_id=lead.pk).exists()


def test_author_found_from_email_from() -> None:
    lead = LeadFactory()
    known = PartnerFactory(email="Known <KNOWN@example.com>")
    message = lead.message_post(body="x", subtype="mt_comment", email_from="Someone <known@Example.com>")
    assert message.author == known
    assert message.email_from == "Someone <known@Example.com>"


def test_unknown_email_from_posts_without_author_and_subscribes_nobody() -> None:
    lead = LeadFactory()
    message = lead.message_post(body="x", subtype="mt_comment", email_from="stranger@example.org")
    assert message.author is None
    assert message.email_from == "stranger@example.org"
    assert not Follower.objects.exists()


def test_notification_type_message_does_not_subscribe_the_author() -> None:
    lead = LeadFactory()
    author = PartnerFactory()
    lead.message_post(body="x", subtype="mt_comment", author=author, message_type=MessageType.NOTIFICATION)
    assert not Follower.objects.filter(partner=author).exists()


# --- inbox vs e-mail ----------------------------------------------------------------------------
def test_inbox_users_get_inbox_notifications_and_no_queue_row() -> None:
    lead = LeadFactory()
    author = PartnerFactory()
    inbox = inbox_user_partner()
    by_mail_user = email_user_partner()
    customer = PartnerFactory()
    _subscribe(lead, inbox, by_mail_user, customer)

    message = lead.message_post(body="x", subtype="mt_comment", author=author)
    notifications = _notified(message)

    inbox_n = notifications[inbox.pk]
    assert inbox_n.notification_type == NotificationKind.INBOX
    assert inbox_n.notification_status == NotificationStatus.SENT
    assert inbox_n.is_read is False and inbox_n.read_date is None
    assert inbox_n.author == author
    for partner in (by_mail_user, customer):
        n = notifications[partner.pk]
        assert n.notification_type == NotificationKind.EMAIL
        assert n.notification_status == NotificationStatus.READY
        # E-mail notifications never show in the inbox (Odoo sets is_read on them).
        assert n.is_read is True
        assert n.author == author

    deliveries = MailRecipient.objects.filter(mail__message=message)
    assert {d.partner_id for d in deliveries} == {by_mail_user.pk, customer.pk}
    assert {d.notification_id for d in deliveries} == {
        notifications[by_mail_user.pk].pk,
        notifications[customer.pk].pk,
    }
    assert not MailRecipient.objects.filter(partner=inbox).exists()


def test_only_inbox_recipients_create_no_mail_at_all() -> None:
    lead = LeadFactory()
    author = PartnerFactory()
    _subscribe(lead, inbox_user_partner(), inbox_user_partner())
    message = lead.message_post(body="x", subtype="mt_comment", author=author)
    assert message.notifications.count() == 2
    assert Mail.objects.count() == 0


def test_inbox_preference_without_a_user_means_email() -> None:
    # notification_type is meaningless without a user: a plain contact is always reached by e-mail.
    lead = LeadFactory()
    contact = PartnerFactory(notification_type="inbox")
    message = lead.message_post(body="x", subtype="mt_comment", author=PartnerFactory(), partner_ids=[contact.pk])
    assert _notified(message)[contact.pk].notification_type == NotificationKind.EMAIL


def test_email_recipients_are_split_into_rows_of_fifty() -> None:
    lead = LeadFactory()
    followers = PartnerFactory.create_batch(120)
    _subscribe(lead, *followers)

    message = lead.message_post(body="x", subtype="mt_comment", author=PartnerFactory())

    mails = list(Mail.objects.filter(message=message).order_by("id"))
    assert [m.recipients.count() for m in mails] == [50, 50, 20]
    deliveries = MailRecipient.objects.filter(mail__message=message)
    assert deliveries.count() == 120
    assert {d.partner_id for d in deliveries} == {p.pk for p in followers}
    # Each delivery carries the notification of its own recipient.
    assert all(d.notification.res_partner_id == d.partner_id for d in deliveries.select_related("notification"))
    assert {d.state for d in deliveries} == {"pending"}


def test_note_notifies_nobody_but_explicit_recipients() -> None:
    lead = LeadFactory()
    author = PartnerFactory()
    follower = PartnerFactory()
    _subscribe(lead, follower)
    explicit = PartnerFactory()

    silent = lead.message_post(body="internal", author=author)  # the default subtype is Note
    assert silent.subtype is not None and silent.subtype.code == "mt_note"
    assert silent.is_internal is True
    assert silent.notifications.count() == 0

    targeted = lead.message_post(body="internal", subtype="mt_note", author=author, partner_ids=[explicit.pk])
    assert set(_notified(targeted)) == {explicit.pk}


# --- message fields -----------------------------------------------------------------------------
def test_message_fields() -> None:
    lead = LeadFactory(name="Big deal")
    author = PartnerFactory(name="Ann Author", email="ann@example.com")
    message = lead.message_post(body="<p>Hi</p>", subject="Offer", subtype="mt_comment", author=author)
    message.refresh_from_db()
    assert message.model == ContentType.objects.get_for_model(Lead)
    assert message.res_id == lead.pk
    assert message.record_name == "Big deal"
    assert message.message_type == MessageType.COMMENT
    assert message.is_internal is False
    assert message.subject == "Offer"
    assert message.email_from == "Ann Author <ann@example.com>"
    assert message.record_alias_domain == AliasDomain.objects.get(name="mailcore.localhost")
    assert re.fullmatch(rf"<[0-9a-f]{{16}}\.\d+\.\d+-mailcore-{lead.pk}-demo\.lead@[^>]+>", message.message_id)
    assert message in lead.message_ids


def test_each_message_has_its_own_message_id_and_explicit_one_is_kept() -> None:
    lead = LeadFactory()
    author = PartnerFactory()
    first = lead.message_post(body="a", subtype="mt_comment", author=author)
    second = lead.message_post(body="b", subtype="mt_comment", author=author)
    assert first.message_id != second.message_id
    given = lead.message_post(body="c", author=author, message_id="<given@example.com>")
    assert given.message_id == "<given@example.com>"


def test_flat_threads_hang_on_the_first_message_and_parents_resolve_to_the_root() -> None:
    lead = LeadFactory()  # logs "Lead created": the first message of the thread
    creation = lead.message_ids.get()
    author = PartnerFactory()
    first = lead.message_post(body="a", subtype="mt_comment", author=author)
    assert first.parent == creation
    reply = lead.message_post(body="b", subtype="mt_comment", author=author, parent=first)
    assert reply.parent == creation  # Odoo: the root ancestor of the given parent


def test_reply_to_is_a_signed_catchall_token() -> None:
    lead = LeadFactory()
    message = lead.message_post(body="x", subtype="mt_comment", author=PartnerFactory())
    content_type = ContentType.objects.get_for_model(Lead)
    match = re.fullmatch(r"catchall\+(?P<token>[^@]+)@mailcore\.localhost", message.reply_to)
    assert match, message.reply_to
    token = match["token"]
    domain = AliasDomain.objects.get(name="mailcore.localhost")
    assert signed_address_read(local_part=f"catchall+{token}", alias_domain=domain) == SignedReply(
        content_type.pk, lead.pk
    )
    # Another record's number with this signature, or another purpose, is refused.
    _value, _, signature = token.rpartition("-")
    assert unsign_token(REPLY_PURPOSE, f"{content_type.pk}.{lead.pk + 1}-{signature}") is None
    assert unsign_token(BOUNCE_PURPOSE, token) is None


def test_reply_to_is_the_record_alias_when_it_has_one() -> None:
    lead = LeadFactory()
    domain = AliasDomain.objects.get(name="mailcore.localhost")
    content_type = ContentType.objects.get_for_model(Lead)
    Alias.objects.create(
        alias_name="deal-42", alias_domain=domain, alias_model=content_type, alias_force_thread_id=lead.pk
    )
    # An alias of the model that creates new records is not this record's alias.
    Alias.objects.create(alias_name="sales", alias_domain=domain, alias_model=content_type)
    message = lead.message_post(body="x", subtype="mt_comment", author=PartnerFactory())
    assert message.reply_to == "deal-42@mailcore.localhost"
    other = LeadFactory().message_post(body="x", subtype="mt_comment", author=PartnerFactory())
    assert other.reply_to.startswith("catchall+")


def test_inactive_record_alias_is_not_used() -> None:
    lead = LeadFactory()
    domain = AliasDomain.objects.get(name="mailcore.localhost")
    Alias.objects.create(
        alias_name="old",
        alias_domain=domain,
        alias_model=ContentType.objects.get_for_model(Lead),
        alias_force_thread_id=lead.pk,
        active=False,
    )
    message = lead.message_post(body="x", subtype="mt_comment", author=PartnerFactory())
    assert message.reply_to.startswith("catchall+")


# --- body ---------------------------------------------------------------------------------------
def test_html_body_is_sanitised_and_keeps_formatting() -> None:
    lead = LeadFactory()
    body = (
        '<p onclick="steal()" style="color:red">Hello <b>bold</b> <i>it</i> <u>u</u></p>'
        "<script>alert(1)</script>"
        '<a href="javascript:alert(2)">bad link</a> <a href="https://example.com/x">good link</a>'
        "<ul><li>one</li></ul><table><tr><td>cell</td></tr></table>"
    )
    message = lead.message_post(body=body, subtype="mt_comment", author=PartnerFactory())
    stored = message.body
    assert "script" not in stored and "alert(1)" not in stored
    assert "onclick" not in stored and "steal" not in stored
    assert "javascript:" not in stored
    assert '<p style="color:red">' in stored
    assert "<b>bold</b>" in stored and "<i>it</i>" in stored and "<u>u</u>" in stored
    assert "https://example.com/x" in stored and ">bad link</a>" in stored
    assert "<li>one</li>" in stored and "<td>cell</td>" in stored


def test_plain_text_body_is_escaped_with_line_breaks_kept() -> None:
    lead = LeadFactory()
    text = "Price < 5 & > 2\nsecond line\n\n<script>x</script>"
    message = lead.message_post(body=text, body_is_html=False, subtype="mt_comment", author=PartnerFactory())
    assert message.body == "<p>Price &lt; 5 &amp; &gt; 2<br>second line</p><p>&lt;script&gt;x&lt;/script&gt;</p>"


# --- attachments --------------------------------------------------------------------------------
def test_attachments_are_stored_and_linked() -> None:
    lead = LeadFactory()
    message = lead.message_post(
        body="see attached",
        subtype="mt_comment",
        author=PartnerFactory(),
        attachments=[("quote.pdf", b"%PDF-1.4 data", "application/pdf"), ("raw.bin", b"\x00\x01", "")],
    )
    attachments = {a.name: a for a in message.attachments.all()}
    assert set(attachments) == {"quote.pdf", "raw.bin"}
    assert bytes(attachments["quote.pdf"].datas) == b"%PDF-1.4 data"
    assert attachments["quote.pdf"].mimetype == "application/pdf"
    assert attachments["quote.pdf"].file_size == len(b"%PDF-1.4 data")
    assert attachments["raw.bin"].mimetype == "application/octet-stream"


# --- errors -------------------------------------------------------------------------------------
def test_posting_on_an_unsaved_record_is_refused() -> None:
    with pytest.raises(MessagePostError, match="Posting a message should be done on a business document"):
        Lead(name="unsaved").message_post(body="x", author=PartnerFactory())
    assert not Message.objects.exists()


def test_user_notification_type_is_refused() -> None:
    lead = LeadFactory()
    with pytest.raises(MessagePostError, match="message_notify"):
        lead.message_post(body="x", author=PartnerFactory(), message_type=MessageType.USER_NOTIFICATION)
    assert lead.message_ids.count() == 1  # only the creation message


def test_unknown_subtype_is_refused_and_nothing_is_created() -> None:
    lead = LeadFactory()
    with pytest.raises(UnknownSubtypeError, match="no_such_subtype"):
        lead.message_post(body="x", subtype="no_such_subtype", author=PartnerFactory())
    assert lead.message_ids.count() == 1


def test_no_author_and_no_email_from_is_refused() -> None:
    lead = LeadFactory()
    follower = PartnerFactory()
    _subscribe(lead, follower)
    with pytest.raises(
        MessagePostError, match=re.escape("Unable to send message, please configure the sender's email address.")
    ):
        lead.message_post(body="x", subtype="mt_comment")
    assert lead.message_ids.count() == 1
    assert not Notification.objects.exists()
    assert not Mail.objects.exists()


def test_system_notifications_need_no_author() -> None:
    lead = LeadFactory()
    message = lead.message_post(body="x", message_type=MessageType.NOTIFICATION)
    assert message.author is None and message.email_from == ""
