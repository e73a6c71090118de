"""Reads for the record and chatter UI: record types, message pages, envelopes, inbox, failures.

Every list here is fetched with a fixed number of queries whatever its length (the chatter of a
record with 1,000 messages costs what one with 10 costs): related rows come through
``select_related`` / ``prefetch_related`` and the envelope is computed from prefetched rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import translation
from django.utils.text import slugify
from django.utils.translation import gettext as _

from chatter.models import (
    FAILED_STATUSES,
    Attachment,
    FailureType,
    Follower,
    Message,
    MessageSubtype,
    Notification,
    NotificationKind,
    NotificationStatus,
)
from chatter.registry import EmailRetry, get_email_retry_lookup
from chatter.sanitize import html_to_plaintext
from chatter.thread import MailThread
from mailcore.models import Partner

MESSAGES_PER_PAGE = 30


# --- record types ------------------------------------------------------------------------------
@dataclass(frozen=True)
class RecordType:
    """A model with a chatter, as the UI lists it (``/leads/`` …).

    The slug is the English plural (URLs do not change with the language); the labels are read
    from the model's (translated) verbose names each time, in the active language.
    """

    model: type[MailThread]
    slug: str

    @property
    def label(self) -> str:
        return str(self.model._meta.verbose_name).capitalize()

    @property
    def label_plural(self) -> str:
        return str(self.model._meta.verbose_name_plural).capitalize()

    @property
    def content_type(self) -> ContentType:
        return ContentType.objects.get_for_model(self.model)


@cache
def _record_types() -> tuple[RecordType, ...]:
    found = []
    with translation.override(None):  # the slug and the order must not depend on who asked first
        for model in apps.get_models():
            if issubclass(model, MailThread) and not model._meta.abstract:
                found.append(RecordType(model=model, slug=slugify(str(model._meta.verbose_name_plural))))
        return tuple(sorted(found, key=lambda rt: rt.label_plural))


def record_types() -> list[RecordType]:
    """Every installed model that inherits :class:`chatter.thread.MailThread`."""
    return list(_record_types())


def record_type_for_slug(slug: str) -> RecordType | None:
    return next((rt for rt in _record_types() if rt.slug == slug), None)


def record_type_for_model(model: type[models.Model]) -> RecordType | None:
    return next((rt for rt in _record_types() if rt.model is model), None)


def record_type_for_content_type(content_type_id: int) -> RecordType | None:
    try:
        model = ContentType.objects.get_for_id(content_type_id).model_class()
    except ContentType.DoesNotExist:
        return None
    return record_type_for_model(model) if model is not None else None


def record_list_fields(record_type: RecordType) -> list[models.Field[Any, Any]]:
    """The columns of a record list: short, concrete fields (no primary key, no long text)."""
    return [
        f
        for f in record_type.model._meta.concrete_fields
        if not f.primary_key and not isinstance(f, models.TextField | models.BinaryField | models.JSONField)
    ]


def failed_notifications_of_record(content_type: ContentType) -> models.QuerySet[Notification]:
    """Failed e-mail deliveries of the messages of the outer record (``OuterRef("pk")``).

    The red-envelope rule of a record, shared by the record list here and the API's
    ``message_has_error``. Only e-mail notifications can fail; inbox ones are never sent.
    """
    return Notification.objects.filter(
        message__model=content_type,
        message__res_id=OuterRef("pk"),
        notification_type=NotificationKind.EMAIL,
        notification_status__in=FAILED_STATUSES,
    )


def record_list(record_type: RecordType, *, search: str = "", failures_only: bool = False) -> models.QuerySet[Any]:
    """Records of a type, each annotated with ``failure_count`` (messages' failed e-mail deliveries).

    Odoo's ``message_has_error`` counts only the current author's failures; the list shows every
    failure on the record, which is what the operator looking for "who did not get it" needs.
    """
    content_type = record_type.content_type
    failures = (
        failed_notifications_of_record(content_type)
        .order_by()
        .values("message__res_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    qs: models.QuerySet[Any] = record_type.model._default_manager.all()
    if _has_field(record_type.model, "customer"):
        qs = qs.select_related("customer")
    qs = qs.annotate(failure_count=Coalesce(Subquery(failures, output_field=models.IntegerField()), 0))
    if search:
        qs = qs.filter(name__icontains=search) if _has_field(record_type.model, "name") else qs
    if failures_only:
        qs = qs.filter(failure_count__gt=0)
    return qs


def _has_field(model: type[models.Model], name: str) -> bool:
    return any(f.name == name for f in model._meta.concrete_fields)


# --- envelopes ---------------------------------------------------------------------------------
@dataclass
class Envelope:
    """The envelope of a message sent by e-mail (Odoo's red-envelope rule).

    ``failed`` when any e-mail notification is in exception or bounce, ``pending`` while any is
    still queued or retrying (``ready``), else ``sent`` (delivered or cancelled ones).
    """

    state: str
    notifications: list[Notification] = field(default_factory=list)
    # Notifications waiting for a retry after a temporary failure, by id (see ``with_envelopes``).
    retries: dict[int, EmailRetry] = field(default_factory=dict)

    @property
    def failures(self) -> list[Notification]:
        return [n for n in self.notifications if n.notification_status in FAILED_STATUSES]

    @property
    def poll_seconds(self) -> int:
        """How often a pending envelope asks again: seconds for a fresh send, longer while waiting.

        A recipient waiting for the daily-limit reset or for a retry after a temporary failure
        carries the reason on its still-``ready`` notification (the sender sets it).
        """
        waiting = [n for n in self.notifications if n.notification_status == NotificationStatus.READY]
        if any(n.failure_type == FailureType.MAIL_QUOTA for n in waiting):
            return 60
        if any(n.failure_reason for n in waiting):
            return 10
        return 2

    @property
    def label(self) -> str:
        if self.state == "pending" and self.retries:
            return _("Retrying")
        return str({"failed": _("Delivery Failed"), "pending": _("Sending"), "sent": _("Sent by e-mail")}[self.state])


def envelope_for(notifications: list[Notification]) -> Envelope | None:
    """The envelope for a message's e-mail notifications, or None when it was not e-mailed."""
    if not notifications:
        return None
    statuses = {n.notification_status for n in notifications}
    if statuses & set(FAILED_STATUSES):
        state = "failed"
    elif NotificationStatus.READY in statuses:
        state = "pending"
    else:
        state = "sent"
    return Envelope(state=state, notifications=sorted(notifications, key=lambda n: (n.res_partner.name, n.pk)))


def _email_notifications_prefetch() -> Prefetch:
    return Prefetch(
        "notifications",
        queryset=Notification.objects.filter(notification_type=NotificationKind.EMAIL).select_related("res_partner"),
        to_attr="email_notifications",
    )


def with_envelopes(messages: list[Message]) -> list[Message]:
    """Attach each message's envelope; a notification waiting for a retry gets its ``retry``.

    The retry times live on the queue rows: one lookup for the whole page, and only when some
    notification waits with a temporary failure's reason (the quota wait has its own label).
    """
    waiting = [
        n
        for message in messages
        for n in message.email_notifications  # type: ignore[attr-defined]
        if n.notification_status == NotificationStatus.READY
        and n.failure_reason
        and n.failure_type != FailureType.MAIL_QUOTA
    ]
    retries = get_email_retry_lookup()(notification_ids=[n.pk for n in waiting]) if waiting else {}
    for message in messages:
        for n in message.email_notifications:  # type: ignore[attr-defined]
            n.retry = retries.get(n.pk)  # type: ignore[attr-defined]
        envelope = envelope_for(message.email_notifications)  # type: ignore[attr-defined]
        if envelope is not None:
            envelope.retries = {n.pk: retries[n.pk] for n in envelope.notifications if n.pk in retries}
        message.envelope = envelope  # type: ignore[attr-defined]
    return messages


def message_with_envelope(message_id: int) -> Message:
    """One message with its e-mail notifications and envelope (for the envelope partial)."""
    message = (
        Message.objects.select_related("author", "subtype")
        .prefetch_related(_email_notifications_prefetch())
        .get(pk=message_id)
    )
    return with_envelopes([message])[0]


# --- message pages -----------------------------------------------------------------------------
@dataclass
class MessagePage:
    messages: list[Message]
    has_more: bool

    @property
    def next_cursor(self) -> int | None:
        return self.messages[-1].pk if self.has_more and self.messages else None


def message_page(
    *, content_type: ContentType, res_id: int, before: int | None = None, limit: int = MESSAGES_PER_PAGE
) -> MessagePage:
    """The newest ``limit`` messages of a record older than message ``before``, newest first.

    A keyset page on (date, id) — not an offset — so messages posted meanwhile never shift or
    repeat a page. Five queries whatever the number of messages: messages with their author
    and subtype, then attachments (without their bytes), tracking values, e-mail notifications.
    """
    qs = Message.objects.filter(model=content_type, res_id=res_id)
    if before is not None:
        cursor = Message.objects.filter(pk=before, model=content_type, res_id=res_id).values("date")
        qs = qs.filter(Q(date__lt=Subquery(cursor)) | Q(date=Subquery(cursor), id__lt=before))
    rows = list(
        qs.select_related("author", "subtype")
        .prefetch_related(
            Prefetch("attachments", queryset=Attachment.objects.defer("datas").order_by("id")),
            "tracking_values",
            _email_notifications_prefetch(),
        )
        .order_by("-date", "-id")[: limit + 1]
    )
    return MessagePage(messages=with_envelopes(rows[:limit]), has_more=len(rows) > limit)


def attachment_get(attachment_id: int) -> Attachment:
    return Attachment.objects.get(pk=attachment_id)


# --- followers ---------------------------------------------------------------------------------
def followers_of(*, content_type: ContentType, res_id: int) -> list[Follower]:
    """The followers of a record with their contact and subtypes (two queries)."""
    return list(
        Follower.objects.filter(model=content_type, res_id=res_id)
        .select_related("partner", "partner__user")
        .prefetch_related("subtypes")
        .order_by("partner__name", "id")
    )


def follower_get(*, follower_id: int, content_type: ContentType, res_id: int) -> Follower:
    return Follower.objects.select_related("partner").get(pk=follower_id, model=content_type, res_id=res_id)


def subtypes_queryset(content_type: ContentType) -> models.QuerySet[MessageSubtype]:
    """Subtypes a follower of this model can choose: generic ones and the model's own."""
    return MessageSubtype.objects.filter(Q(res_model__isnull=True) | Q(res_model=content_type), hidden=False).order_by(
        "sequence", "id"
    )


def subtypes_for(content_type: ContentType) -> list[MessageSubtype]:
    return list(subtypes_queryset(content_type))


@dataclass(frozen=True)
class Recipient:
    partner: Partner
    in_app: bool


def recipients_preview(*, followers: list[Follower], subtype_id: int, author: Partner | None) -> list[Recipient]:
    """Who a post of this subtype notifies, before it is sent (mirrors ``notify_thread``).

    The followers subscribed to the subtype, active, minus the author; users who handle
    notifications in the app get them in their inbox, everyone else by e-mail.
    """
    return [
        Recipient(partner=f.partner, in_app=f.partner.notifies_in_app)
        for f in followers
        if f.partner.active
        and (author is None or f.partner_id != author.pk)
        and any(s.pk == subtype_id for s in f.subtypes.all())
    ]


def partners_for_picker(*, exclude_ids: list[int], limit: int = 200) -> list[Partner]:
    return list(
        Partner.objects.filter(active=True)
        .exclude(email_normalized="")
        .exclude(pk__in=exclude_ids)
        .order_by("name", "id")[:limit]
    )


# --- inbox and failures ------------------------------------------------------------------------
def inbox_unread_count(partner: Partner) -> int:
    return Notification.objects.filter(
        res_partner=partner, notification_type=NotificationKind.INBOX, is_read=False
    ).count()


def message_preview(body: str, *, limit: int = 220) -> str:
    """The plain text a list shows of a message body: entities decoded, paragraphs on their lines.

    The result is text, not HTML: the template escapes it exactly once, and CSS
    (``white-space: pre-line``) shows its line breaks. Whitespace in the HTML source collapses as
    a browser would collapse it, so only ``<br>`` and block ends break lines.
    """
    text = html_to_plaintext(re.sub(r"\s+", " ", body))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    text = "\n".join(line for line in lines if line)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def inbox_notifications(partner: Partner, *, unread_only: bool) -> models.QuerySet[Notification]:
    """A user's in-app notifications, newest first (Odoo's Inbox)."""
    qs = Notification.objects.filter(res_partner=partner, notification_type=NotificationKind.INBOX)
    if unread_only:
        qs = qs.filter(is_read=False)
    return qs.select_related("message", "message__author", "message__subtype").order_by(
        "is_read", "-message__date", "-id"
    )


def inbox_notification_get(*, partner: Partner, notification_id: int) -> Notification:
    return Notification.objects.select_related("message").get(
        pk=notification_id, res_partner=partner, notification_type=NotificationKind.INBOX
    )


def failed_messages_for(partner: Partner) -> models.QuerySet[Message]:
    """Messages with failed e-mail deliveries that ``partner`` wrote or whose record it follows.

    Odoo shows failures to their author only; we also show them to the record's followers
    (failures reach the people who can act).
    """
    failed = Notification.objects.filter(
        message=OuterRef("pk"), notification_type=NotificationKind.EMAIL, notification_status__in=FAILED_STATUSES
    )
    followed = Follower.objects.filter(partner=partner, model=OuterRef("model"), res_id=OuterRef("res_id"))
    return (
        Message.objects.filter(Exists(failed))
        .filter(Q(author=partner) | Exists(followed))
        .select_related("author", "subtype", "model")
        .prefetch_related(_email_notifications_prefetch())
        .order_by("-date", "-id")
    )


def failed_notifications(message: Message) -> list[Notification]:
    """The failed e-mail notifications of a message: the lines of the resend dialog."""
    return list(
        Notification.objects.filter(
            message=message, notification_type=NotificationKind.EMAIL, notification_status__in=FAILED_STATUSES
        )
        .select_related("res_partner")
        .order_by("res_partner__name", "id")
    )
