"""The one writer of a notification's delivery status (Odoo ``mail.notification.notification_status``).

The queue's buttons, the resend dialog, the sender and bounce processing all change a
notification's status through :func:`notification_set_status`, which applies the transition table
below with a conditional ``UPDATE`` (filtered on the states the target may be reached from), so a
worker that read an old state can never overwrite a newer one, whoever wrote it.

Odoo's e-mail statuses are ``ready``, ``sent``, ``bounce``, ``exception`` and ``canceled``. Odoo 19
also has ``process`` and ``pending``, used only by SMS and IAP notifications; e-mail never takes
them, so they are not added here.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet
from django.utils import timezone

from chatter.exceptions import NotificationStatusError
from chatter.models import FailureType, Notification, NotificationStatus

READY = NotificationStatus.READY
SENT = NotificationStatus.SENT
BOUNCE = NotificationStatus.BOUNCE
EXCEPTION = NotificationStatus.EXCEPTION
CANCELED = NotificationStatus.CANCELED

# Every (from, to) pair, once: who makes an allowed change, or why a change is refused. A
# notification is never written outside this table.
ALLOWED: dict[tuple[str, str], str] = {
    (READY, READY): "a temporary failure or the daily limit keeps it waiting, with the latest reason",
    (READY, SENT): "the SMTP server accepted the message",
    (READY, BOUNCE): "a bounce arrived before the sender recorded the acceptance",
    (READY, EXCEPTION): "the delivery failed for good",
    (READY, CANCELED): "Cancel Email in the queue, or a recipient the sender must not write to (blacklisted)",
    (SENT, BOUNCE): "the recipient's server accepted the message, then returned it",
    (BOUNCE, READY): "Send & close in the Delivery failure dialog resends it",
    (BOUNCE, BOUNCE): "a later report about the same delivery brings a newer diagnostic",
    (BOUNCE, CANCELED): "Ignore all, or toggled off, in the Delivery failure dialog",
    (EXCEPTION, READY): "Retry in the queue, or Send & close in the Delivery failure dialog",
    (EXCEPTION, BOUNCE): "the remote server's report says more than our SMTP error did",
    (EXCEPTION, CANCELED): "Ignore all, or toggled off, in the Delivery failure dialog",
    # Only Retry on a row cancelled with Cancel Email does this. A cancellation in the Delivery
    # failure dialog is final all the same: the dialog takes the recipient off every queue row, so
    # no queue action has anything left to send it (Odoo warns that recipients who are not selected
    # cannot be resent later).
    (CANCELED, READY): "Retry in the queue on a row cancelled with Cancel Email",
}
FORBIDDEN: dict[tuple[str, str], str] = {
    (SENT, READY): "it was delivered: sending it again would duplicate it (a bounce turns it red first)",
    (SENT, SENT): "it is sent already",
    (SENT, EXCEPTION): "it was delivered: a later failure report is a bounce",
    (SENT, CANCELED): "it was delivered: there is nothing left to cancel",
    (BOUNCE, SENT): "a bounced delivery is resent through ready (Send & close), never marked sent as it is",
    (BOUNCE, EXCEPTION): "it bounced: the bounce already says why it failed",
    (EXCEPTION, SENT): "a failed delivery goes back to ready (Retry, Send & close) before it is sent again",
    (EXCEPTION, EXCEPTION): "it failed already: a new failure needs a new attempt, from ready",
    (CANCELED, SENT): "it was cancelled: nothing is sent to it any more",
    (CANCELED, BOUNCE): "it was cancelled: a late bounce does not turn it red again",
    (CANCELED, EXCEPTION): "it was cancelled: nothing is sent to it any more",
    (CANCELED, CANCELED): "it is cancelled already",
}

# For each target, the statuses it may be reached from: the filter of the conditional UPDATE.
_SOURCES: dict[str, tuple[str, ...]] = {
    status: tuple(source for (source, target) in ALLOWED if target == status) for status in NotificationStatus.values
}


def notification_transition_refusal(current: str, new: str) -> str:
    """Why ``current`` → ``new`` is refused ("" when the table allows it)."""
    if (current, new) in ALLOWED:
        return ""
    return FORBIDDEN.get((current, new)) or f"unknown status {current!r} or {new!r}"


def notification_set_status(
    *,
    notifications: QuerySet[Notification] | Iterable[int],
    status: str,
    failure_type: str | None = None,
    failure_reason: str | None = None,
    only_from: Iterable[str] | None = None,
) -> int:
    """Move these notifications to ``status`` where the table allows it, in one ``UPDATE``.

    ``notifications`` is a queryset or ids. Those whose current status may not reach ``status``
    are left as they are (:func:`notification_transition_refusal` says why); ``only_from``
    narrows the allowed current statuses further for a caller that expects one (the sender writes
    only on ``ready`` notifications), it never widens them. Returns how many changed.

    Failure fields: ``sent`` clears them (Odoo); ``exception`` and ``bounce`` need a failure
    type; ``ready`` clears them unless given (the sender keeps the reason a recipient waits for);
    ``canceled`` keeps them unless given (Odoo's wizard writes only the status).
    """
    if status not in _SOURCES:
        raise NotificationStatusError(f"Unknown notification status {status!r}.")
    sources = _SOURCES[status]
    if only_from is not None:
        wanted = set(only_from)
        sources = tuple(s for s in sources if s in wanted)
    if failure_type is not None and failure_type and failure_type not in FailureType.values:
        raise NotificationStatusError(f"Unknown failure type {failure_type!r}.")
    values: dict[str, object] = {"notification_status": status, "updated_at": timezone.now()}
    if status == SENT:
        if failure_type or failure_reason:
            raise NotificationStatusError("A sent notification carries no failure.")
        values.update(failure_type="", failure_reason="")
    elif status in (EXCEPTION, BOUNCE):
        if not failure_type:
            raise NotificationStatusError(f"A notification in {status!r} needs a failure type.")
        values.update(failure_type=failure_type, failure_reason=failure_reason or "")
    elif status == READY:
        values.update(failure_type=failure_type or "", failure_reason=failure_reason or "")
    else:
        if failure_type is not None:
            values["failure_type"] = failure_type
        if failure_reason is not None:
            values["failure_reason"] = failure_reason
    if not sources:
        return 0
    if isinstance(notifications, QuerySet):
        queryset = notifications
    else:
        ids = list(notifications)
        if not ids:
            return 0
        queryset = Notification.objects.filter(pk__in=ids)
    return queryset.filter(notification_status__in=sources).update(**values)
