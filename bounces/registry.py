"""The hand-off from bounce and reply processing to the apps above it.

Dependencies point one way (bounces ← marketing): bounce processing knows deliveries and chatter
notifications, not campaigns. An app that sends mail of its own (campaign traces) registers
listeners in its ``AppConfig.ready()``: it is told about every failed delivery a bounce reports,
and about every accepted reply (the door asks it whether a reply answers its mail).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


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


@dataclass(frozen=True)
class InboundReply:
    """An accepted inbound message that answers earlier mail.

    ``message_ids`` are its In-Reply-To, then its References (newest first); ``email`` is its
    sender's normalised address.
    """

    message_ids: tuple[str, ...]
    email: str


class ReplyListener(Protocol):
    """What an app sending mail of its own (campaigns) tells the gateway about replies to it."""

    def knows(self, message_ids: list[str]) -> bool:
        """Whether one of ``message_ids`` is a mail this app sent (the door accepts a reply to it)."""
        ...

    def record(self, reply: InboundReply) -> str:
        """Record ``reply`` (in the worker, inside its transaction); a summary, or "" if not ours."""
        ...


_reply_listeners: list[ReplyListener] = []


def register_reply_listener(listener: ReplyListener) -> None:
    if listener not in _reply_listeners:
        _reply_listeners.append(listener)


def reply_known_elsewhere(message_ids: list[str]) -> bool:
    """Whether a registered app sent one of ``message_ids`` (mail the chatter does not know)."""
    return bool(message_ids) and any(listener.knows(message_ids) for listener in _reply_listeners)


def reply_listeners_notify(reply: InboundReply) -> list[str]:
    """Tell every registered app about ``reply``; their non-empty summaries."""
    if not reply.message_ids:
        return []
    return [summary for listener in _reply_listeners if (summary := listener.record(reply))]
