"""Routing rules, in Odoo's order, through the services the gateway and the worker call."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from bounces import services
from bounces.models import InboundDecision, InboundMessage, InboundState
from bounces.tests.smtp_talk import make_mail
from chatter.models import Message, MessageType, Notification
from chatter.services import message_post, message_subscribe
from chatter.tests.factories import PartnerFactory, email_user_partner, inbox_user_partner
from demo.models import Lead, Ticket
from mailcore.models import Alias, AliasContact, AliasDomain, Partner
from mailcore.signed_addresses import bounce_address, reply_address

pytestmark = pytest.mark.django_db
DOMAIN = "mailcore.localhost"


def _domain() -> AliasDomain:
    return AliasDomain.objects.get(name=DOMAIN)


def _alias(name: str, model: type = Lead, **values: object) -> Alias:
    return Alias.objects.create(
        alias_name=name, alias_domain=_domain(), alias_model=ContentType.objects.get_for_model(model), **values
    )


def _token_address(record: Lead | Ticket) -> str:
    ct = ContentType.objects.get_for_model(record)
    return reply_address(alias_domain=_domain(), model_id=ct.pk, res_id=record.pk)


def receive(raw: bytes, rcpt: list[str], mail_from: str = "alice@example.com") -> InboundMessage:
    reception = services.inbound_receive(raw=raw, mail_from=mail_from, rcpt_tos=rcpt, peer="127.0.0.1:1", helo="t")
    return InboundMessage.objects.get(pk=reception.inbound_id)


def receive_and_process(raw: bytes, rcpt: list[str], mail_from: str = "alice@example.com") -> InboundMessage:
    row = receive(raw, rcpt, mail_from)
    if row.state == InboundState.RECEIVED:
        outcome = services.message_process(inbound_id=row.pk)
        assert outcome.status == "done", outcome
    row.refresh_from_db()
    return row


def _posted(record: Lead | Ticket) -> Message:
    return Message.objects.filter(
        model=ContentType.objects.get_for_model(record), res_id=record.pk, message_type=MessageType.EMAIL
    ).latest("id")


# --- 3. replies --------------------------------------------------------------------------------------
def test_reply_by_in_reply_to_posts_on_the_record_and_notifies_followers() -> None:
    lead = Lead.objects.create(name="Acme deal")
    salesman = inbox_user_partner("Salesman")
    customer = PartnerFactory(name="Alice", email="alice@example.com")
    lead.message_subscribe([salesman, customer])
    original = message_post(record=lead, body="<p>Our offer</p>", subtype="mt_comment", author=salesman)
    raw = make_mail(
        to="catchall@mailcore.localhost",
        subject="Re: Our offer",
        body="Sounds good!",
        headers={"In-Reply-To": original.message_id, "References": original.message_id},
    )
    row = receive_and_process(raw, [f"catchall@{DOMAIN}"])
    assert row.decision == InboundDecision.ACCEPTED
    assert row.state == InboundState.DONE
    reply = _posted(lead)
    assert row.chatter_message_id == reply.pk
    assert (row.routed_model_id, row.routed_res_id) == (ContentType.objects.get_for_model(Lead).pk, lead.pk)
    assert reply.author == customer
    assert reply.subtype.code == "mt_comment"
    assert reply.parent_id == (original.parent_id or original.pk)  # Odoo flattens threads on the first message
    assert not reply.is_internal
    assert "Sounds good!" in reply.body
    # The follower is notified; the author (a follower too) is not.
    assert set(Notification.objects.filter(message=reply).values_list("res_partner_id", flat=True)) == {salesman.pk}


def test_reply_found_by_the_last_32_references_only() -> None:
    lead = Lead.objects.create(name="Refs")
    original = message_post(record=lead, body="x", subtype="mt_comment", author=PartnerFactory())
    noise = [f"<noise{i}@elsewhere.example>" for i in range(40)]
    late = make_mail(headers={"References": " ".join([*noise, original.message_id])}, message_id="<late@x>")
    early = make_mail(headers={"References": " ".join([original.message_id, *noise])}, message_id="<early@x>")
    assert receive(late, [f"catchall@{DOMAIN}"]).decision == InboundDecision.ACCEPTED
    # Beyond the last 32 ids: not a reply, and written to the catchall only → refused.
    refused = receive(early, [f"catchall@{DOMAIN}"])
    assert refused.decision == InboundDecision.REJECTED


def test_reply_by_signed_token_when_every_message_id_was_rewritten() -> None:
    lead = Lead.objects.create(name="Token")
    row = receive_and_process(
        make_mail(headers={"In-Reply-To": "<rewritten-by-provider@outlook.example>"}), [_token_address(lead)]
    )
    assert row.decision == InboundDecision.ACCEPTED
    assert row.chatter_message.res_id == lead.pk  # type: ignore[union-attr]


def test_reply_to_an_internal_note_stays_internal_and_tells_the_note_author() -> None:
    lead = Lead.objects.create(name="Internal")
    author = email_user_partner("Note author")
    follower = email_user_partner("Follower")
    lead.message_subscribe([follower])
    note = message_post(record=lead, body="<p>between us</p>", subtype="mt_note", author=author)
    row = receive_and_process(make_mail(headers={"In-Reply-To": note.message_id}), [f"catchall@{DOMAIN}"])
    reply = row.chatter_message
    assert reply is not None
    assert reply.is_internal
    assert reply.subtype.code == "mt_note"  # type: ignore[union-attr]
    assert set(Notification.objects.filter(message=reply).values_list("res_partner_id", flat=True)) == {author.pk}


def test_reply_with_an_alias_of_another_model_is_a_forward_to_that_alias() -> None:
    lead = Lead.objects.create(name="Forward me")
    original = message_post(record=lead, body="x", subtype="mt_comment", author=PartnerFactory())
    _alias("support", Ticket)
    raw = make_mail(subject="Printer broken", headers={"In-Reply-To": original.message_id})
    row = receive_and_process(raw, [f"catchall@{DOMAIN}", f"support@{DOMAIN}"])
    ticket = Ticket.objects.get()
    assert ticket.name == "Printer broken"
    assert row.chatter_message.res_id == ticket.pk  # type: ignore[union-attr]
    assert not Message.objects.filter(
        model=ContentType.objects.get_for_model(Lead), res_id=lead.pk, message_type=MessageType.EMAIL
    ).exists()


def test_reply_to_a_deleted_record_falls_back_to_creation() -> None:
    lead = Lead.objects.create(name="Gone")
    original = message_post(record=lead, body="x", subtype="mt_comment", author=PartnerFactory())
    Lead.objects.filter(pk=lead.pk).delete()
    row = receive_and_process(
        make_mail(subject="Still there?", headers={"In-Reply-To": original.message_id}), [f"catchall@{DOMAIN}"]
    )
    new = Lead.objects.get()
    assert new.name == "Still there?"
    assert row.routed_res_id == new.pk


# --- 4. aliases ---------------------------------------------------------------------------------------
def test_alias_creates_a_record_with_its_defaults_and_no_creation_log() -> None:
    _alias("sales", alias_defaults={"description": "From the website", "stage": "qualified", "nonsense": 1})
    alice = PartnerFactory(name="Alice", email="alice@example.com")
    row = receive_and_process(make_mail(subject="Need 40 chairs", body="Price?"), [f"sales@{DOMAIN}"])
    lead = Lead.objects.get()
    assert (lead.name, lead.description, lead.stage, lead.customer) == (
        "Need 40 chairs",
        "From the website",
        "qualified",
        alice,
    )
    assert row.alias is not None and row.alias.alias_name == "sales"
    messages = list(Message.objects.filter(res_id=lead.pk, model=ContentType.objects.get_for_model(Lead)))
    assert [m.message_type for m in messages] == [MessageType.EMAIL]  # no "Lead created" note
    assert messages[0].author == alice


def test_ticket_alias_sets_the_primary_email_field() -> None:
    _alias("help", Ticket)
    receive_and_process(make_mail(sender="Bob <bob@example.com>", subject="Help"), [f"help@{DOMAIN}"])
    assert Ticket.objects.get().email_from == "Bob <bob@example.com>"


def test_alias_with_a_forced_record_posts_on_it() -> None:
    lead = Lead.objects.create(name="Forced")
    _alias("forced", alias_force_thread_id=lead.pk)
    row = receive_and_process(make_mail(), [f"forced@{DOMAIN}"])
    assert row.chatter_message.res_id == lead.pk  # type: ignore[union-attr]
    assert Lead.objects.count() == 1


def test_one_record_per_distinct_target_however_often_it_is_named() -> None:
    _alias("leads")
    lead = Lead.objects.create(name="Forced")
    _alias("desk", alias_force_thread_id=lead.pk)
    _alias("helpdesk", alias_force_thread_id=lead.pk)
    rcpt = [f"leads@{DOMAIN}", f"LEADS@{DOMAIN}", f"leads@{DOMAIN.upper()}", f"desk@{DOMAIN}", f"helpdesk@{DOMAIN}"]
    row = receive_and_process(make_mail(subject="Once"), rcpt)
    assert len(row.routes) == 2
    assert Lead.objects.filter(name="Once").count() == 1
    posted = Message.objects.filter(model=ContentType.objects.get_for_model(Lead), message_type=MessageType.EMAIL)
    assert posted.filter(res_id=lead.pk).count() == 1


def test_contact_policies() -> None:
    project = Lead.objects.create(name="Owner record")
    _alias("partners", alias_contact=AliasContact.PARTNERS)
    _alias(
        "followers",
        alias_contact=AliasContact.FOLLOWERS,
        alias_parent_model=ContentType.objects.get_for_model(Lead),
        alias_parent_thread_id=project.pk,
    )
    stranger = make_mail(sender="stranger@example.com")
    assert receive(stranger, [f"partners@{DOMAIN}"]).decision == InboundDecision.REJECTED
    assert receive(stranger, [f"followers@{DOMAIN}"]).decision == InboundDecision.REJECTED
    known = PartnerFactory(email="known@example.com")
    assert receive(make_mail(sender="known@example.com"), [f"partners@{DOMAIN}"]).decision == InboundDecision.ACCEPTED
    assert receive(make_mail(sender="known@example.com"), [f"followers@{DOMAIN}"]).decision == InboundDecision.REJECTED
    message_subscribe(record=project, partners=[known])
    assert receive(make_mail(sender="known@example.com"), [f"followers@{DOMAIN}"]).decision == InboundDecision.ACCEPTED


def test_one_refused_alias_does_not_refuse_the_others() -> None:
    _alias("open")
    _alias("closed", alias_contact=AliasContact.PARTNERS)
    row = receive(make_mail(sender="stranger@example.com"), [f"closed@{DOMAIN}", f"open@{DOMAIN}"])
    assert row.decision == InboundDecision.ACCEPTED
    assert f"closed@{DOMAIN} (restricted to known authors)" in row.reason
    assert len(row.routes) == 1


def test_reply_with_a_same_model_alias_applies_its_policy() -> None:
    lead = Lead.objects.create(name="Guarded")
    original = message_post(record=lead, body="x", subtype="mt_comment", author=PartnerFactory())
    _alias("guarded", alias_contact=AliasContact.FOLLOWERS)
    raw = make_mail(sender="stranger@example.com", headers={"In-Reply-To": original.message_id})
    row = receive(raw, [f"guarded@{DOMAIN}"])
    assert row.decision == InboundDecision.REJECTED
    assert row.smtp_reply.startswith("550")


# --- 1, 5, 6, 7 -----------------------------------------------------------------------------------------
def test_duplicate_of_an_existing_chatter_message_or_our_own_header() -> None:
    lead = Lead.objects.create(name="Dup")
    original = message_post(record=lead, body="x", subtype="mt_comment", author=PartnerFactory())
    looped = make_mail(message_id=original.message_id)
    ours = make_mail(headers={"X-Mailcore-Message-Id": original.message_id})
    assert receive(looped, [_token_address(lead)]).decision == InboundDecision.IGNORED
    assert receive(ours, [_token_address(lead)]).decision == InboundDecision.IGNORED


def test_duplicate_detected_again_at_processing_time() -> None:
    lead = Lead.objects.create(name="Race")
    raw = make_mail(message_id="<race@example.com>")
    first = receive(raw, [_token_address(lead)])
    # A second copy that passed the door before the first was processed (a concurrent session).
    second = receive(make_mail(message_id="<race-2@example.com>"), [_token_address(lead)])
    InboundMessage.objects.filter(pk=second.pk).update(message_id="<race@example.com>", raw=raw)
    assert services.message_process(inbound_id=first.pk).status == "done"
    assert services.message_process(inbound_id=second.pk).status == "done"
    second.refresh_from_db()
    assert second.decision == InboundDecision.IGNORED
    assert Message.objects.filter(message_id="<race@example.com>").count() == 1


def test_processing_twice_posts_once() -> None:
    lead = Lead.objects.create(name="Once")
    row = receive(make_mail(), [_token_address(lead)])
    assert services.message_process(inbound_id=row.pk).status == "done"
    assert services.message_process(inbound_id=row.pk).status == "skipped"
    assert (
        Message.objects.filter(
            model=ContentType.objects.get_for_model(Lead), res_id=lead.pk, message_type=MessageType.EMAIL
        ).count()
        == 1
    )


def test_loop_counter_is_per_sender_and_target_within_the_window(settings: pytest.FixtureRequest) -> None:
    lead, other = Lead.objects.create(name="A"), Lead.objects.create(name="B")
    for _ in range(20):
        assert receive(make_mail(sender="bot@example.com"), [_token_address(lead)]).decision == InboundDecision.ACCEPTED
    assert receive(make_mail(sender="bot@example.com"), [_token_address(lead)]).decision == InboundDecision.LOOP
    # Another target, another sender: not counted together.
    assert receive(make_mail(sender="bot@example.com"), [_token_address(other)]).decision == InboundDecision.ACCEPTED
    assert receive(make_mail(sender="human@example.com"), [_token_address(lead)]).decision == InboundDecision.ACCEPTED
    # Outside the window the old mails no longer count.
    InboundMessage.objects.update(received_at=timezone.now() - dt.timedelta(minutes=121))
    assert receive(make_mail(sender="bot@example.com"), [_token_address(lead)]).decision == InboundDecision.ACCEPTED
    settings.MAILCORE_GATEWAY_LOOP_ALLOWED = ["bot@example.com"]  # type: ignore[attr-defined]
    InboundMessage.objects.update(received_at=timezone.now())
    assert receive(make_mail(sender="bot@example.com"), [_token_address(lead)]).decision == InboundDecision.ACCEPTED


def test_later_non_bounce_mail_resets_the_bounce_counter() -> None:
    partner = PartnerFactory(email="Bouncy <bouncy@example.com>", message_bounce=3)
    receive(make_mail(sender="BOUNCY@example.com"), [f"catchall@{DOMAIN}"])  # even refused mail counts
    partner.refresh_from_db()
    assert partner.message_bounce == 0
    assert Partner.objects.get(pk=partner.pk).is_blacklisted is False


def test_accepted_mail_resets_the_bounce_counter_when_processed() -> None:
    lead = Lead.objects.create(name="Back")
    partner = PartnerFactory(email="back@example.com", message_bounce=4)
    row = receive(make_mail(sender="Back <back@example.com>"), [_token_address(lead)])
    partner.refresh_from_db()
    assert partner.message_bounce == 4  # not on the critical path of the 250
    services.message_process(inbound_id=row.pk)
    partner.refresh_from_db()
    assert partner.message_bounce == 0


def test_bounce_is_detected_before_routing() -> None:
    lead = Lead.objects.create(name="B")
    for raw, rcpt in [
        (make_mail(sender="MAILER-DAEMON@mx.example.com"), [_token_address(lead)]),
        (make_mail(), [f"bounce@{DOMAIN}"]),
        (make_mail(), [bounce_address(alias_domain=_domain(), recipient_id=42)]),
    ]:
        row = receive(raw, rcpt, mail_from="")
        assert row.decision == InboundDecision.BOUNCE
    assert InboundMessage.objects.order_by("-id").first().routes == [{"kind": "bounce", "recipient": 42}]  # type: ignore[union-attr]


# --- the door's batch INSERT ------------------------------------------------------------------------
def test_a_batch_stores_every_column_of_each_message_in_order() -> None:
    """Several messages decided together: one row each, every column as decided, ids in order."""
    lead = Lead.objects.create(name="Batch")
    token = _token_address(lead)
    reply = make_mail(to=token, subject="Re: Batch", body="Yes", message_id="<batch-1@example.com>")
    stray = make_mail(to=f"catchall@{DOMAIN}", subject="Hello", body="?", message_id="<batch-2@example.com>")
    bounce = b"From: MAILER-DAEMON@example.com\r\nSubject: Undelivered\r\n\r\nbody\xff\r\n"
    before = timezone.now()
    receptions = services.inbound_receive_many(
        [
            services.Incoming(reply, "alice@example.com", [token], "127.0.0.1:1", "one.example"),
            services.Incoming(stray, "bob@example.com", [f"catchall@{DOMAIN}"], "127.0.0.1:2", "two.example"),
            services.Incoming(
                bounce, "<>", [bounce_address(alias_domain=_domain(), recipient_id=42)], "127.0.0.1:3", ""
            ),
        ]
    )
    rows = [InboundMessage.objects.get(pk=r.inbound_id) for r in receptions]
    assert [r.inbound_id for r in receptions] == sorted(r.inbound_id for r in receptions)
    accepted, refused, bounced = rows

    ct = ContentType.objects.get_for_model(Lead)
    assert accepted.raw == reply and accepted.size == len(reply)
    assert (accepted.peer, accepted.helo, accepted.mail_from) == ("127.0.0.1:1", "one.example", "alice@example.com")
    assert accepted.rcpt_tos == [token]
    assert accepted.routes == [
        {"kind": "update", "model": ct.pk, "res_id": lead.pk, "alias": None, "parent": None}
        | {"internal": False, "defaults": {}}
    ]
    assert (accepted.routed_model_id, accepted.routed_res_id) == (ct.pk, lead.pk)
    assert (accepted.decision, accepted.state, accepted.processed_at) == (InboundDecision.ACCEPTED, "received", None)
    assert (accepted.message_id, accepted.subject, accepted.sender_email) == (
        "<batch-1@example.com>",
        "Re: Batch",
        "alice@example.com",
    )
    assert accepted.smtp_reply == f"250 2.0.0 Ok: queued as {accepted.queue_id}" == receptions[0].reply
    assert before <= accepted.received_at <= timezone.now()
    assert (accepted.error, accepted.attempt_count, accepted.lease_until, accepted.chatter_message) == (
        "",
        0,
        None,
        None,
    )

    assert refused.decision == InboundDecision.REJECTED and refused.state == InboundState.DONE
    assert refused.processed_at == refused.received_at == accepted.received_at
    assert (
        refused.smtp_reply.startswith("550-5.7.1 The email sent to catchall@")
        and refused.smtp_reply == receptions[1].reply
    )
    assert refused.routes == [] and refused.routed_model_id is None

    assert bounced.decision == InboundDecision.BOUNCE and bounced.mail_from == ""
    assert bounced.raw == bounce  # not UTF-8: stored byte for byte
    assert bounced.routes == [{"kind": "bounce", "recipient": 42}]
    assert len({r.queue_id for r in rows}) == 3
