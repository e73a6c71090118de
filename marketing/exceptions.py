"""Errors of the marketing app."""

from __future__ import annotations

from dataclasses import dataclass


class MarketingError(Exception):
    """Root of the marketing app's errors."""


@dataclass(frozen=True)
class ImportLineError:
    """One line of a contact import that cannot be taken, and why (line 1 is the header)."""

    line: int
    message: str


class ContactImportError(MarketingError, ValueError):
    """A contact import refused whole: nothing was written. ``errors`` says which lines and why."""

    def __init__(self, errors: list[ImportLineError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"line {e.line}: {e.message}" for e in errors))


class MailingNotReady(MarketingError, ValueError):
    """A campaign that cannot be sent as it is; ``errors`` says every reason."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__(" ".join(errors))


class AttachmentsTooLarge(MarketingError, ValueError):
    """Attachments refused because the campaign's would pass the size limit; none was added."""
