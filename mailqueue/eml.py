"""Download .eml: the exact bytes a recipient was sent, or the message the sender would send now.

The one source of the queue's Download .eml, the envelope's link and the support bundle. A
delivery handed to the SMTP server is given back byte for byte from what the sender kept (its
:class:`~mailqueue.models.SentContent` and the delivery log's first lines), also after the row
was auto-deleted, for ``MAILQUEUE_SENT_EML_RETENTION_DAYS``. A delivery not made yet is rendered
by the sender's own renderer (:func:`~mailqueue.sender.build.render_unsent`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext as _

from mailqueue import conf
from mailqueue.exceptions import EmlNotAvailable
from mailqueue.models import DeliveryLog, Mail, MailRecipient
from mailqueue.sender.build import render_unsent


@dataclass(frozen=True)
class Eml:
    """An RFC 5322 message to download, and whether it is what the server was handed."""

    data: bytes
    filename: str
    # When these bytes were handed to the SMTP server; None when rendered now (not sent yet).
    sent_at: dt.datetime | None = None
    success: bool = False
    recipient: str = ""

    def describe(self) -> str:
        """One line for the support bundle: what the .eml is."""
        if self.sent_at is None:
            return "rendered now by the sender's renderer (not handed to a server yet)"
        outcome = "accepted" if self.success else "refused"
        when = f"{self.sent_at:%Y-%m-%d %H:%M:%S} UTC"
        return f"the exact bytes handed to the SMTP server for {self.recipient} ({outcome}) at {when}"


def _kept(logs: models.QuerySet[DeliveryLog], *order: str) -> Eml | None:
    log = logs.filter(content__isnull=False).select_related("content").order_by("-success", *order).first()
    if log is None or log.content is None:
        return None
    name = f"mail-{log.mail_id_ref}-{log.recipient_ref}.eml" if log.recipient_ref else f"mail-{log.mail_id_ref}.eml"
    return Eml(
        log.content.message(log.recipient_lines),
        name,
        sent_at=log.date.astimezone(dt.UTC),
        success=log.success,
        recipient=log.recipient,
    )


def _mails() -> models.QuerySet[Mail]:
    return Mail.objects.select_related("message", "message__record_alias_domain", "mail_server")


def _not_kept(what: str) -> EmlNotAvailable:
    return EmlNotAvailable(
        _("%(what)s is no longer kept: sent messages are kept %(days)d days (MAILQUEUE_SENT_EML_RETENTION_DAYS).")
        % {"what": what, "days": conf.sent_eml_retention_days()}
    )


def eml_for_mail(mail_id: int) -> Eml:
    """The row's message: its first recipient's delivery as sent (an accepted one first), else rendered now."""
    kept = _kept(DeliveryLog.objects.filter(mail_id_ref=mail_id), "recipient_ref", "-date", "-id")
    if kept is not None:
        return dataclasses.replace(kept, filename=f"mail-{mail_id}.eml")
    mail = _mails().filter(pk=mail_id).first()
    if mail is None:
        if DeliveryLog.objects.filter(mail_id_ref=mail_id).exists():
            raise _not_kept(_("E-mail #%(id)s was deleted after sending and its message") % {"id": mail_id})
        raise EmlNotAvailable(_("No outgoing e-mail #%(id)s, and no delivery log of it.") % {"id": mail_id})
    return Eml(render_unsent(mail), f"mail-{mail_id}.eml")


def eml_for_notification(notification_id: int) -> Eml:
    """The message of one recipient's e-mail notification: as last sent to it, else rendered now."""
    kept = _kept(DeliveryLog.objects.filter(notification_id=notification_id), "-date", "-id")
    if kept is not None:
        return kept
    recipient = (
        MailRecipient.objects.filter(notification_id=notification_id)
        .select_related("partner", "mail", "mail__message", "mail__message__record_alias_domain", "mail__mail_server")
        .order_by("-id")
        .first()
    )
    if recipient is None:
        if DeliveryLog.objects.filter(notification_id=notification_id).exists():
            raise _not_kept(_("The e-mail of this notification"))
        raise EmlNotAvailable(_("No e-mail was queued for this notification."))
    return Eml(render_unsent(recipient.mail, recipient), f"mail-{recipient.mail_id}-{recipient.pk}.eml")


def eml_for_delivery(log_id: int) -> Eml:
    """The exact bytes of one logged delivery."""
    kept = _kept(DeliveryLog.objects.filter(pk=log_id))
    if kept is None:
        if DeliveryLog.objects.filter(pk=log_id).exists():
            raise _not_kept(_("The message of this delivery"))
        raise EmlNotAvailable(_("No such delivery."))
    return kept


def mail_id_for_notification(notification_id: int) -> int:
    """The outgoing row that last carried this notification (it may have been auto-deleted since)."""
    mail_id = (
        MailRecipient.objects.filter(notification_id=notification_id).order_by("-id").values_list("mail_id", flat=True)
    ).first()
    if mail_id is None:
        mail_id = (
            DeliveryLog.objects.filter(notification_id=notification_id)
            .order_by("-date", "-id")
            .values_list("mail_id_ref", flat=True)
        ).first()
    if mail_id is None:
        raise EmlNotAvailable(_("No e-mail was queued for this notification."))
    return int(mail_id)
