"""The one writer of a notification's delivery status and Odoo's transition table, pair by pair."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from chatter.exceptions import NotificationStatusError
from chatter.models import FailureType, Notification, NotificationStatus
from chatter.notification_status import (
    ALLOWED,
    FORBIDDEN,
    notification_set_status,
    notification_transition_refusal,
)
from chatter.tests.factories import LeadFactory, PartnerFactory

pytestmark = pytest.mark.django_db

STATUSES = list(NotificationStatus.values)
PAIRS = list(itertools.product(STATUSES, STATUSES))
# A failure type for the statuses that need one, and what an earlier failure left behind.
FAILURE_FOR = {NotificationStatus.EXCEPTION: FailureType.MAIL_SMTP, NotificationStatus.BOUNCE: FailureType.MAIL_BOUNCE}


def _notifications(count: int, status: str) -> list[Notification]:
    partners = [PartnerFactory() for _ in range(count)]
    message = LeadFactory().message_post(
        body="hello", subtype="mt_comment", author=PartnerFactory(), partner_ids=[p.pk for p in partners]
    )
    notifications = list(Notification.objects.filter(message=message).order_by("pk"))
    Notification.objects.filter(pk__in=[n.pk for n in notifications]).update(
        notification_status=status,
        failure_type=FAILURE_FOR.get(status, ""),
        failure_reason="earlier reason" if status in FAILURE_FOR else "",
    )
    return notifications


def test_the_table_names_every_pair_once() -> None:
    assert set(ALLOWED) | set(FORBIDDEN) == set(PAIRS)
    assert not set(ALLOWED) & set(FORBIDDEN)
    assert all(ALLOWED.values()) and all(FORBIDDEN.values())


@pytest.mark.parametrize(("current", "new"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_every_transition(current: str, new: str) -> None:
    (notification,) = _notifications(1, current)
    reason = "new reason" if new in FAILURE_FOR else None
    changed = notification_set_status(
        notifications=[notification.pk], status=new, failure_type=FAILURE_FOR.get(new), failure_reason=reason
    )
    after = Notification.objects.get(pk=notification.pk)
    if (current, new) in ALLOWED:
        assert changed == 1
        assert after.notification_status == new
        assert notification_transition_refusal(current, new) == ""
        if new in FAILURE_FOR:
            assert (after.failure_type, after.failure_reason) == (FAILURE_FOR[new], "new reason")
        elif new in (NotificationStatus.SENT, NotificationStatus.READY):
            assert (after.failure_type, after.failure_reason) == ("", "")
    else:
        assert changed == 0
        assert (after.notification_status, after.failure_type, after.failure_reason, after.updated_at) == (
            current,
            FAILURE_FOR.get(current, ""),
            "earlier reason" if current in FAILURE_FOR else "",
            notification.updated_at,
        )
        assert notification_transition_refusal(current, new) == FORBIDDEN[(current, new)]


@pytest.mark.parametrize(
    ("current", "why"),
    [
        (NotificationStatus.CANCELED, "it was cancelled: a late bounce does not turn it red again"),
        (NotificationStatus.SENT, ""),
    ],
)
def test_a_bounce_never_turns_a_cancelled_notification_red(current: str, why: str) -> None:
    assert notification_transition_refusal(current, NotificationStatus.BOUNCE) == why


def test_a_queryset_of_many_is_one_update(django_assert_num_queries: Any) -> None:
    notifications = _notifications(30, NotificationStatus.READY)
    Notification.objects.filter(pk=notifications[0].pk).update(notification_status=NotificationStatus.CANCELED)
    with django_assert_num_queries(1):
        changed = notification_set_status(
            notifications=Notification.objects.filter(pk__in=[n.pk for n in notifications]),
            status=NotificationStatus.SENT,
        )
    assert changed == 29
    assert Notification.objects.get(pk=notifications[0].pk).notification_status == NotificationStatus.CANCELED


def test_only_from_narrows_never_widens() -> None:
    ready, failed = _notifications(1, NotificationStatus.READY), _notifications(1, NotificationStatus.EXCEPTION)
    ids = [ready[0].pk, failed[0].pk]
    # The sender writes only on notifications still waiting.
    assert notification_set_status(notifications=ids, status=NotificationStatus.READY, only_from=["ready"]) == 1
    assert Notification.objects.get(pk=failed[0].pk).notification_status == NotificationStatus.EXCEPTION
    # Asking for a source the table refuses changes nothing.
    assert notification_set_status(notifications=ids, status=NotificationStatus.SENT, only_from=["exception"]) == 0


def test_canceled_keeps_its_failure_unless_told_otherwise() -> None:
    (kept,) = _notifications(1, NotificationStatus.EXCEPTION)
    (cleared,) = _notifications(1, NotificationStatus.READY)
    notification_set_status(notifications=[kept.pk], status=NotificationStatus.CANCELED)
    notification_set_status(notifications=[cleared.pk], status=NotificationStatus.CANCELED, failure_reason="")
    kept.refresh_from_db()
    # Odoo's wizard writes only the status: the envelope still tells what had failed.
    assert (kept.notification_status, kept.failure_type, kept.failure_reason) == (
        NotificationStatus.CANCELED,
        FailureType.MAIL_SMTP,
        "earlier reason",
    )
    cleared.refresh_from_db()
    assert (cleared.notification_status, cleared.failure_reason) == (NotificationStatus.CANCELED, "")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"status": "outgoing"}, "Unknown notification status 'outgoing'."),
        ({"status": "exception"}, "A notification in 'exception' needs a failure type."),
        ({"status": "bounce", "failure_type": "nonsense"}, "Unknown failure type 'nonsense'."),
        ({"status": "sent", "failure_type": "mail_smtp"}, "A sent notification carries no failure."),
    ],
)
def test_bad_requests_are_refused_and_change_nothing(kwargs: dict[str, Any], message: str) -> None:
    (notification,) = _notifications(1, NotificationStatus.READY)
    with pytest.raises(NotificationStatusError) as excinfo:
        notification_set_status(notifications=[notification.pk], **kwargs)
    assert str(excinfo.value) == message
    assert Notification.objects.get(pk=notification.pk).notification_status == NotificationStatus.READY
