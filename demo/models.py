"""Demo record types with a chatter, so every flow can be shown: leads, quotations, tickets.

Names, stages and fields carry Odoo's words (CRM's leads, Sales' quotations, Helpdesk's tickets),
translated like the rest of the product; the stored values stay Odoo's keys.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from chatter.thread import MailThread
from mailcore.models import Partner


class Lead(MailThread):
    class Stage(models.TextChoices):
        NEW = "new", pgettext_lazy("lead stage", "New")
        QUALIFIED = "qualified", _("Qualified")
        PROPOSITION = "proposition", _("Proposition")
        WON = "won", _("Won")
        LOST = "lost", _("Lost")

    mail_tracked_fields = ("stage", "expected_revenue", "customer")
    mail_partner_field = "customer"

    name = models.CharField(_("opportunity"), max_length=255)
    customer = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("customer")
    )
    stage = models.CharField(_("stage"), max_length=16, choices=Stage.choices, default=Stage.NEW)
    expected_revenue = models.DecimalField(_("expected revenue"), max_digits=12, decimal_places=2, default=Decimal("0"))
    description = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("created on"), auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("lead")
        verbose_name_plural = _("leads")

    def __str__(self) -> str:
        return self.name

    def _track_subtype(self, changed: set[str]) -> str | None:
        # Stage changes notify followers of "Stage Changed" (Odoo crm.mt_lead_stage).
        if "stage" in changed:
            return "demo.mt_lead_won" if self.stage == self.Stage.WON else "demo.mt_lead_stage"
        return None


class Quotation(MailThread):
    class State(models.TextChoices):
        DRAFT = "draft", _("Quotation")
        SENT = "sent", _("Quotation Sent")
        SALE = "sale", _("Sales Order")
        CANCEL = "cancel", _("Cancelled")

    mail_tracked_fields = ("state", "amount_total", "customer")
    mail_partner_field = "customer"

    name = models.CharField(_("order reference"), max_length=64)
    customer = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("customer")
    )
    state = models.CharField(_("status"), max_length=16, choices=State.choices, default=State.DRAFT)
    amount_total = models.DecimalField(_("total"), max_digits=12, decimal_places=2, default=Decimal("0"))
    created_at = models.DateTimeField(_("created on"), auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("quotation")
        verbose_name_plural = _("quotations")

    def __str__(self) -> str:
        return self.name

    def _track_subtype(self, changed: set[str]) -> str | None:
        if "state" in changed and self.state == self.State.SALE:
            return "demo.mt_order_confirmed"
        return None


class Ticket(MailThread):
    class Priority(models.TextChoices):
        LOW = "0", pgettext_lazy("ticket priority", "Low")
        NORMAL = "1", pgettext_lazy("ticket priority", "Normal")
        HIGH = "2", pgettext_lazy("ticket priority", "High")
        URGENT = "3", pgettext_lazy("ticket priority", "Urgent")

    class Stage(models.TextChoices):
        NEW = "new", pgettext_lazy("ticket stage", "New")
        IN_PROGRESS = "in_progress", _("In Progress")
        SOLVED = "solved", _("Solved")

    mail_tracked_fields = ("stage", "priority", "customer")
    mail_partner_field = "customer"

    name = models.CharField(_("subject"), max_length=255)
    customer = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("customer")
    )
    email_from = models.CharField(
        _("customer e-mail"), max_length=255, blank=True, help_text=_("Set by mail creating the ticket.")
    )
    priority = models.CharField(_("priority"), max_length=1, choices=Priority.choices, default=Priority.NORMAL)
    stage = models.CharField(_("stage"), max_length=16, choices=Stage.choices, default=Stage.NEW)
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(_("created on"), auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")

    def __str__(self) -> str:
        return self.name

    def _track_subtype(self, changed: set[str]) -> str | None:
        if "stage" in changed and self.stage == self.Stage.SOLVED:
            return "demo.mt_ticket_solved"
        return None
