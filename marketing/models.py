"""Mailing lists and subscriptions (Odoo ``mailing.list`` and ``mailing.subscription``).

The members of a list are the app's contacts (``mailcore.Partner``), not a second contact table
as in Odoo (``mailing.contact``): one person has one address, one bounce counter and one
blacklist flag, whether they receive a chatter notification or a campaign.
"""

from __future__ import annotations

from django.db import models

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
