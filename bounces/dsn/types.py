"""The result types of bounce parsing (kept apart so every parser module can import them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Action = Literal["failed", "delayed"]

# The six reason categories of a bounced recipient. Plain strings, so callers can store them.
USER_UNKNOWN = "user_unknown"
MAILBOX_FULL = "mailbox_full"
HOST_UNKNOWN = "host_unknown"
SPAM_BLOCKED = "spam_blocked"
EXPIRED = "expired"
OTHER = "other"
REASONS = (USER_UNKNOWN, MAILBOX_FULL, HOST_UNKNOWN, SPAM_BLOCKED, EXPIRED, OTHER)

# The diagnostic recorded when a notice is known to be a bounce (by its Return-Path token) but
# names no recipient and no reason we can read: the failure details say so in plain words.
UNREADABLE_DIAGNOSTIC = "Undeliverable (unreadable delivery report)."


@dataclass(frozen=True)
class BouncedRecipient:
    """One recipient a delivery report says failed (or is delayed).

    ``hard`` is True only when the address is dead: given up (``failed``), permanent, and
    ``user_unknown`` or ``host_unknown`` — see :mod:`bounces.dsn.classify`.
    """

    email: str
    status: str | None
    action: Action
    reason: str
    hard: bool
    diagnostic: str
    # What decided the reason: the enhanced status code, the basic SMTP reply code or the text.
    evidence: str = "text"

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "email": self.email,
            "status": self.status,
            "action": self.action,
            "reason": self.reason,
            "hard": self.hard,
            "evidence": self.evidence,
            "diagnostic": self.diagnostic,
        }


@dataclass(frozen=True)
class BounceReport:
    """What :func:`bounces.dsn.parse_bounce` learnt from one inbound e-mail."""

    is_bounce: bool
    original_message_id: str | None = None
    bounced: list[BouncedRecipient] = field(default_factory=list)
    original_references: list[str] = field(default_factory=list)
    original_headers: dict[str, str] = field(default_factory=dict)
    is_auto_reply: bool = False
    is_feedback_report: bool = False
    feedback_email: str | None = None

    @property
    def failed(self) -> list[BouncedRecipient]:
        """Recipients whose delivery was given up (delay notices excluded)."""
        return [r for r in self.bounced if r.action == "failed"]

    def to_json_dict(self) -> dict[str, Any]:
        """The ``parse_bounce --json`` shape: is_bounce, original_message_id, bounced[]."""
        return {
            "is_bounce": self.is_bounce,
            "original_message_id": self.original_message_id,
            "bounced": [r.to_json_dict() for r in self.bounced],
        }
