"""Mailing lists and subscriptions (Odoo ``mailing.list`` and ``mailing.subscription``).

The members of a list are the app's contacts (``mailcore.Partner``), not a second contact table
as in Odoo (``mailing.contact``): one person has one address, one bounce counter and one
blacklist flag, whether they receive a chatter notification or a campaign.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from mailcore import conf as mailcore_conf
from mailcore.models import Partner


class MailingList(models.Model):
    """A mailing list (Odoo ``mailing.list``)."""

    name = models.CharField(max_length=255, unique=True)
    # Odoo's "Show in preferences": the list is offered on the public subscription page.
    is_public = models.BooleanField(default=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class MailingSubscription(models.Model):
    """A contact's membership of a list (Odoo ``mailing.subscription``).

    Opting out keeps the row (with its date) rather than deleting it, so an import or a colleague
    adding the contact again cannot silently subscribe someone who asked to leave.
    """

    contact = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="mailing_subscriptions")
    mailing_list = models.ForeignKey(MailingList, on_delete=models.CASCADE, related_name="subscriptions")
    opt_out = models.BooleanField(default=False)
    opt_out_datetime = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "mailing_list"], name="mailing_subscription_unique"),
        ]
        ordering = ["mailing_list__name", "id"]

    def __str__(self) -> str:
        return f"{self.contact} in {self.mailing_list}{' (opted out)' if self.opt_out else ''}"


class MailingState(models.TextChoices):
    """Odoo's ``mailing.mailing`` states, plus two of ours (Odoo has neither)."""

    DRAFT = "draft", _("Draft")
    IN_QUEUE = "in_queue", _("In Queue")
    SENDING = "sending", _("Sending")
    DONE = "done", _("Sent")
    # Ours: the campaign could not be rendered or queued; the reason is shown and the queue goes on.
    FAILED = "failed", _("Failed")
    # Ours: too many hard bounces; sending stopped to protect the sender's domain, until resumed.
    PAUSED = "paused", _("Paused")


class ReplyToMode(models.TextChoices):
    """Where replies go (Odoo ``reply_to_mode``)."""

    NEW = "new", _("To a fixed address")
    UPDATE = "update", _("To each recipient's record")


class ScheduleType(models.TextChoices):
    NOW = "now", _("Send now")
    SCHEDULED = "scheduled", _("Send on a date")


class Mailing(models.Model):
    """An e-mail marketing campaign (Odoo ``mailing.mailing``)."""

    subject = models.CharField(_("Subject"), max_length=998)
    preview = models.CharField(
        _("Preview"),
        max_length=255,
        blank=True,
        help_text=_("The line mail programs show after the subject, before opening."),
    )
    email_from = models.CharField(_("From"), max_length=512)
    reply_to_mode = models.CharField(_("Replies"), max_length=16, choices=ReplyToMode.choices, default=ReplyToMode.NEW)
    reply_to = models.CharField(_("Reply-To address"), max_length=512, blank=True)
    body_html = models.TextField(_("Body"), blank=True)
    mailing_lists = models.ManyToManyField(MailingList, blank=True, related_name="mailings")
    # Or: the contacts of the records of a model with a chatter that match a filter.
    target_model = models.ForeignKey(
        "contenttypes.ContentType", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    target_filter = models.CharField(
        max_length=1000, blank=True, help_text=_("Field conditions, e.g. stage=qualified&expected_revenue__gte=1000.")
    )
    state = models.CharField(max_length=16, choices=MailingState.choices, default=MailingState.DRAFT, db_index=True)
    schedule_type = models.CharField(max_length=16, choices=ScheduleType.choices, default=ScheduleType.NOW)
    schedule_date = models.DateTimeField(null=True, blank=True)
    sent_date = models.DateTimeField(null=True, blank=True)
    # Why the campaign failed or paused, in words for the person who reads the campaign page.
    state_reason = models.TextField(blank=True)
    mail_server = models.ForeignKey(
        "mailcore.MailServer",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Odoo's Dedicated Server: send through this server only."),
    )
    track_opens = models.BooleanField(default=True)
    track_clicks = models.BooleanField(default=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("Responsible"),
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.subject


class MailingTranslation(models.Model):
    """The campaign's text in one more language (ours: Odoo writes a campaign in one language).

    A contact whose language (``Partner.lang``) has a variant gets it; everyone else gets the
    campaign's own subject, preview and body. An empty field of a variant falls back to the
    campaign's own, so a variant may translate the body only.
    """

    mailing = models.ForeignKey(Mailing, on_delete=models.CASCADE, related_name="translations")
    lang = models.CharField(_("language"), max_length=16, choices=mailcore_conf.language_choices)
    subject = models.CharField(_("Subject"), max_length=998, blank=True)
    preview = models.CharField(_("Preview"), max_length=255, blank=True)
    body_html = models.TextField(_("Body"), blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["mailing", "lang"], name="mailing_translation_unique")]
        ordering = ["lang"]

    def __str__(self) -> str:
        return f"{self.mailing} ({self.lang})"


class TraceStatus(models.TextChoices):
    """Odoo ``mailing.trace.trace_status`` (e-mail values)."""

    OUTGOING = "outgoing", _("Outgoing")
    SENT = "sent", _("Delivered")
    OPEN = "open", _("Opened")
    REPLY = "reply", _("Replied")
    BOUNCE = "bounce", _("Bounced")
    ERROR = "error", _("Exception")
    CANCEL = "cancel", _("Cancelled")


class TraceFailure(models.TextChoices):
    """Odoo's failure types of a trace (the mass-mailing ones, and those it shares with mail)."""

    MAIL_BL = "mail_bl", _("Blacklisted")
    MAIL_OPTOUT = "mail_optout", _("Opted out")
    MAIL_DUP = "mail_dup", _("Already mailed at this address")
    MAIL_EMAIL_MISSING = "mail_email_missing", _("No e-mail address")
    MAIL_EMAIL_INVALID = "mail_email_invalid", _("Invalid e-mail address")
    MAIL_SMTP = "mail_smtp", _("Refused by the mail server")
    MAIL_BOUNCE = "mail_bounce", _("Bounced")
    UNKNOWN = "unknown", _("Unknown error")


class MailingTrace(models.Model):
    """One recipient of a campaign (Odoo ``mailing.trace``). Its existence is the promise that the
    recipient was handled: "remaining" means "no trace yet", so a campaign can resume anywhere."""

    mailing = models.ForeignKey(Mailing, on_delete=models.CASCADE, related_name="traces")
    contact = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The record the contact was found on, for campaigns over a model (replies go to its thread).
    model = models.ForeignKey("contenttypes.ContentType", null=True, blank=True, on_delete=models.CASCADE)
    res_id = models.PositiveBigIntegerField(null=True, blank=True)
    email = models.CharField(max_length=255, blank=True, db_index=True)
    trace_status = models.CharField(
        max_length=16, choices=TraceStatus.choices, default=TraceStatus.OUTGOING, db_index=True
    )
    failure_type = models.CharField(max_length=32, choices=TraceFailure.choices, blank=True)
    failure_reason = models.TextField(blank=True)
    message_id = models.CharField(max_length=998, blank=True, db_index=True)
    # The queue's delivery (its id survives the row's auto-delete, like Odoo's mail_mail_id_int).
    mail_recipient_ref = models.BigIntegerField(null=True, blank=True, db_index=True)
    sent_datetime = models.DateTimeField(null=True, blank=True)
    open_datetime = models.DateTimeField(null=True, blank=True)
    reply_datetime = models.DateTimeField(null=True, blank=True)
    links_click_datetime = models.DateTimeField(null=True, blank=True)
    # Ours: the bounce said the address is dead (unknown user or domain), not a passing refusal.
    hard_bounce = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # One trace per recipient and campaign: a resumed or concurrent run can never mail twice.
            models.UniqueConstraint(
                fields=["mailing", "contact"], condition=models.Q(model__isnull=True), name="trace_once_per_contact"
            ),
            models.UniqueConstraint(
                fields=["mailing", "model", "res_id"],
                condition=models.Q(model__isnull=False),
                name="trace_once_per_record",
            ),
        ]
        indexes = [models.Index(fields=["mailing", "trace_status"], name="trace_mailing_status_idx")]

    def __str__(self) -> str:
        return f"{self.email or '—'} ({self.trace_status})"
