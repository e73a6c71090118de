"""The hand-off from chatter to the mail queue.

Dependencies point one way (mailcore ← chatter ← mailqueue): chatter decides *who* is notified
by e-mail, mailqueue decides *how* the mail leaves. ``mailqueue`` fills this registry in its
``AppConfig.ready()`` (a small registry, not a signal).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from chatter.models import Message


@dataclass(frozen=True)
class EmailRecipient:
    """One recipient to reach by e-mail: its contact, its ``email`` notification and its language.

    ``lang`` is the contact's (Odoo's ``partner.lang``): the notification layout is rendered in it;
    empty means the company's language.
    """

    partner_id: int
    notification_id: int
    lang: str = ""


class EmailNotifier(Protocol):
    def __call__(
        self,
        *,
        message: Message,
        recipients: list[EmailRecipient],
        urgent: bool,
        auto_delete: bool,
        scheduled_date: datetime | None,
        resend_existing: bool = False,
    ) -> object: ...


class EmailCanceller(Protocol):
    def __call__(self, *, notification_ids: list[int]) -> object: ...


@dataclass(frozen=True)
class EmailRetry:
    """A notification waiting after a temporary failure: its next attempt, which one, and the last one."""

    next_attempt_at: datetime
    attempt: int
    gives_up_at: datetime


class EmailRetryLookup(Protocol):
    def __call__(self, *, notification_ids: list[int]) -> dict[int, EmailRetry]: ...


_email_notifier: EmailNotifier | None = None
_email_canceller: EmailCanceller | None = None
_email_retry_lookup: EmailRetryLookup | None = None


def register_email_notifier(notifier: EmailNotifier) -> None:
    global _email_notifier
    _email_notifier = notifier


def get_email_notifier() -> EmailNotifier:
    if _email_notifier is None:
        raise RuntimeError("No e-mail notifier registered: is 'mailqueue' in INSTALLED_APPS?")
    return _email_notifier


def register_email_canceller(canceller: EmailCanceller) -> None:
    """The queue's side of the resend dialog: it takes failed deliveries off its rows.

    Called with failed e-mail notifications the dialog is about to cancel or resend, before their
    status changes, so no queue row keeps anything it could send them later.
    """
    global _email_canceller
    _email_canceller = canceller


def get_email_canceller() -> EmailCanceller:
    if _email_canceller is None:
        raise RuntimeError("No e-mail canceller registered: is 'mailqueue' in INSTALLED_APPS?")
    return _email_canceller


@dataclass(frozen=True)
class BounceNotice:
    """What the bounce notice of one failed e-mail notification says, for its failure details."""

    explained: bool  # a reason could be read from it (False: "no error populated")
    excerpt: str  # its human-readable text, bounded (shown escaped)
    inbound_id: int | None  # the notice as received, for its .eml


class BounceNoticeReader(Protocol):
    def __call__(self, *, notification_id: int) -> BounceNotice | None: ...


_bounce_notice_reader: BounceNoticeReader | None = None


def register_bounce_notice_reader(reader: BounceNoticeReader) -> None:
    """The bounce gateway's side of "See Error Details": the notice that failed a notification."""
    global _bounce_notice_reader
    _bounce_notice_reader = reader


def bounce_notice_read(*, notification_id: int) -> BounceNotice | None:
    """The bounce notice of a notification, or None (none arrived, or no bounce gateway installed)."""
    if _bounce_notice_reader is None:
        return None
    return _bounce_notice_reader(notification_id=notification_id)


def register_email_retry_lookup(lookup: EmailRetryLookup) -> None:
    """The queue's side of the envelope: when a notification that failed temporarily is tried again."""
    global _email_retry_lookup
    _email_retry_lookup = lookup


def get_email_retry_lookup() -> EmailRetryLookup:
    if _email_retry_lookup is None:
        raise RuntimeError("No e-mail retry lookup registered: is 'mailqueue' in INSTALLED_APPS?")
    return _email_retry_lookup
