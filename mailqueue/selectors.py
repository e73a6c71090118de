"""Reads for the e-mail queue screen (Odoo's Settings › Technical › Emails)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.db.models import Count, Exists, OuterRef, Prefetch, Q
from django.utils.functional import Promise

from chatter.models import FailureType
from chatter.registry import EmailRetry
from mailqueue.models import DeliveryLog, Mail, MailRecipient, MailState, RecipientState, retry_gives_up_at

# The queue screen's filters, in Odoo's order and with its labels.
STATE_FILTERS: tuple[tuple[str, str | Promise], ...] = (
    (MailState.OUTGOING, MailState.OUTGOING.label),
    (MailState.SENT, MailState.SENT.label),
    (MailState.EXCEPTION, MailState.EXCEPTION.label),
    (MailState.CANCEL, MailState.CANCEL.label),
)


def mail_retries_for_notifications(*, notification_ids: list[int]) -> dict[int, EmailRetry]:
    """For the envelope: the notifications still waiting on a row that retries after a temporary failure."""
    rows = MailRecipient.objects.filter(
        notification_id__in=notification_ids,
        state=RecipientState.PENDING,
        mail__state=MailState.OUTGOING,
        mail__first_failure_at__isnull=False,
        mail__next_attempt_at__isnull=False,
    ).values_list("notification_id", "mail__next_attempt_at", "mail__attempt_count", "mail__first_failure_at")
    retries: dict[int, EmailRetry] = {}
    for notification_id, next_attempt_at, attempt_count, first_failure_at in rows:
        gives_up_at = retry_gives_up_at(first_failure_at)
        if notification_id is not None and next_attempt_at is not None and gives_up_at is not None:
            retries[notification_id] = EmailRetry(
                next_attempt_at=next_attempt_at, attempt=attempt_count + 1, gives_up_at=gives_up_at
            )
    return retries


def mail_quota_held_count() -> int:
    """Outgoing rows waiting because the daily limit was reached (failure type ``mail_quota``)."""
    return Mail.objects.filter(state=MailState.OUTGOING, failure_type=FailureType.MAIL_QUOTA).count()


def mail_state_counts() -> dict[str, int]:
    rows = Mail.objects.order_by().values("state").annotate(n=Count("id"))
    return {row["state"]: row["n"] for row in rows}


def mail_search(queryset: models.QuerySet[Mail], text: str) -> models.QuerySet[Mail]:
    """Odoo's queue search: the text in From, To (a recipient address or contact) or Subject."""
    recipient_match = MailRecipient.objects.filter(mail=OuterRef("pk")).filter(
        Q(email__icontains=text) | Q(partner__email__icontains=text) | Q(partner__name__icontains=text)
    )
    return queryset.filter(
        Q(subject__icontains=text)
        | Q(email_from__icontains=text)
        | Q(email_to__icontains=text)
        | Exists(recipient_match)
    )


def mail_list(*, state: str = "", search: str = "", message_id: int | None = None) -> models.QuerySet[Mail]:
    """Queue rows, newest first, filtered by state, by text in from, to or subject, and by the
    chatter message they carry (a campaign's rows all carry the campaign's message).

    Recipients come in one prefetch and the author through a join, so a page costs three
    queries whatever its length.
    """
    qs = Mail.objects.all()
    if message_id is not None:
        qs = qs.filter(message_id=message_id)
    if state:
        qs = qs.filter(state=state)
    if search:
        qs = mail_search(qs, search)
    return (
        qs.select_related("message", "message__author")
        .prefetch_related(
            Prefetch("recipients", queryset=MailRecipient.objects.select_related("partner").order_by("id"))
        )
        .order_by("-created_at", "-id")
    )


def mail_get(mail_id: int) -> Mail:
    """One queue row with its recipients (contact and notification) and chatter message."""
    return (
        Mail.objects.select_related("message", "message__author", "message__model", "mail_server")
        .prefetch_related(
            Prefetch(
                "recipients",
                queryset=MailRecipient.objects.select_related("partner", "notification").order_by("id"),
            )
        )
        .get(pk=mail_id)
    )


def mail_delivery_history(mail: Mail) -> list[DeliveryLog]:
    """Every delivery attempt logged for the row, oldest first (the log outlives auto-delete)."""
    return list(DeliveryLog.objects.filter(mail_id_ref=mail.pk).order_by("date", "id"))


@dataclass(frozen=True)
class DeletedMailTrace:
    """What the delivery log remembers of a row that is gone (auto-deleted after sending)."""

    mail_id: int
    message_id: str
    sent: int
    failed: int


def deleted_mail_trace(mail_id: int) -> DeletedMailTrace | None:
    """The delivery log's trace of row ``mail_id`` when the row no longer exists, else None."""
    if Mail.objects.filter(pk=mail_id).exists():
        return None
    logs = DeliveryLog.objects.filter(mail_id_ref=mail_id)
    counts = logs.aggregate(sent=Count("id", filter=Q(success=True)), failed=Count("id", filter=Q(success=False)))
    if not counts["sent"] and not counts["failed"]:
        return None
    message_id = logs.order_by("-date", "-id").values_list("message_id", flat=True).first() or ""
    return DeletedMailTrace(mail_id=mail_id, message_id=message_id, sent=counts["sent"], failed=counts["failed"])


def delivery_log_list(*, message_id: str) -> models.QuerySet[DeliveryLog]:
    """The delivery log entries of one Message-ID, oldest first (they outlive auto-delete)."""
    return DeliveryLog.objects.filter(message_id=message_id).order_by("date", "id")
