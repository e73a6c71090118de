"""Outgoing mail rows (Odoo ``mail.mail``), their per-recipient deliveries, and the delivery log."""

from __future__ import annotations

import datetime as dt
import zlib
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from chatter.models import FailureType, Message, Notification, failure_summary
from mailcore.models import MailServer, Partner
from mailqueue import conf


class MailState(models.TextChoices):
    OUTGOING = "outgoing", _("Outgoing")
    SENT = "sent", _("Sent")
    RECEIVED = "received", _("Received")
    EXCEPTION = "exception", _("Delivery Failed")
    CANCEL = "cancel", _("Cancelled")


class FifoIndex(models.Index):
    """The claim's order, (scheduled date NULLS FIRST, id), as an index the claim can walk.

    PostgreSQL sorts NULLs last in an ascending index, so an index on the plain columns does not
    serve ``ORDER BY scheduled_date ASC NULLS FIRST`` and every claim sorted the whole queue (a
    campaign of 100,000 rows: each batch of 100 sorted 100,000). SQLite cannot say NULLS FIRST in
    an index (it sorts NULLs first anyway): there the plain columns are indexed.
    """

    def create_sql(self, model: type[models.Model], schema_editor: Any, using: str = "", **kwargs: Any) -> Any:
        if schema_editor.connection.vendor != "postgresql":
            plain = models.Index(fields=["scheduled_date", "id"], name=self.name, condition=self.condition)
            return plain.create_sql(model, schema_editor, using=using, **kwargs)
        return super().create_sql(model, schema_editor, using=using, **kwargs)


class Mail(models.Model):
    """One outgoing mail row (Odoo ``mail.mail``) carrying up to 50 recipients.

    Each recipient is sent its own SMTP message and has its own :class:`MailRecipient`, so
    a crash mid-row never resends to recipients already served.
    """

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="mails", verbose_name=_("message"))
    # Odoo ``is_notification``: created for an existing chatter message (deleting the row keeps it).
    is_notification = models.BooleanField(_("notification e-mail"), default=True)
    # Odoo's mass-mail mode (campaigns): each row carries one personalised message with its own
    # Message-ID, and the outcome of each delivery is reported to the delivery listeners.
    is_mass_mail = models.BooleanField(_("mass mailing"), default=False)
    own_message_id = models.CharField(
        _("own Message-Id"),
        max_length=998,
        blank=True,
        help_text=_("A campaign mail's own; empty: the chatter message's."),
    )
    subject = models.CharField(_("subject"), max_length=998, blank=True)
    email_from = models.CharField(_("from"), max_length=512, blank=True)
    reply_to = models.CharField(_("reply-to address"), max_length=512, blank=True)
    email_to = models.TextField(_("to"), blank=True, help_text=_("Raw addresses, besides the recipient contacts."))
    body_html = models.TextField(_("contents"), blank=True)
    headers = models.JSONField(_("headers"), default=dict, blank=True)
    # Header names, shown as they appear in the message (like "Message-Id").
    references = models.TextField("References", blank=True)
    in_reply_to = models.CharField("In-Reply-To", max_length=998, blank=True)
    state = models.CharField(
        _("status"), max_length=16, choices=MailState.choices, default=MailState.OUTGOING, db_index=True
    )
    failure_type = models.CharField(_("failure type"), max_length=32, choices=FailureType.choices, blank=True)
    failure_reason = models.TextField(_("failure reason"), blank=True)
    scheduled_date = models.DateTimeField(
        _("scheduled date"), null=True, blank=True, help_text=_("Not sent before (UTC).")
    )
    auto_delete = models.BooleanField(_("auto delete"), default=True, help_text=_("Delete the row once sent."))
    # Person-to-person mail goes out right after commit; bulk mail waits for the queue cron.
    urgent = models.BooleanField(_("urgent"), default=True)
    mail_server = models.ForeignKey(
        MailServer,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("outgoing mail server"),
        help_text=_("Forced server; else chosen."),
    )
    server_used = models.CharField(
        _("server used"), max_length=255, blank=True, help_text=_("Host the last attempt went through.")
    )
    attempt_count = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(
        _("next attempt"), null=True, blank=True, help_text=_("When a temporary failure retries.")
    )
    first_failure_at = models.DateTimeField(
        _("first failure"),
        null=True,
        blank=True,
        help_text=_("First temporary failure of this run of retries (the retry window's start)."),
    )
    # Claim lease: a worker owns the row until this time (SELECT … FOR UPDATE SKIP LOCKED + lease).
    lease_until = models.DateTimeField(_("claimed until"), null=True, blank=True)
    lease_owner = models.CharField(_("claimed by"), max_length=128, blank=True)
    created_at = models.DateTimeField(_("created on"), default=timezone.now)
    updated_at = models.DateTimeField(_("last updated on"), auto_now=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("outgoing e-mail")
        verbose_name_plural = _("outgoing e-mails")
        indexes = [
            FifoIndex(
                models.F("scheduled_date").asc(nulls_first=True),
                "id",
                name="mail_outgoing_fifo_idx",
                condition=models.Q(state="outgoing"),
            ),
        ]

    def __str__(self) -> str:
        return self.subject or f"Mail {self.pk}"

    @property
    def failure_summary(self) -> str:
        """The one-line summary of the failure, as the envelope and the API word it."""
        if not (self.failure_type or self.failure_reason):
            return ""
        return failure_summary(self.failure_type, self.failure_reason)

    @property
    def retrying(self) -> bool:
        """Outgoing and waiting to try again after a temporary failure (not for the quota reset)."""
        return (
            self.state == MailState.OUTGOING
            and self.first_failure_at is not None
            and self.next_attempt_at is not None
            and self.failure_type != FailureType.MAIL_QUOTA
        )

    @property
    def retry_gives_up_at(self) -> dt.datetime | None:
        """When the retry window ends and a further temporary failure fails the row for good."""
        return retry_gives_up_at(self.first_failure_at)

    @property
    def next_attempt_number(self) -> int:
        return self.attempt_count + 1


def retry_gives_up_at(first_failure_at: dt.datetime | None) -> dt.datetime | None:
    """The end of the retry window of a row whose temporary failures began at ``first_failure_at``."""
    if first_failure_at is None:
        return None
    return first_failure_at + dt.timedelta(seconds=conf.retry_window_seconds())


class RecipientState(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    EXCEPTION = "exception", _("Failed")
    CANCEL = "cancel", _("Cancelled")


class MailRecipient(models.Model):
    """One SMTP delivery of a mail row: a recipient contact (or raw address) and its outcome."""

    mail = models.ForeignKey(
        Mail, on_delete=models.CASCADE, related_name="recipients", verbose_name=_("outgoing e-mail")
    )
    partner = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("contact")
    )
    notification = models.ForeignKey(
        Notification,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deliveries",
        verbose_name=_("notification"),
    )
    email = models.CharField(
        _("e-mail"), max_length=512, blank=True, help_text=_("Raw address when there is no contact.")
    )
    state = models.CharField(_("status"), max_length=16, choices=RecipientState.choices, default=RecipientState.PENDING)
    failure_type = models.CharField(_("failure type"), max_length=32, choices=FailureType.choices, blank=True)
    failure_reason = models.TextField(_("failure reason"), blank=True)
    smtp_response = models.TextField(_("SMTP response"), blank=True)
    sent_at = models.DateTimeField(_("sent on"), null=True, blank=True)

    class Meta:
        verbose_name = _("recipient")
        verbose_name_plural = _("recipients")
        indexes = [models.Index(fields=["mail", "state"], name="recipient_mail_state_idx")]

    def __str__(self) -> str:
        return f"{self.email or self.partner_id} ({self.state})"

    @property
    def failure_summary(self) -> str:
        """The one-line summary of this delivery's failure, as the envelope and the API word it."""
        if not (self.failure_type or self.failure_reason):
            return ""
        return failure_summary(self.failure_type, self.failure_reason)


class SentContent(models.Model):
    """The bytes of one built message shared by every recipient of a row, as handed to the server.

    Each recipient's SMTP message is its own ``Return-Path`` and ``To`` lines (kept on its
    :class:`DeliveryLog`) followed by these bytes, so a row of 50 recipients with a large
    attachment is kept once, not 50 times. zlib-compressed; Auto-Vacuum deletes it after
    ``MAILQUEUE_SENT_EML_RETENTION_DAYS``.
    """

    mail_id_ref = models.BigIntegerField(db_index=True, help_text=_("Id of the (maybe deleted) mail row."))
    data = models.BinaryField(help_text=_("zlib-compressed."))
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"Sent content of mail {self.mail_id_ref}"

    @classmethod
    def compressed(cls, *, mail_id: int, content: bytes) -> SentContent:
        # A 4 KiB window and small state: most messages are a few kilobytes, and setting up zlib's
        # default (a 32 KiB window, 256 KiB of state) took longer than compressing them. The ratio
        # is the same on mail; zlib.decompress reads either.
        compressor = zlib.compressobj(6, zlib.DEFLATED, 12, 4)
        return cls(mail_id_ref=mail_id, data=compressor.compress(content) + compressor.flush())

    def message(self, recipient_lines: bytes) -> bytes:
        """The exact bytes one recipient was sent: its own first lines, then this shared part."""
        return bytes(recipient_lines) + zlib.decompress(self.data)


class DeliveryLog(models.Model):
    """A compact record of each delivery that outlives auto-delete."""

    mail_id_ref = models.BigIntegerField(
        _("outgoing e-mail id"), db_index=True, help_text=_("Id of the (maybe deleted) mail row.")
    )
    chatter_message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("chatter message")
    )
    message_id = models.CharField("Message-Id", max_length=998, db_index=True)
    # The delivery the bounce token names (MailRecipient id) and its notification: a bounce that
    # arrives after the row was auto-deleted still finds whom it is about.
    recipient_ref = models.BigIntegerField(_("recipient id"), null=True, blank=True, db_index=True)
    notification = models.ForeignKey(
        Notification,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("notification"),
    )
    recipient = models.CharField(_("recipient"), max_length=512)
    server = models.CharField(_("server"), max_length=255, blank=True)
    smtp_response = models.TextField(_("SMTP response"), blank=True)
    success = models.BooleanField(_("success"), default=True)
    date = models.DateTimeField(_("date"), default=timezone.now, db_index=True)
    # The message handed to the server is ``recipient_lines`` + the content's bytes (Download .eml).
    content = models.ForeignKey(
        SentContent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("sent content")
    )
    recipient_lines = models.BinaryField(
        _("recipient header lines"), default=b"", blank=True, help_text=_("This recipient's own header lines.")
    )

    class Meta:
        ordering = ["-date", "-id"]
        verbose_name = _("delivery log entry")
        verbose_name_plural = _("delivery log")

    def __str__(self) -> str:
        return f"{self.message_id} → {self.recipient}"


class CronState(models.Model):
    """Run bookkeeping of one scheduled action (Odoo ``ir.cron`` run fields, plus a lease).

    ``running_until`` is a lease taken with a conditional update so one cron never runs twice at
    once, on any number of workers (Odoo locks the cron row for the same reason).
    """

    name = models.CharField(max_length=200, unique=True)
    running_until = models.DateTimeField(null=True, blank=True)
    running_owner = models.CharField(max_length=128, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_duration = models.FloatField(null=True, blank=True, help_text=_("Seconds."))
    last_result = models.TextField(blank=True)
    last_success = models.BooleanField(null=True)
    failure_count = models.PositiveIntegerField(default=0)
    next_trigger_at = models.DateTimeField(null=True, blank=True, help_text=_("An earlier run asked for."))

    def __str__(self) -> str:
        return self.name


class BeatHeartbeat(models.Model):
    """The last sign of life of Celery beat, written by its scheduler's tick (one row).

    Diagnostics judge beat by this timestamp instead of guessing from crons that have not run
    yet: a cron that is not due yet says nothing about beat.
    """

    hostname = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(help_text=_("When this beat process started."))
    beat_at = models.DateTimeField(help_text=_("Its last tick."))

    def __str__(self) -> str:
        return f"beat on {self.hostname}:{self.pid} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
