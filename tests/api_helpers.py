"""Test data and clients for the JSON API tests (tests/test_api_*.py)."""

from __future__ import annotations

import itertools
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from rest_framework.test import APIClient

from chatter.models import Notification, NotificationStatus
from mailcore.models import NotificationType, Partner

_seq = itertools.count(1)


def make_user(
    username: str = "",
    *,
    staff: bool = False,
    with_partner: bool = True,
    notification_type: str = NotificationType.EMAIL,
    email: str | None = None,
) -> AbstractUser:
    """A user (with a password of "pw") and, by default, its contact."""
    username = username or f"user{next(_seq)}"
    email = f"{username}@example.com" if email is None else email
    user: AbstractUser = get_user_model().objects.create_user(  # type: ignore[assignment]
        username=username, email=email, password="pw", is_staff=staff, first_name=username.capitalize()
    )
    if with_partner:
        Partner.objects.create(name=username.capitalize(), email=email, user=user, notification_type=notification_type)
    return user


def make_partner(name: str = "", email: str | None = None, **fields: Any) -> Partner:
    name = name or f"Contact {next(_seq)}"
    email = f"{name.lower().replace(' ', '.')}@example.com" if email is None else email
    return Partner.objects.create(name=name, email=email, **fields)


def client_for(user: AbstractUser | None) -> APIClient:
    """An API client logged in with a session (None: anonymous)."""
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


def notification_fail(notification: Notification, *, failure_type: str, failure_reason: str) -> None:
    """Simulate what the sender records for a permanent failure."""
    Notification.objects.filter(pk=notification.pk).update(
        notification_status=NotificationStatus.EXCEPTION, failure_type=failure_type, failure_reason=failure_reason
    )
