"""Reads for the e-mail queue screen (Odoo's Settings › Technical › Emails)."""

from __future__ import annotations

from dataclasses import dataclass
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime

from django.db import models
from django.db.models import Count, Exists, OuterRef, Prefetch, Q

from chatter.models import FailureType
from chatter.sanitize import html_to_plaintext
from mailcore.addresses import formataddr
from mailqueue.models import DeliveryLog, Mail, MailRecipient, MailState

# The queue screen's filters, in Odoo's order and with its labels.
STATE_FILTERS: tuple[tuple[str, str], ...] = (
    (MailState.OUTGOING, "Outgoing"),
    (MailState.SENT, "Sent"),
    (MailState.EXCEPTION, "Delivery Failed"),
    (MailState.CANCEL, "Cancelled"),
)


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


def mail_list(*, state: str = "", search: str = "") -> models.QuerySet[Mail]:
    """Queue rows, newest first, filtered by state and by text in from, to or subject.

    Recipients come in one prefetch and the author through a join, so a page costs three
    queries whatever its length.
    """
    qs = Mail.objects.all()
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


def _recipient_address(recipient: MailRecipient) -> str:
    if recipient.partner is not None and recipient.partner.email_normalized:
        return formataddr(recipient.partner.name, recipient.partner.email_normalized)
    return recipient.email


# Long Message-IDs stay on one header line, as the sender writes them (RFC 5322 allows 998).
_EML_POLICY = email_policy.SMTP.clone(max_line_length=998)


def mail_eml_bytes(mail: Mail) -> bytes:
    """The row as an RFC 5322 message (``Download .eml``): what its recipients were sent.

    Built from the row (From, To with every recipient, Reply-To, Subject, Date, Message-ID,
    In-Reply-To, References, custom headers, text and HTML bodies, attachments). The sender
    adds the per-recipient Return-Path at send time; it is not part of the row.
    """
    msg = EmailMessage(policy=_EML_POLICY)
    msg["From"] = mail.email_from
    recipients = [a for a in (_recipient_address(r) for r in mail.recipients.all()) if a]
    recipients += [a.strip() for a in mail.email_to.split(",") if a.strip()]
    if recipients:
        msg["To"] = ", ".join(recipients)
    if mail.reply_to:
        msg["Reply-To"] = mail.reply_to
    msg["Subject"] = mail.subject
    msg["Date"] = format_datetime(mail.created_at)
    if mail.message.message_id:
        msg["Message-ID"] = mail.message.message_id
    if mail.in_reply_to:
        msg["In-Reply-To"] = mail.in_reply_to
    if mail.references:
        msg["References"] = mail.references
    for name, value in (mail.headers or {}).items():
        if str(name).lower() not in {"to", "cc", "bcc", "from", "subject", "date", "message-id"}:
            msg[str(name)] = " ".join(str(value).split())
    body_html = mail.body_html or mail.message.body or ""
    msg.set_content(html_to_plaintext(body_html) + "\n", subtype="plain", charset="utf-8")
    msg.add_alternative(body_html, subtype="html", charset="utf-8")
    for attachment in mail.message.attachments.all():
        maintype, _, subtype = (attachment.mimetype or "application/octet-stream").partition("/")
        msg.add_attachment(
            bytes(attachment.datas), maintype=maintype, subtype=subtype or "octet-stream", filename=attachment.name
        )
    return msg.as_bytes(policy=_EML_POLICY)


def mail_eml_filename(mail: Mail) -> str:
    return f"mail-{mail.pk}.eml"
