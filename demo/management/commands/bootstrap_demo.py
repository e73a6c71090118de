"""``manage.py bootstrap_demo``: the admin and demo data ``make run`` loads after migrating.

Idempotent: run it as often as you like; it only creates what is missing. The admin gets the
placeholder address ``admin@example.com`` on purpose — the product flags it until it is changed,
as Odoo's troubleshooting page asks ("the administrator's e-mail is still the default one").
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from chatter.context import acting_as
from chatter.models import MessageType
from demo.models import Lead, Quotation, Ticket
from mailcore import conf
from mailcore.models import NotificationType, Partner

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin"  # a local demo account, printed by `make run`

# Odoo's demo companies, so the screens look like what an Odoo user knows.
CONTACTS = [
    ("Azure Interior", "azure.interior@example.com"),
    ("Deco Addict", "deco.addict@example.com"),
    ("Gemini Furniture", "gemini.furniture@example.com"),
    ("Ready Mat", "ready.mat@example.com"),
    # No e-mail on purpose: notifying it shows Odoo's "Missing email address" failure.
    ("Lumber Inc", ""),
]


class Command(BaseCommand):
    help = "Create the admin (admin/admin, placeholder e-mail) and demo contacts and records, if missing."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            admin = self._admin()
            contacts = {name: self._contact(name, email) for name, email in CONTACTS}
            with acting_as(admin):
                created = self._records(admin, contacts)
        if created:
            self.stdout.write(self.style.SUCCESS(f"Demo data loaded: {', '.join(created)}."))
        else:
            self.stdout.write("Demo data already present.")

    def _admin(self) -> Partner:
        user_model = get_user_model()
        user = user_model._default_manager.filter(username=ADMIN_USERNAME).first()
        if user is None:
            user = user_model._default_manager.create_superuser(  # type: ignore[attr-defined]
                username=ADMIN_USERNAME, email=conf.placeholder_admin_email(), password=ADMIN_PASSWORD
            )
            self.stdout.write(f"Created the administrator {ADMIN_USERNAME}/{ADMIN_PASSWORD}.")
        partner = Partner.objects.filter(user=user).first()
        if partner is None:
            partner = Partner.objects.create(
                name="Mitchell Admin",
                email=user.email,
                user=user,
                # The admin reads notifications in the app's inbox, as Odoo's demo admin does.
                notification_type=NotificationType.INBOX,
            )
        return partner

    def _contact(self, name: str, email: str) -> Partner:
        partner = Partner.objects.filter(name=name, user__isnull=True).first()
        return partner or Partner.objects.create(name=name, email=email)

    def _records(self, admin: Partner, contacts: dict[str, Partner]) -> list[str]:
        created: list[str] = []
        azure, deco, gemini, ready_mat, lumber = (contacts[name] for name, _ in CONTACTS)

        if not Lead.objects.filter(name="Office Design Project").exists():
            lead = Lead.objects.create(
                name="Office Design Project", customer=azure, expected_revenue=Decimal("24000.00")
            )
            lead.message_subscribe([azure, deco])
            lead.message_post(
                body="<p>Thank you for your interest in our office furniture. "
                "When would suit you for a visit of your premises?</p>",
                subject="Your office design project",
                subtype="mt_comment",
                message_type=MessageType.COMMENT,
            )
            lead.stage = Lead.Stage.QUALIFIED
            lead.save()
            created.append(f"lead {lead.name}")

        if not Lead.objects.filter(name="Quote for 150 carpets").exists():
            lead = Lead.objects.create(name="Quote for 150 carpets", customer=deco, expected_revenue=Decimal("4500"))
            lead.message_subscribe([deco, lumber])
            lead.message_post(
                body="<p>Sample carpets are ready; we will send the quotation this week.</p>",
                subtype="mt_comment",
                message_type=MessageType.COMMENT,
            )
            created.append(f"lead {lead.name}")

        if not Quotation.objects.filter(name="S00001").exists():
            quotation = Quotation.objects.create(name="S00001", customer=gemini, amount_total=Decimal("1799.00"))
            quotation.message_subscribe([gemini])
            quotation.message_post(body="<p>Discount of 5% approved by the sales manager.</p>", subtype="mt_note")
            quotation.message_post(
                body="<p>Please find your quotation S00001 attached.</p>",
                subject="Gemini Furniture Quotation (Ref S00001)",
                subtype="mt_comment",
                message_type=MessageType.COMMENT,
                attachments=[("S00001.txt", b"Quotation S00001\nTotal: 1,799.00\n", "text/plain")],
            )
            created.append(f"quotation {quotation.name}")

        if not Ticket.objects.filter(name="Printer not working").exists():
            ticket = Ticket.objects.create(
                name="Printer not working", customer=ready_mat, email_from=ready_mat.email, priority="2"
            )
            ticket.message_subscribe([ready_mat])
            # The customer writes; the admin, a follower since creating the ticket, gets it in the inbox.
            ticket.message_post(
                body="<p>Our printer shows error E-42 since this morning.</p>",
                author=ready_mat,
                subtype="mt_comment",
                message_type=MessageType.EMAIL,
            )
            ticket.message_post(
                body="<p>A technician will call you within the hour.</p>",
                subtype="mt_comment",
                message_type=MessageType.COMMENT,
            )
            created.append(f"ticket {ticket.name}")
        return created
