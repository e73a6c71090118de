"""``manage.py bootstrap_demo``: the admin with the placeholder address and demo records, once."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

from chatter.models import Follower, Message, Notification
from demo.models import Lead, Quotation, Ticket
from mailcore import conf
from mailcore.models import NotificationType, Partner

pytestmark = pytest.mark.django_db


def run() -> str:
    out = StringIO()
    call_command("bootstrap_demo", stdout=out)
    return out.getvalue()


def test_creates_admin_with_placeholder_email_and_demo_records() -> None:
    output = run()
    assert "Created the administrator admin/admin." in output
    admin = authenticate(username="admin", password="admin")
    assert admin is not None and admin.is_superuser and admin.is_staff
    assert admin.email == conf.placeholder_admin_email() == "admin@example.com"
    partner = Partner.objects.get(user=admin)
    assert partner.email_normalized == "admin@example.com"
    assert partner.notification_type == NotificationType.INBOX

    assert set(Lead.objects.values_list("name", flat=True)) == {"Office Design Project", "Quote for 150 carpets"}
    assert Quotation.objects.filter(name="S00001").exists()
    ticket = Ticket.objects.get(name="Printer not working")
    followers = set(
        Follower.objects.filter(res_id=ticket.pk, model__model="ticket").values_list("partner__name", flat=True)
    )
    assert followers == {"Mitchell Admin", "Ready Mat"}
    # The customer's message reaches the admin in the inbox; the admin's reply goes to her by e-mail.
    assert Notification.objects.filter(
        res_partner=partner, notification_type="inbox", message__body__contains="E-42"
    ).exists()
    assert Notification.objects.filter(
        res_partner__name="Ready Mat", notification_type="email", message__body__contains="technician"
    ).exists()


def test_is_idempotent() -> None:
    run()
    counts = (Partner.objects.count(), Message.objects.count(), Notification.objects.count(), Follower.objects.count())
    assert run().strip().endswith("Demo data already present.")
    assert (
        Partner.objects.count(),
        Message.objects.count(),
        Notification.objects.count(),
        Follower.objects.count(),
    ) == counts
    assert get_user_model().objects.filter(username="admin").count() == 1
