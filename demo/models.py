"""Demo record types with a chatter, so every flow can be shown: leads, quotations, tickets."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from chatter.thread import MailThread
from mailcore.models import Partner


class Lead(MailThread):
    class Stage(models.TextChoices):
        NEW = "new", "New"
        QUALIFIED = "qualified", "Qualified"
        PROPOSITION = "proposition", "Proposition"
        WON = "won", "Won"
        LOST = "lost", "Lost"

    mail_tracked_fields = ("stage", "expected_revenue", "customer")
    mail_partner_field = "customer"

    name = models.CharField(max_length=255)
    customer = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.NEW)
    expected_revenue = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name

    def _track_subtype(self, changed: set[str]) -> str | None:
        # Stage changes notify followers of "Stage Changed" (Odoo crm.mt_lead_stage).
        if "stage" in changed:
            return "demo.mt_lead_won" if self.stage == self.Stage.WON else "demo.mt_lead_stage"
        return None


class Quotation(MailThread):
    class State(models.TextChoices):
        DRAFT = "draft", "Quotation"
        SENT = "sent", "Quotation Sent"
        SALE = "sale", "Sales Order"
        CANCEL = "cancel", "Cancelled"

    mail_tracked_fields = ("state", "amount_total", "customer")
    mail_partner_field = "customer"

    name = models.CharField(max_length=64)
    customer = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    state = models.CharField(max_length=16, choices=State.choices, default=State.DRAFT)
    amount_total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name

    def _track_subtype(self, changed: set[str]) -> str | None:
        if "state" in changed and self.state == self.State.SALE:
            return "demo.mt_order_confirmed"
        return None


class Ticket(MailThread):
    class Priority(models.TextChoices):
        LOW = "0", "Low"
        NORMAL = "1", "Normal"
        HIGH = "2", "High"
        URGENT = "3", "Urgent"

    class Stage(models.TextChoices):
        NEW = "new", "New"
        IN_PROGRESS = "in_progress", "In Progress"
        SOLVED = "solved", "Solved"

    mail_tracked_fields = ("stage", "priority", "customer")
    mail_partner_field = "customer"

    name = models.CharField(max_length=255)
    customer = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    email_from = models.CharField(max_length=255, blank=True, help_text="Set by mail creating the ticket.")
    priority = models.CharField(max_length=1, choices=Priority.choices, default=Priority.NORMAL)
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.NEW)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name

    def _track_subtype(self, changed: set[str]) -> str | None:
        if "stage" in changed and self.stage == self.Stage.SOLVED:
            return "demo.mt_ticket_solved"
        return None
