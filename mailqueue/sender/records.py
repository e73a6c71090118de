"""What the sender works with: a claimed row being sent (a job), each recipient's outcome, the report."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum

from chatter.models import FailureType
from mailcore.models import AliasDomain
from mailcore.servers import ServerChoice
from mailqueue import conf
from mailqueue.exceptions import MailDeliveryError
from mailqueue.models import Mail, MailRecipient
from mailqueue.sender.claim import renew_leases


# --- public results -----------------------------------------------------------------------------
@dataclass
class SendReport:
    """What one :func:`send_mails` call did. Mail counts are rows; the others are recipients."""

    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    canceled: int = 0
    deferred_quota: int = 0
    mail_ids: list[int] = field(default_factory=list)

    def merge(self, other: SendReport) -> None:
        self.claimed += other.claimed
        self.sent += other.sent
        self.failed += other.failed
        self.retried += other.retried
        self.canceled += other.canceled
        self.deferred_quota += other.deferred_quota
        self.mail_ids.extend(other.mail_ids)


@dataclass(frozen=True)
class QueueRunResult:
    """Odoo's cron progress: rows handled by this run, and due rows still waiting."""

    done: int
    remaining: int


# --- internal records ---------------------------------------------------------------------------
class Kind(StrEnum):
    SENT = "sent"
    FAILED = "failed"  # final failure of this recipient
    CANCEL = "cancel"  # not sent on purpose (blacklisted)
    RETRY = "retry"  # temporary failure: stays pending
    QUOTA = "quota"  # held back by the daily quota: stays pending


@dataclass
class Outcome:
    recipient: MailRecipient
    kind: Kind
    failure_type: str = ""
    reason: str = ""
    smtp_response: str = ""
    address: str = ""
    # This recipient's first lines when its message was handed to the server (kept for Download .eml).
    recipient_lines: bytes = b""
    # For RETRY: the failure type recorded if this was the last attempt.
    final_type: str = FailureType.MAIL_SMTP


@dataclass
class Target:
    """A recipient that can be sent to: its address, To header and envelope sender."""

    recipient: MailRecipient
    address: str
    to_header: str
    envelope: str = ""  # computed when first needed (announced early to a pipelining server)


@dataclass
class Job:
    """One claimed row, prepared for sending."""

    mail: Mail
    recipients: list[MailRecipient]
    choice: ServerChoice | None = None
    error: MailDeliveryError | None = None  # the whole row fails (no From, unbuildable)
    alias_domain: AliasDomain | None = None
    message_id: str = ""
    # The message as handed to the server, minus each recipient's own first lines (build.recipient_lines).
    content: bytes = b""
    # The kept copy of ``content`` (a SentContent row), made before the row's first delivery log.
    content_id: int | None = None
    targets: list[Target] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def host(self) -> str:
        return self.choice.host if self.choice is not None else ""


@dataclass
class Run:
    owner: str
    report: SendReport
    unfinished: set[int]
    pending_flush: list[Job] = field(default_factory=list)
    renewed_at: float = field(default_factory=time.monotonic)
    # Read once per run: keep_lease is called for every message.
    renew_every: float = field(default_factory=lambda: conf.lease_seconds() / 3)
    # Rows whose lease another worker took over (we stalled past it): we send nothing more of them.
    lost: set[int] = field(default_factory=set)

    def keep_lease(self) -> None:
        """Renew our leases well before they expire, so a long batch is never taken over."""
        if time.monotonic() - self.renewed_at > self.renew_every:
            owned = renew_leases(self.unfinished, self.owner)
            self.lost |= self.unfinished - owned
            self.renewed_at = time.monotonic()
