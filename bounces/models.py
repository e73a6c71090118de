"""Inbound mail as the gateway saw it, and the bounces it carried.

Every message that reached the end of DATA is an :class:`InboundMessage` — accepted or rejected
— with its raw bytes exactly as received and its envelope, kept for the
retention period. :class:`BounceEvent` is one bounced (or delayed, or complained-about) recipient;
the blacklist rule counts them, so they outlive the inbound rows.
"""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from chatter.models import Message, Notification
from mailcore.models import Alias, Partner


class InboundDecision(models.TextChoices):
    """What the gateway decided at the end of DATA (ours: Odoo decides after the fact)."""

    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")
    IGNORED = "ignored", _("Ignored")
    BOUNCE = "bounce", pgettext_lazy("inbound decision", "Bounce")
    LOOP = "loop", pgettext_lazy("inbound decision", "Loop")


class InboundState(models.TextChoices):
    """Where the heavy processing (parsing, posting, bounce effects) stands."""

    RECEIVED = "received", _("Received")
    PROCESSING = "processing", _("Processing")
    DONE = "done", _("Done")
    ERROR = "error", _("Error")


class InboundMessage(models.Model):
    """One message received by the SMTP gateway, with its envelope and the routing decision."""

    # Short id given in the 250 reply ("queued as …") so support can find a sender's message.
    queue_id = models.CharField(_("queue id"), max_length=32)
    received_at = models.DateTimeField(_("received on"), default=timezone.now, db_index=True)
    peer = models.CharField(_("client"), max_length=255, blank=True, help_text=_("Client address and port."))
    # SMTP commands keep their names (RFC 5321), as an admin reads them in a transcript.
    helo = models.CharField(_("HELO/EHLO name"), max_length=255, blank=True)
    mail_from = models.CharField("MAIL FROM", max_length=998, blank=True, help_text=_("Empty: null sender <>."))
    rcpt_tos = models.JSONField("RCPT TO", default=list)
    size = models.PositiveIntegerField(_("size (bytes)"), default=0)
    raw = models.BinaryField(_("raw message"), help_text=_("The message exactly as received (after dot-unstuffing)."))

    # Header facts read at the door (headers only — the body is parsed later).
    message_id = models.CharField("Message-Id", max_length=998, blank=True)
    subject = models.CharField(_("subject"), max_length=998, blank=True)
    email_from = models.CharField(_("From"), max_length=998, blank=True)
    sender_email = models.CharField(
        _("sender address"),
        max_length=255,
        blank=True,
        help_text=_("Normalised From address (the envelope sender when there is no From)."),
    )
    # The header's name (RFC 3834).
    is_auto_submitted = models.BooleanField("Auto-Submitted", default=False)

    decision = models.CharField(_("decision"), max_length=16, choices=InboundDecision.choices)
    reason = models.TextField(_("reason"), blank=True)
    smtp_reply = models.TextField(_("SMTP reply"), blank=True)
    # The routes decided at the door: [{"kind": "update"|"create", "model": ct id, "res_id": …}].
    routes = models.JSONField(_("routes"), default=list, blank=True)
    # "<ct>.<res_id>" or "alias.<id>": what the loop counter counts per sender.
    loop_target = models.CharField(_("loop target"), max_length=64, blank=True)
    # Not indexed: nothing filters on them, and every index costs each INSERT at the door.
    alias = models.ForeignKey(
        Alias,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        verbose_name=_("alias"),
    )
    routed_model = models.ForeignKey(
        ContentType,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        verbose_name=_("routed to model"),
    )
    routed_res_id = models.PositiveBigIntegerField(_("routed to record id"), null=True, blank=True)
    chatter_message = models.ForeignKey(
        Message,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="inbound_messages",
        verbose_name=_("chatter message"),
    )

    state = models.CharField(_("status"), max_length=16, choices=InboundState.choices, default=InboundState.RECEIVED)
    error = models.TextField(_("error"), blank=True)
    attempt_count = models.PositiveIntegerField(_("attempts"), default=0)
    lease_until = models.DateTimeField(_("claimed until"), null=True, blank=True)
    processed_at = models.DateTimeField(_("processed on"), null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = _("inbound message")
        verbose_name_plural = _("inbound messages")
        # Few indexes, and none of Django's extra LIKE indexes: each one costs every INSERT, and
        # the INSERT is on the critical path of the 250.
        constraints = [models.UniqueConstraint(fields=["queue_id"], name="inbound_queue_id_unique")]
        indexes = [
            # The duplicate guard at the door.
            models.Index(fields=["message_id"], name="inbound_message_id_idx"),
            # The sweep: rows waiting for processing (a handful at any time).
            models.Index(
                fields=["state", "received_at"],
                name="inbound_pending_idx",
                condition=models.Q(state__in=["received", "processing"]),
            ),
            # The loop counter: accepted mails from one sender per target in a time window. Partial,
            # so the planner never prefers the decision index (stale statistics under a burst).
            models.Index(
                fields=["sender_email", "loop_target", "received_at"],
                name="inbound_loop_idx",
                condition=models.Q(decision="accepted"),
            ),
            # No (decision, received_at) index: it served only the inbound log's filter (the
            # received_at index does that, newest first), cost every INSERT, and under a burst
            # with stale statistics the planner chose it for the loop counter, scanning every
            # accepted row of the window (figures in docs/measurements.md).
        ]

    def __str__(self) -> str:
        return f"{self.queue_id} {self.decision}: {self.subject or self.message_id}"

    @property
    def mail_from_display(self) -> str:
        return self.mail_from or "<>"

    @property
    def routed_record(self) -> models.Model | None:
        if self.routed_model is None or self.routed_res_id is None:
            return None
        model_class = self.routed_model.model_class()
        if model_class is None:
            return None
        return model_class._default_manager.filter(pk=self.routed_res_id).first()


class InboundRefusal(models.Model):
    """A command the gateway refused in the SMTP dialogue, before any message was stored.

    A refused RCPT (unknown address, relaying denied, too many recipients), a SIZE= over the
    limit, a message too big, a malformed command, a connection over the limits: the sender
    sees the reply, the inbound log shows this row. A client refused over and over gets a
    bounded number of rows per minute (``MAILCORE_GATEWAY_REFUSALS_PER_MINUTE``); the last one
    counts the rest in ``more``.
    """

    refused_at = models.DateTimeField(default=timezone.now, db_index=True)
    remote_address = models.CharField(max_length=64, blank=True, help_text=_("Client IP address."))
    helo = models.CharField(_("HELO/EHLO name"), max_length=255, blank=True)
    mail_from = models.CharField(
        "MAIL FROM", max_length=998, blank=True, help_text=_("Empty: null sender <>, or no MAIL FROM yet.")
    )
    recipient = models.CharField("RCPT TO", max_length=998, blank=True)
    command = models.CharField(max_length=998, blank=True, help_text=_("The refused command as received."))
    reply = models.TextField(_("SMTP reply"))
    reason = models.TextField(blank=True)
    more = models.PositiveIntegerField(
        default=0,
        help_text=_("Further refusals from this address in this minute, counted but not recorded one by one."),
    )

    class Meta:
        ordering = ["-refused_at", "-id"]
        # The flood counter finds the last row of an address in a minute.
        indexes = [models.Index(fields=["remote_address", "refused_at"], name="inbound_refusal_address_idx")]

    def __str__(self) -> str:
        return f"{self.remote_address} {self.command}: {self.reply}"


class BounceAction(models.TextChoices):
    FAILED = "failed", _("Failed")
    DELAYED = "delayed", _("Delayed")
    # Ours (Odoo has none): a feedback-loop (abuse) report about the address.
    COMPLAINT = "complaint", _("Complaint")


class BounceReason(models.TextChoices):
    """Why a delivery failed, in six categories a person can act on (only ``user_unknown`` and
    ``host_unknown`` may be hard: the address itself is dead)."""

    USER_UNKNOWN = "user_unknown", _("Unknown user")
    MAILBOX_FULL = "mailbox_full", _("Mailbox full")
    HOST_UNKNOWN = "host_unknown", _("Unknown host")
    SPAM_BLOCKED = "spam_blocked", _("Blocked as spam")
    EXPIRED = "expired", _("Expired")
    OTHER = "other", _("Other")
    ABUSE = "abuse", _("Abuse report")


class BounceEvent(models.Model):
    """One recipient a bounce (or delay notice, or feedback report) was about."""

    date = models.DateTimeField(_("date"), default=timezone.now, db_index=True)
    email = models.CharField(_("e-mail"), max_length=255, help_text=_("Normalised bounced address."))
    partner = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("contact")
    )
    action = models.CharField(_("action"), max_length=16, choices=BounceAction.choices)
    status = models.CharField(_("status code"), max_length=16, blank=True, help_text=_("Enhanced code, e.g. 5.1.1."))
    reason = models.CharField(_("reason"), max_length=32, choices=BounceReason.choices, default=BounceReason.OTHER)
    hard = models.BooleanField(_("hard bounce"), default=False, help_text=_("The address is dead."))
    diagnostic = models.TextField(_("diagnostic"), blank=True)
    # How the original delivery was found: "token", "message_id", "references" or "" (not found).
    attributed_by = models.CharField(_("found by"), max_length=16, blank=True)
    inbound = models.ForeignKey(
        InboundMessage,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="bounce_events",
        verbose_name=_("inbound message"),
    )
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("message")
    )
    notification = models.ForeignKey(
        Notification,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="bounce_events",
        verbose_name=_("notification"),
    )

    class Meta:
        ordering = ["-date", "-id"]
        verbose_name = _("bounce event")
        verbose_name_plural = _("bounce events")
        indexes = [models.Index(fields=["email", "hard", "date"], name="bounce_event_blacklist_idx")]

    def __str__(self) -> str:
        return f"{self.email} {self.action} {self.status}"
