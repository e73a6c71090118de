"""Chatter services: posting, following, notifying, tracking, reading and resending.

Every write with rules lives here. Where a function replicates an Odoo method it keeps
that name and says so in the first line of its docstring.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils import timezone, translation
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext

from chatter.context import acting_partner
from chatter.exceptions import MessagePostError, UnknownSubtypeError
from chatter.models import (
    FAILED_STATUSES,
    Attachment,
    Follower,
    Message,
    MessageSubtype,
    MessageType,
    Notification,
    NotificationKind,
    NotificationStatus,
    TrackingValue,
)
from chatter.notification_status import notification_set_status
from chatter.registry import EmailRecipient, get_email_canceller, get_email_notifier
from chatter.sanitize import html_sanitize, plaintext_to_html
from mailcore.addresses import make_message_id
from mailcore.contacts import contact_email_set, contact_find
from mailcore.models import Alias, AliasDomain, NotificationType, Partner
from mailcore.signed_addresses import reply_address

if TYPE_CHECKING:
    from chatter.thread import MailThread

MT_COMMENT = "mt_comment"
MT_NOTE = "mt_note"

# (name, bytes, mimetype) — Odoo's attachment tuples.
AttachmentTuple = tuple[str, bytes, str]


# --- lookups ------------------------------------------------------------------------------------
def subtype_get(code: str) -> MessageSubtype:
    """The subtype with this code (``mt_comment``, ``mt_note``, ``demo.mt_lead_stage`` …)."""
    try:
        return MessageSubtype.objects.get(code=code)
    except MessageSubtype.DoesNotExist as exc:
        raise UnknownSubtypeError(gettext("No message subtype with code %(code)r.") % {"code": code}) from exc


def alias_domain_default() -> AliasDomain | None:
    """The alias domain of the database (the first by sequence), or None before one exists."""
    return AliasDomain.objects.order_by("sequence", "id").first()


def thread_reply_to_address(*, model: ContentType, res_id: int, alias_domain: AliasDomain | None) -> str:
    """Where replies to a record's mail go: its own alias, else a signed catchall token.

    Odoo replies to the record alias or the catchall; we also sign the thread into the local part
    (``catchall+<ct>.<id>-<hmac>@domain``) so a reply routes even when a provider rewrote every
    Message-ID.
    """
    alias = (
        Alias.objects.select_related("alias_domain")
        .filter(alias_model=model, alias_force_thread_id=res_id, active=True)
        .first()
    )
    if alias is not None:
        return alias.display_email
    if alias_domain is None:
        return ""
    return reply_address(alias_domain=alias_domain, model_id=model.pk, res_id=res_id)


def _compute_author(author: Partner | None, email_from: str) -> tuple[Partner | None, str]:
    """Odoo ``_message_compute_author``: explicit author, else the sender's contact, else the actor."""
    if author is None and email_from:
        author = contact_find(email=email_from)
    if author is None and not email_from:
        author = acting_partner()
    if not email_from and author is not None:
        email_from = author.email_formatted
    return author, email_from


def _compute_parent(model: ContentType, res_id: int, parent: Message | None) -> Message | None:
    """Odoo ``_message_compute_parent_id``: flat threads hang on the first message of the record."""
    if parent is not None:
        while parent.parent_id is not None and parent.parent is not None:
            parent = parent.parent
        return parent
    return Message.objects.filter(model=model, res_id=res_id).order_by("date", "id").only("id").first()


# --- posting ------------------------------------------------------------------------------------
@transaction.atomic
def message_post(
    *,
    record: MailThread,
    body: str = "",
    body_is_html: bool = True,
    subject: str = "",
    message_type: str = MessageType.COMMENT,
    subtype: str | None = None,
    author: Partner | None = None,
    email_from: str = "",
    partner_ids: Sequence[int] = (),
    attachments: Sequence[AttachmentTuple] = (),
    parent: Message | None = None,
    message_id: str = "",
    urgent: bool = True,
    mail_auto_delete: bool = True,
    scheduled_date: dt.datetime | None = None,
    notify_author: bool = False,
    tracking_values: Sequence[TrackingValue] = (),
    is_internal: bool | None = None,
    notify: bool = True,
) -> Message:
    """Odoo ``message_post``: create a chatter message on ``record`` and notify its recipients.

    Recipients are the followers subscribed to the message's subtype plus ``partner_ids``, minus
    the author. Users who handle notifications in the app get an inbox notification; everyone
    else an e-mail notification, carried by outgoing queue rows. ``urgent`` (person-to-person) mail
    is sent right after commit; otherwise it waits for the Email Queue Manager cron. A Note
    (``mt_note``, the default as in Odoo) notifies nobody but the explicit recipients.
    ``notify=False`` is Odoo's ``_message_log``: the message is stored and nobody is notified.
    """
    if record.pk is None:
        raise MessagePostError(
            gettext(
                "Posting a message should be done on a business document. "
                "Use message_notify to send a notification to an user."
            )
        )
    if message_type == MessageType.USER_NOTIFICATION:
        raise MessagePostError(gettext("Use message_notify to send a notification to an user."))
    subtype_obj = subtype_get(subtype or MT_NOTE)
    author, email_from = _compute_author(author, email_from)
    if author is None and not email_from and message_type != MessageType.NOTIFICATION:
        raise MessagePostError(gettext("Unable to send message, please configure the sender's email address."))

    model = ContentType.objects.get_for_model(record)
    alias_domain = alias_domain_default()
    body_html = html_sanitize(body) if body_is_html else plaintext_to_html(body)
    message = Message.objects.create(
        model=model,
        res_id=record.pk,
        record_name=str(record)[:255],
        message_type=message_type,
        subtype=subtype_obj,
        is_internal=subtype_obj.internal if is_internal is None else is_internal,
        author=author,
        email_from=email_from,
        reply_to=thread_reply_to_address(model=model, res_id=record.pk, alias_domain=alias_domain),
        subject=subject,
        body=body_html,
        message_id=message_id or make_message_id(f"{record.pk}-{model.app_label}.{model.model}"),
        parent=_compute_parent(model, record.pk, parent),
        record_alias_domain=alias_domain,
    )
    if partner_ids:
        message.partners.add(*partner_ids)
    if attachments:
        created = Attachment.objects.bulk_create(
            Attachment(name=name, datas=data, mimetype=mimetype or "application/octet-stream", file_size=len(data))
            for name, data, mimetype in attachments
        )
        message.attachments.add(*created)
    if tracking_values:
        for value in tracking_values:
            value.message = message
        TrackingValue.objects.bulk_create(tracking_values)

    # Odoo auto-subscribes the "real author": the acting user, else the author if active.
    real_author = acting_partner() or author
    if real_author is not None and real_author.active and message_type != MessageType.NOTIFICATION:
        _subscribe_if_absent(model=model, res_id=record.pk, partner=real_author)

    if not notify:
        return message
    notify_thread(
        message=message,
        partner_ids=partner_ids,
        author=author,
        notify_author=notify_author,
        urgent=urgent,
        auto_delete=mail_auto_delete,
        scheduled_date=scheduled_date,
    )
    return message


def notify_thread(
    *,
    message: Message,
    partner_ids: Sequence[int] = (),
    author: Partner | None,
    notify_author: bool = False,
    urgent: bool = True,
    auto_delete: bool = True,
    scheduled_date: dt.datetime | None = None,
) -> list[Notification]:
    """Odoo ``_notify_thread``: one notification per recipient, then hand e-mail to the queue.

    The number of queries does not grow with the number of followers: recipients come from one
    query and notifications are created in bulk.
    """
    recipients: dict[int, str] = {}  # partner id -> "inbox" | "email"
    langs: dict[int, str] = {}  # partner id -> language of its mail, read by the same queries
    if message.model_id is not None and message.res_id is not None and message.subtype_id is not None:
        rows = Follower.objects.filter(
            model_id=message.model_id,
            res_id=message.res_id,
            subtypes=message.subtype_id,
            partner__active=True,
        ).values_list("partner_id", "partner__user_id", "partner__notification_type", "partner__lang")
        for partner_id, user_id, notification_type, lang in rows:
            recipients[partner_id] = _notification_kind(user_id, notification_type)
            langs[partner_id] = lang
    if partner_ids:
        partner_rows = Partner.objects.filter(id__in=partner_ids, active=True).values_list(
            "id", "user_id", "notification_type", "lang"
        )
        for partner_id, user_id, notification_type, lang in partner_rows:
            recipients[partner_id] = _notification_kind(user_id, notification_type)
            langs[partner_id] = lang
    if author is not None and not notify_author:
        recipients.pop(author.pk, None)
    if not recipients:
        return []

    now = timezone.now()
    notifications = Notification.objects.bulk_create(
        Notification(
            message=message,
            res_partner_id=partner_id,
            author=author,
            notification_type=kind,
            # Inbox notifications are delivered by being created; e-mail ones wait for the queue.
            notification_status=NotificationStatus.SENT if kind == "inbox" else NotificationStatus.READY,
            # E-mail notifications never show in the inbox (Odoo sets is_read on them).
            is_read=kind == "email",
            read_date=now if kind == "email" else None,
        )
        for partner_id, kind in recipients.items()
    )
    email_recipients = [
        EmailRecipient(partner_id=n.res_partner_id, notification_id=n.pk, lang=langs.get(n.res_partner_id, ""))
        for n in notifications
        if n.notification_type == NotificationKind.EMAIL
    ]
    if email_recipients:
        get_email_notifier()(
            message=message,
            recipients=email_recipients,
            urgent=urgent,
            auto_delete=auto_delete,
            scheduled_date=scheduled_date,
        )
    return notifications


def _notification_kind(user_id: int | None, notification_type: str) -> str:
    if user_id is not None and notification_type == NotificationType.INBOX:
        return NotificationKind.INBOX
    return NotificationKind.EMAIL


# --- followers ----------------------------------------------------------------------------------
def _default_subtypes(model: ContentType) -> list[MessageSubtype]:
    return list(
        MessageSubtype.objects.filter(default=True, hidden=False).filter(
            models.Q(res_model__isnull=True) | models.Q(res_model=model)
        )
    )


def _subscribe_if_absent(*, model: ContentType, res_id: int, partner: Partner) -> None:
    follower, created = Follower.objects.get_or_create(model=model, res_id=res_id, partner=partner)
    if created:
        follower.subtypes.set(_default_subtypes(model))


@transaction.atomic
def message_subscribe(
    *, record: models.Model, partners: Iterable[Partner], subtype_codes: Iterable[str] | None = None
) -> list[Follower]:
    """Odoo ``message_subscribe``: follow ``record``; with ``subtype_codes``, exactly those subtypes.

    Without subtypes, new followers get the default subtypes and existing ones are unchanged.
    """
    model = ContentType.objects.get_for_model(record)
    subtypes = (
        list(MessageSubtype.objects.filter(code__in=list(subtype_codes))) if subtype_codes is not None else None
    )
    followers: list[Follower] = []
    for partner in partners:
        follower, created = Follower.objects.get_or_create(model=model, res_id=record.pk, partner=partner)
        if subtypes is not None:
            follower.subtypes.set(subtypes)
        elif created:
            follower.subtypes.set(_default_subtypes(model))
        followers.append(follower)
    return followers


def message_unsubscribe(*, record: models.Model, partners: Iterable[Partner]) -> int:
    """Odoo ``message_unsubscribe``: stop following ``record``. Returns how many were removed."""
    model = ContentType.objects.get_for_model(record)
    _total, per_model = Follower.objects.filter(
        model=model, res_id=record.pk, partner__in=[p.pk for p in partners]
    ).delete()
    # ``delete()``'s total also counts the cascaded follower-subtype links.
    return per_model.get(Follower._meta.label, 0)


@transaction.atomic
def follower_set_subtypes(*, follower: Follower, subtype_ids: Iterable[int]) -> Follower:
    """Choose which subtypes a follower is notified of."""
    follower.subtypes.set(list(subtype_ids))
    return follower


# --- tracking -----------------------------------------------------------------------------------
def _display(record: models.Model, field: Any, value: Any) -> str:
    if value is None or value == "":
        return ""
    if getattr(field, "choices", None):
        return str(dict(field.flatchoices).get(value, value))
    if field.is_relation and field.many_to_one:
        related = field.related_model._default_manager.filter(pk=value).first()
        return str(related) if related is not None else str(value)
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value)


def thread_track_changes(*, record: MailThread, initial: dict[str, Any], changed: set[str]) -> Message:
    """Odoo ``_track_finalize``: log tracked field changes as tracking values.

    With a subtype from ``record._track_subtype`` the log is posted (its followers are
    notified); without, it is a silent note.
    """
    values: list[TrackingValue] = []
    for sequence, name in enumerate(record.mail_tracked_fields):
        if name not in changed:
            continue
        field = record._meta.get_field(name)
        assert isinstance(field, models.Field)  # tracked fields are concrete fields
        old, new = initial[name], getattr(record, field.attname)
        # Stored in the company's language whoever writes; shown in each reader's (TrackingValue.label).
        with translation.override(settings.LANGUAGE_CODE):
            value = TrackingValue(
                field_name=name,
                field_desc=str(capfirst(field.verbose_name)),
                field_type=field.get_internal_type(),
                old_value_char=_display(record, field, old),
                new_value_char=_display(record, field, new),
                sequence=sequence,
            )
        if isinstance(old, bool) or isinstance(new, bool):
            value.old_value_integer = None if old is None else int(old)
            value.new_value_integer = None if new is None else int(new)
        elif isinstance(old, int) or isinstance(new, int):
            value.old_value_integer, value.new_value_integer = old, new
        elif isinstance(old, float | Decimal) or isinstance(new, float | Decimal):
            # Odoo stores monetary values in the float columns.
            value.old_value_float = None if old is None else float(old)
            value.new_value_float = None if new is None else float(new)
        elif isinstance(old, dt.datetime) or isinstance(new, dt.datetime):
            value.old_value_datetime, value.new_value_datetime = old, new
        values.append(value)
    subtype_code = record._track_subtype(changed)
    subtype = subtype_get(subtype_code) if subtype_code else None
    return message_post(
        record=record,
        body=gettext(subtype.description) if subtype is not None and subtype.description else "",
        message_type=MessageType.NOTIFICATION,
        subtype=subtype_code or MT_NOTE,
        tracking_values=values,
        urgent=True,
        # Without a subtype Odoo logs the change (``_message_log``): even Note followers are not told.
        notify=subtype is not None,
    )


def thread_log_creation(*, record: MailThread) -> Message | None:
    """Log "<Model> created" on a new record (Odoo's creation message); the creator follows it."""
    actor = acting_partner()
    if actor is not None and actor.active:
        # Odoo's create() subscribes the creator with the default subtypes.
        _subscribe_if_absent(model=ContentType.objects.get_for_model(record), res_id=record.pk, partner=actor)
    if not record.mail_log_creation:
        return None
    # In the creator's language, as Odoo writes its creation message.
    body = gettext("%(document)s created") % {"document": capfirst(record._meta.verbose_name)}
    return message_post(
        record=record,
        body=format_html("<p>{}</p>", body),
        message_type=MessageType.NOTIFICATION,
        subtype=MT_NOTE,
        author=actor,
        notify=False,  # Odoo logs the creation message with ``_message_log``.
    )


# --- reading and failures -----------------------------------------------------------------------
def notification_mark_read(*, partner: Partner, notification_ids: Iterable[int] | None = None) -> int:
    """Mark inbox notifications as read (all of the partner's when ``notification_ids`` is None)."""
    qs = Notification.objects.filter(res_partner=partner, is_read=False)
    if notification_ids is not None:
        qs = qs.filter(id__in=list(notification_ids))
    return qs.update(is_read=True, read_date=timezone.now())


def _failed_email_notifications(message: Message) -> list[tuple[int, int]]:
    """(notification id, partner id) of the message's failed e-mail notifications."""
    return list(
        Notification.objects.filter(
            message=message,
            notification_type=NotificationKind.EMAIL,
            notification_status__in=FAILED_STATUSES,
        ).values_list("pk", "res_partner_id")
    )


@transaction.atomic
def message_cancel_failures(*, message: Message) -> int:
    """Odoo resend wizard "Ignore all": every failed e-mail notification becomes ``canceled``.

    Final, as Odoo warns: the queue first takes their failed deliveries off its rows, so no
    Retry, Send Now or cron run can send them later.
    """
    failed = [pk for pk, _partner_id in _failed_email_notifications(message)]
    if not failed:
        return 0
    get_email_canceller()(notification_ids=failed)
    return notification_set_status(notifications=failed, status=NotificationStatus.CANCELED, only_from=FAILED_STATUSES)


@transaction.atomic
def message_resend(
    *,
    message: Message,
    retry_partner_ids: Iterable[int],
    email_updates: dict[int, str] | None = None,
) -> list[Notification]:
    """Odoo resend wizard "Send & close": resend to the toggled-on recipients, cancel the others.

    ``email_updates`` maps a partner id to a corrected address; it updates the contact first.
    The queue first takes every failed delivery of the message off its rows; the toggled-off
    recipients are cancelled for good, the toggled-on ones go through a new queue row, with their
    notifications reset to ``ready`` and relinked (Odoo's ``resend_existing``). Returns the
    notifications resent.
    """
    retry = set(retry_partner_ids)
    for partner_id, email in (email_updates or {}).items():
        contact_email_set(partner=Partner.objects.get(pk=partner_id), email=email, required=True)
    failed = _failed_email_notifications(message)
    if not failed:
        return []
    get_email_canceller()(notification_ids=[pk for pk, _partner_id in failed])
    notification_set_status(
        notifications=[pk for pk, partner_id in failed if partner_id not in retry],
        status=NotificationStatus.CANCELED,
        only_from=FAILED_STATUSES,
    )
    to_retry = [pk for pk, partner_id in failed if partner_id in retry]
    notification_set_status(notifications=to_retry, status=NotificationStatus.READY, only_from=FAILED_STATUSES)
    # Only those this call moved to ready: one changed meanwhile by someone else is theirs.
    resent = list(
        Notification.objects.filter(pk__in=to_retry, notification_status=NotificationStatus.READY)
        .select_related("res_partner")
        .order_by("pk")
    )
    if resent:
        get_email_notifier()(
            message=message,
            recipients=[
                EmailRecipient(partner_id=n.res_partner_id, notification_id=n.pk, lang=n.res_partner.lang)
                for n in resent
            ],
            urgent=True,
            auto_delete=True,
            scheduled_date=None,
            resend_existing=True,
        )
    return resent
