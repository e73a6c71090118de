"""The hand-off from the sender to the apps above it: what became of each mass-mail delivery.

Dependencies point one way (mailqueue ← bounces ← marketing): the sender does not know about
campaigns. An app that sends mass mail (``is_mass_mail`` rows) registers a listener in its
``AppConfig.ready()`` and is told, in batches, which deliveries were sent, failed or cancelled.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class DeliveryOutcome:
    """The final outcome of one delivery (a ``MailRecipient``) of a mass-mail row."""

    recipient_id: int
    status: str  # "sent" | "failed" | "canceled"
    failure_type: str
    reason: str
    at: dt.datetime


DeliveryListener = Callable[[list[DeliveryOutcome]], None]

_listeners: list[DeliveryListener] = []


def register_delivery_listener(listener: DeliveryListener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def delivery_listeners_notify(outcomes: list[DeliveryOutcome]) -> None:
    """Called by the sender's bookkeeping, in its transaction, once per flush that has outcomes."""
    if outcomes:
        for listener in _listeners:
            listener(outcomes)
