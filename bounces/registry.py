"""The hand-off from bounce processing to the apps above it.

Dependencies point one way (bounces ← marketing): bounce processing knows deliveries and chatter
notifications, not campaigns. An app that sends mail of its own (campaign traces) registers a
listener in its ``AppConfig.ready()`` and is told about every failed delivery a bounce reports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class BouncedDelivery:
    """One delivery a bounce reported as failed for good.

    ``recipient_id`` is the queue delivery the signed Return-Path names (None when the bounce was
    attributed otherwise); ``message_ids`` are the Message-IDs the report gives for the original.
    """

    recipient_id: int | None
    message_ids: tuple[str, ...]
    email: str
    hard: bool
    diagnostic: str


BounceListener = Callable[[BouncedDelivery], None]

_listeners: list[BounceListener] = []


def register_bounce_listener(listener: BounceListener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def bounce_listeners_notify(delivery: BouncedDelivery) -> None:
    for listener in _listeners:
        listener(delivery)
