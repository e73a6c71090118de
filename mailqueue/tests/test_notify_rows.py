"""Outgoing rows created for e-mail notifications (mail_create_for_notifications)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from chatter.models import Message, Notification
from chatter.registry import EmailRecipient
from chatter.tests.factories import LeadFactory, PartnerFactory
from demo.models import Lead
from mailcore.models import MailServer
from mailqueue.crons import QUEUE_CRON
from mailqueue.models import CronState, Mail, MailRecipient, MailState
from mailqueue.services import mail_create_for_notifications

pytestmark = pytest.mark.django_db


def _dispatch_call(callback: Callable[[], Any]) -> tuple[str, dict[str, Any]]:
    """Which ``mailqueue.dispatch`` function an on-commit callback calls, and with what.

    The callbacks are inspected rather than run: the unit under test is the choice between
    "send right after commit" and "wake the queue cron", not Celery itself.
    """
    names = [n for n in callback.__code__.co_names if n in {"send_now_async", "queue_trigger"}]
    assert len(names) == 1, callback.__code__.co_names
    cells = dict(zip(callback.__code__.co_freevars, (c.cell_contents for c in callback.__closure__ or ()), strict=True))
    return names[0], {k: v for k, v in cells.items() if k != "dispatch"}


def _post(lead: Lead, n: int = 1, **kwargs: Any) -> Message:
    partners = PartnerFactory.create_batch(n)
    lead.message_subscribe(partners, subtype_codes=["mt_comment"])
    return lead.message_post(body="<p>Body</p>", subtype="mt_comment", author=PartnerFactory(), **kwargs)


def test_row_carries_the_message_headers_and_threading() -> None:
    lead = LeadFactory(name="Deal")
    author = PartnerFactory(name="Ann", email="ann@example.com")
    recipient = PartnerFactory()
    first = lead.message_post(body="first", subtype="mt_comment", author=author)
    message = lead.message_post(
        body="<p>Hello</p>", subject="Re: offer", subtype="mt_comment", author=author,
        partner_ids=[recipient.pk], parent=first,
    )  # fmt: skip
    root = lead.message_ids.order_by("id").first()  # the creation message: threads are flat
    assert root is not None and message.parent == root

    (row,) = Mail.objects.filter(message=message)
    assert row.state == MailState.OUTGOING
    assert row.is_notification is True
    assert row.subject == "Re: offer"
    assert row.email_from == "Ann <ann@example.com>"
    assert row.reply_to == message.reply_to and row.reply_to.startswith("catchall+")
    assert row.in_reply_to == root.message_id
    # References: the parent's Message-ID then the message's own (Odoo keeps its own as a trace).
    assert row.references == f"{root.message_id} {message.message_id}"
    ct = ContentType.objects.get_for_model(Lead)
    assert row.headers == {"X-Mailcore-Objects": f"{ct.pk}-{lead.pk}"}
    assert row.body_html.startswith("<div><p>Hello</p></div>")
    assert f'href="http://127.0.0.1:8000/records/{ct.pk}/{lead.pk}/"' in row.body_html
    assert "View Deal" in row.body_html
    assert (row.auto_delete, row.urgent, row.scheduled_date, row.attempt_count) == (True, True, None, 0)


def test_message_without_parent_references_only_itself() -> None:
    lead = LeadFactory()
    partner = PartnerFactory()
    message = Message.objects.create(
        model=ContentType.objects.get_for_model(Lead), res_id=lead.pk, record_name="Lonely",
        subject="", body="<p>x</p>", message_id="<own@example.com>", email_from="a@example.com",
    )  # fmt: skip
    notification = Notification.objects.create(message=message, res_partner=partner, notification_type="email")
    (row,) = mail_create_for_notifications(
        message=message,
        recipients=[EmailRecipient(partner_id=partner.pk, notification_id=notification.pk)],
        urgent=True,
        auto_delete=False,
        scheduled_date=None,
    )
    assert (row.in_reply_to, row.references) == ("", "<own@example.com>")
    assert row.subject == "Lonely"  # no subject: the record name
    assert row.auto_delete is False


def test_subject_newlines_are_flattened() -> None:
    lead = LeadFactory()
    message = _post(lead, subject="Line one\r\nLine two")
    assert Mail.objects.get(message=message).subject == "Line one  Line two"


def test_forced_mail_server_is_copied() -> None:
    lead = LeadFactory()
    server = MailServer.objects.create(name="Relay", smtp_host="127.0.0.1", smtp_port=2525)
    message = _post(lead)
    Mail.objects.filter(message=message).delete()
    message.mail_server = server
    message.save()
    partner = PartnerFactory()
    notification = Notification.objects.create(message=message, res_partner=partner, notification_type="email")
    (row,) = mail_create_for_notifications(
        message=message,
        recipients=[EmailRecipient(partner_id=partner.pk, notification_id=notification.pk)],
        urgent=True,
        auto_delete=True,
        scheduled_date=None,
    )
    assert row.mail_server == server


def test_rows_hold_the_configured_number_of_recipients(settings: Any) -> None:
    settings.MAILQUEUE_RECIPIENTS_PER_MAIL = 2
    lead = LeadFactory()
    message = _post(lead, n=5)
    rows = list(Mail.objects.filter(message=message).order_by("id"))
    assert [r.recipients.count() for r in rows] == [2, 2, 1]
    # Every row is the same mail: only the recipients differ.
    assert len({(r.subject, r.body_html, r.references, r.reply_to) for r in rows}) == 1
    assert MailRecipient.objects.filter(mail__in=rows).values("partner").distinct().count() == 5


def test_urgent_mail_is_sent_right_after_commit(django_capture_on_commit_callbacks: Any) -> None:
    lead = LeadFactory()
    with django_capture_on_commit_callbacks() as callbacks:
        message = _post(lead, n=3)
    ids = sorted(Mail.objects.filter(message=message).values_list("id", flat=True))
    calls = [_dispatch_call(cb) for cb in callbacks]
    assert calls == [("send_now_async", {"mail_ids": ids})]


def test_bulk_mail_waits_for_the_queue_cron(django_capture_on_commit_callbacks: Any) -> None:
    lead = LeadFactory()
    with django_capture_on_commit_callbacks() as callbacks:
        message = _post(lead, n=3, urgent=False)
    assert Mail.objects.get(message=message).urgent is False
    assert [_dispatch_call(cb) for cb in callbacks] == [("queue_trigger", {"scheduled_date": None})]


def test_scheduled_mail_triggers_the_cron_at_its_time(django_capture_on_commit_callbacks: Any) -> None:
    lead = LeadFactory()
    later = timezone.now() + dt.timedelta(hours=2)
    with django_capture_on_commit_callbacks() as callbacks:
        message = _post(lead, scheduled_date=later)
    row = Mail.objects.get(message=message)
    assert row.scheduled_date == later and row.urgent is True
    assert [_dispatch_call(cb) for cb in callbacks] == [("queue_trigger", {"scheduled_date": later})]


def test_urgent_mail_scheduled_in_the_past_is_sent_now(django_capture_on_commit_callbacks: Any) -> None:
    lead = LeadFactory()
    earlier = timezone.now() - dt.timedelta(minutes=5)
    with django_capture_on_commit_callbacks() as callbacks:
        _post(lead, scheduled_date=earlier)
    assert [name for name, _ in (_dispatch_call(cb) for cb in callbacks)] == ["send_now_async"]


def test_nothing_is_dispatched_without_email_recipients(django_capture_on_commit_callbacks: Any) -> None:
    lead = LeadFactory()
    with django_capture_on_commit_callbacks() as callbacks:
        lead.message_post(body="note", author=PartnerFactory())
    assert callbacks == []
    assert not Mail.objects.exists()


def test_scheduled_mail_books_the_queue_cron_for_its_time(
    django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    # Run the doorbell for real: a booking beyond the countdown horizon is kept on the cron's run
    # state (the sweep rings it when due) and nothing is published yet.
    settings.MAILQUEUE_TRIGGER_ETA_HORIZON_SECONDS = 600
    CronState.objects.filter(name=QUEUE_CRON).update(next_trigger_at=None)
    later = timezone.now() + dt.timedelta(hours=3)
    with django_capture_on_commit_callbacks(execute=True):
        _post(LeadFactory(), scheduled_date=later)
    assert CronState.objects.get(name=QUEUE_CRON).next_trigger_at == later
    # An earlier booking wins over a later one (Odoo keeps every ir.cron.trigger; the earliest runs first).
    sooner = timezone.now() + dt.timedelta(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        _post(LeadFactory(), scheduled_date=sooner)
    with django_capture_on_commit_callbacks(execute=True):
        _post(LeadFactory(), scheduled_date=later)
    assert CronState.objects.get(name=QUEUE_CRON).next_trigger_at == sooner
