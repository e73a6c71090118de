"""Errors of the mail queue.

A delivery error is classified before anything touches the row: temporary ones
(4xx, connection loss, timeouts) retry with backoff, permanent ones (5xx, unusable addresses)
end in ``exception``. Each carries the Odoo failure type and the reason shown to users.
"""

from __future__ import annotations


class MailQueueError(Exception):
    """Root of every mail queue error."""


class MailDeliveryError(MailQueueError):
    """Odoo ``MailDeliveryException``: one message could not be handed to the SMTP server.

    ``failure_type`` is the Odoo failure type recorded when the failure is (or becomes) final;
    ``reason`` the text shown on the row and its notifications, in Odoo's form
    "Mail delivery failed via SMTP server 'HOST'.\\n<Exception>: <code> <text>".
    """

    temporary: bool = False

    def __init__(self, reason: str, *, failure_type: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.failure_type = failure_type


class TemporaryDeliveryError(MailDeliveryError):
    """Worth retrying later: a 4xx reply, a refused or lost connection, a timeout."""

    temporary = True


class PermanentDeliveryError(MailDeliveryError):
    """Retrying cannot help: a 5xx reply, an address that cannot be used, a missing From."""

    temporary = False


class EmlNotAvailable(MailQueueError, LookupError):
    """No .eml to give: nothing of the delivery is kept (or no longer), and it cannot be rendered."""
