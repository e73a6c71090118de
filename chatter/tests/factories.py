"""Test data for chatter tests: contacts, users and demo records."""

from __future__ import annotations

import itertools

import factory
from django.contrib.auth import get_user_model

from demo.models import Lead, Quotation, Ticket
from mailcore.models import NotificationType, Partner

_seq = itertools.count(1)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner

    name = factory.Sequence(lambda n: f"Contact {n}")
    email = factory.LazyAttribute(lambda o: f"{o.name.lower().replace(' ', '.')}@example.com")


def inbox_user_partner(name: str = "") -> Partner:
    """A contact with a user who handles notifications in the app."""
    name = name or f"Inbox user {next(_seq)}"
    user = UserFactory()
    return PartnerFactory(name=name, user=user, notification_type=NotificationType.INBOX)


def email_user_partner(name: str = "") -> Partner:
    """A contact with a user who handles notifications by e-mail."""
    name = name or f"Email user {next(_seq)}"
    user = UserFactory()
    return PartnerFactory(name=name, user=user, notification_type=NotificationType.EMAIL)


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    name = factory.Sequence(lambda n: f"Lead {n}")


class QuotationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Quotation

    name = factory.Sequence(lambda n: f"S{n:05d}")


class TicketFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Ticket

    name = factory.Sequence(lambda n: f"Ticket {n}")
