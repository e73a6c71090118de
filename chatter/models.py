"""Messages, subtypes, followers, notifications, tracking values and the thread mixin.

Names follow Odoo's ``mail.message``, ``mail.message.subtype``, ``mail.followers``,
``mail.notification`` and ``mail.tracking.value``.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import timezone, translation
from django.utils.functional import cached_property
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from chatter.registry import BounceNotice, bounce_notice_read
from mailcore.models import AliasDomain, MailServer, Partner
from mailcore.smtp_replies import describe_unknown_failure, summarize_delivery_failure


class MessageType(models.TextChoices):
    EMAIL = "email", _("Incoming e-mail")
    COMMENT = "comment", _("Comment")
    EMAIL_OUTGOING = "email_outgoing", _("Outgoing e-mail")
    NOTIFICATION = "notification", _("System notification")
    AUTO_COMMENT = "auto_comment", _("Automated targeted notification")
    USER_NOTIFICATION = "user_notification", _("User specific notification")


class MessageSubtype(models.Model):
    """A kind of message followers can subscribe to (Odoo ``mail.message.subtype``)."""

    # Stable key used by code, like Odoo's xmlid: "mt_comment", "mt_note", "demo.mt_lead_won".
    code = models.CharField(_("code"), max_length=128, unique=True)
    name = models.CharField(_("name"), max_length=128)
    description = models.TextField(
        _("description"), blank=True, help_text=_("Text posted when the subtype is used by tracking.")
    )
    internal = models.BooleanField(
        _("internal only"), default=False, help_text=_("Only visible to employees, like notes.")
    )
    default = models.BooleanField(_("default"), default=True, help_text=_("Checked for new followers."))
    res_model = models.ForeignKey(
        ContentType,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        verbose_name=_("model"),
        help_text=_("Empty: every model."),
    )
    sequence = models.PositiveIntegerField(_("sequence"), default=1)
    hidden = models.BooleanField(_("hidden"), default=False)
    track_recipients = models.BooleanField(_("track recipients"), default=False)

    class Meta:
        ordering = ["sequence", "id"]
        verbose_name = _("message subtype")
        verbose_name_plural = _("message subtypes")

    def __str__(self) -> str:
        return self.name

    @property
    def label(self) -> str:
        """The name in the reader's language: the shipped subtypes are stored in English and
        translated when shown (Odoo's translatable ``name``); a name an admin typed is shown as typed."""
        return gettext(self.name) if self.name else ""


class Attachment(models.Model):
    """A file attached to a message (Odoo ``ir.attachment``), stored in the database."""

    name = models.CharField(max_length=255)
    mimetype = models.CharField(max_length=255, default="application/octet-stream")
    datas = models.BinaryField()
    file_size = models.PositiveIntegerField(default=0)
    # Content-ID of an inline image (incoming mail), without the angle brackets.
    content_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Message(models.Model):
    """A line of a chatter (Odoo ``mail.message``), linked to its record by (model, res_id)."""

    model = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.CASCADE, verbose_name=_("related document model")
    )
    res_id = models.PositiveBigIntegerField(_("related document id"), null=True, blank=True)
    record_name = models.CharField(_("record name"), max_length=255, blank=True)
    message_type = models.CharField(_("type"), max_length=32, choices=MessageType.choices, default=MessageType.COMMENT)
    subtype = models.ForeignKey(
        MessageSubtype, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("subtype")
    )
    is_internal = models.BooleanField(_("employee only"), default=False)
    author = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("author")
    )
    email_from = models.CharField(_("from"), max_length=512, blank=True)
    reply_to = models.CharField(_("reply-to address"), max_length=512, blank=True)
    subject = models.CharField(_("subject"), max_length=998, blank=True)
    body = models.TextField(_("contents"), blank=True, help_text=_("Sanitised HTML."))
    message_id = models.CharField("Message-Id", max_length=998, blank=True, db_index=True)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="children",
        verbose_name=_("parent message"),
    )
    partners = models.ManyToManyField(
        Partner, blank=True, related_name="+", verbose_name=_("recipients"), help_text=_("Explicit recipients.")
    )
    attachments = models.ManyToManyField(Attachment, blank=True, related_name="messages", verbose_name=_("attachments"))
    mail_server = models.ForeignKey(
        MailServer, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("outgoing mail server")
    )
    record_alias_domain = models.ForeignKey(
        AliasDomain, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("alias domain")
    )
    date = models.DateTimeField(_("date"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-date", "-id"]
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        # The same columns and directions as the chatter's keyset page (``ORDER BY date DESC, id
        # DESC`` on one record): PostgreSQL reads the newest page straight from the index, whatever
        # the thread's length and whether the table was ever analysed.
        indexes = [models.Index(fields=["model", "res_id", "-date", "-id"], name="message_thread_idx")]

    def __str__(self) -> str:
        return self.subject or f"Message {self.pk}"


class Follower(models.Model):
    """A contact following a record, for some subtypes (Odoo ``mail.followers``)."""

    model = models.ForeignKey(ContentType, on_delete=models.CASCADE, verbose_name=_("related document model"))
    res_id = models.PositiveBigIntegerField(_("related document id"))
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="followings", verbose_name=_("contact"))
    subtypes = models.ManyToManyField(MessageSubtype, blank=True, verbose_name=_("subtypes"))

    class Meta:
        verbose_name = _("follower")
        verbose_name_plural = _("followers")
        constraints = [models.UniqueConstraint(fields=["model", "res_id", "partner"], name="follower_unique_partner")]
        indexes = [models.Index(fields=["model", "res_id"], name="follower_record_idx")]

    def __str__(self) -> str:
        return f"{self.partner} follows {self.model_id}/{self.res_id}"


class NotificationStatus(models.TextChoices):
    READY = "ready", _("Ready to Send")
    SENT = "sent", _("Sent")
    BOUNCE = "bounce", _("Bounced")
    EXCEPTION = "exception", _("Exception")
    CANCELED = "canceled", _("Cancelled")


# The statuses that turn the envelope red (Odoo ``has_error``).
FAILED_STATUSES = (NotificationStatus.BOUNCE, NotificationStatus.EXCEPTION)


class FailureType(models.TextChoices):
    """Odoo's failure types (``mail.notification`` / ``mail.mail``)."""

    UNKNOWN = "unknown", _("Unknown error")
    MAIL_BOUNCE = "mail_bounce", _("Bounce")
    MAIL_EMAIL_INVALID = "mail_email_invalid", _("Invalid email address")
    MAIL_EMAIL_MISSING = "mail_email_missing", _("Missing email address")
    MAIL_FROM_INVALID = "mail_from_invalid", _("Invalid from address")
    MAIL_FROM_MISSING = "mail_from_missing", _("Missing from address")
    MAIL_SMTP = "mail_smtp", _("Connection failed (outgoing mail server problem)")
    MAIL_BL = "mail_bl", _("Blacklisted Address")
    MAIL_OPTOUT = "mail_optout", _("Opted Out")
    MAIL_DUP = "mail_dup", _("Duplicated Email")
    MAIL_SPAM = "mail_spam", _("Detected As Spam")
    # Ours (Odoo has none): held back by the daily quota of the built-in server.
    MAIL_QUOTA = "mail_quota", _("Daily limit reached")


def failure_summary(failure_type: str, failure_reason: str) -> str:
    """The one-line summary of a failure, the same on the envelope, the queue and the API.

    The SMTP answer in the reason decides when there is one ("Sender refused", "Mailbox full" …):
    Odoo's labels name the kind of failure, not what the server said, so a sender refused at
    DATA would read "Connection failed". Without an SMTP answer: Odoo ``format_failure_reason``,
    the failure type's label, or "Unknown error: <reason>".
    """
    if failure_reason:
        summary = summarize_delivery_failure(failure_reason)
        if summary is not None:
            return summary
    if failure_type and failure_type != FailureType.UNKNOWN and failure_type in FailureType.values:
        return str(FailureType(failure_type).label)
    return describe_unknown_failure(failure_reason)


class NotificationKind(models.TextChoices):
    INBOX = "inbox", _("Inbox")
    EMAIL = "email", _("Email")


class Notification(models.Model):
    """One recipient of one message (Odoo ``mail.notification``)."""

    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="notifications", verbose_name=_("message")
    )
    res_partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, related_name="notifications", verbose_name=_("recipient")
    )
    author = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("author")
    )
    notification_type = models.CharField(_("notification type"), max_length=16, choices=NotificationKind.choices)
    notification_status = models.CharField(
        _("status"), max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.READY
    )
    failure_type = models.CharField(_("failure type"), max_length=32, choices=FailureType.choices, blank=True)
    failure_reason = models.TextField(_("failure reason"), blank=True)
    is_read = models.BooleanField(_("is read"), default=False)
    read_date = models.DateTimeField(_("read date"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        constraints = [models.UniqueConstraint(fields=["message", "res_partner"], name="notification_unique_recipient")]
        indexes = [
            models.Index(
                fields=["res_partner", "is_read", "notification_status", "message"], name="notification_inbox_idx"
            ),
            models.Index(
                fields=["author", "notification_status"],
                name="notification_failure_idx",
                condition=models.Q(notification_status__in=["bounce", "exception"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.res_partner} ({self.notification_status})"

    @property
    def is_failed(self) -> bool:
        return self.notification_status in FAILED_STATUSES

    @cached_property
    def bounce_notice(self) -> BounceNotice | None:
        """The bounce notice that failed this notification, when a bounce did (one query)."""
        if self.notification_status != NotificationStatus.BOUNCE:
            return None
        return bounce_notice_read(notification_id=self.pk)

    def format_failure_reason(self) -> str:
        """Odoo ``format_failure_reason``, led by the SMTP answer (see :func:`failure_summary`)."""
        return failure_summary(self.failure_type, self.failure_reason)

    @property
    def failure_summary(self) -> str:
        """The summary when there is a failure (or a retry's reason) to summarise, else ""."""
        return self.format_failure_reason() if self.failure_type or self.failure_reason else ""


class TrackingValue(models.Model):
    """One tracked field change carried by a message (Odoo ``mail.tracking.value``)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="tracking_values")
    field_name = models.CharField(max_length=128)
    field_desc = models.CharField(max_length=255)
    field_type = models.CharField(max_length=32)
    old_value_char = models.TextField(blank=True)
    new_value_char = models.TextField(blank=True)
    old_value_integer = models.BigIntegerField(null=True, blank=True)
    new_value_integer = models.BigIntegerField(null=True, blank=True)
    old_value_float = models.FloatField(null=True, blank=True)
    new_value_float = models.FloatField(null=True, blank=True)
    old_value_datetime = models.DateTimeField(null=True, blank=True)
    new_value_datetime = models.DateTimeField(null=True, blank=True)
    sequence = models.PositiveIntegerField(default=100)

    class Meta:
        ordering = ["sequence", "id"]

    def __str__(self) -> str:
        return f"{self.field_desc}: {self.old_value_char} → {self.new_value_char}"

    # The stored texts (``field_desc``, the values' labels) are written in the company's language
    # (``LANGUAGE_CODE``), as the API returns them; pages and e-mails show them in the reader's
    # language through the record's field, as Odoo shows ``field_id``'s description.
    def _record_field(self) -> models.Field | None:  # type: ignore[type-arg]
        model_id = self.message.model_id
        model = ContentType.objects.get_for_id(model_id).model_class() if model_id is not None else None
        if model is None:
            return None
        try:
            field = model._meta.get_field(self.field_name)
        except FieldDoesNotExist:
            return None
        return field if isinstance(field, models.Field) else None

    @property
    def label(self) -> str:
        """The tracked field's name in the reader's language."""
        field = self._record_field()
        return str(capfirst(field.verbose_name)) if field is not None else self.field_desc

    def _shown(self, stored: str) -> str:
        field = self._record_field()
        if not stored or field is None:
            return stored
        if field.choices:
            with translation.override(settings.LANGUAGE_CODE):
                keys = {str(label): key for key, label in field.flatchoices}
            if stored in keys:
                return str(dict(field.flatchoices)[keys[stored]])
        elif isinstance(field, models.BooleanField):
            return {"Yes": gettext("Yes"), "No": gettext("No")}.get(stored, stored)
        return stored

    @property
    def old_value_label(self) -> str:
        return self._shown(self.old_value_char)

    @property
    def new_value_label(self) -> str:
        return self._shown(self.new_value_char)
