"""Errors of the mailcore app: outgoing server selection and connection, sender addresses, quota.

Leaves also subclass the built-in they mean, so callers can catch ``ValueError`` or
``ImproperlyConfigured`` without importing this module. Texts are Odoo's where Odoo has one
because operators search the web for them.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.utils.translation import gettext_noop

# Odoo ``NO_FOUND_FROM`` (ir_mail_server.py), with our setting names in place of Odoo's ICPs.
NO_FOUND_FROM = (
    "You must either provide a sender address explicitly or configure using the combination of "
    "`mail.catchall.domain` and `mail.default.from` ICPs, in the server configuration file or with the "
    "--email-from startup parameter."
)
# Odoo ``NO_VALID_FROM``.
NO_VALID_FROM = "Malformed 'Return-Path' or 'From' address. It should contain one valid plain ASCII email"
# Odoo ``connect`` without a host. Stored in English on failed mail; "Test Connection" shows it translated.
NO_SMTP_HOST = gettext_noop(
    "Missing SMTP Server\nPlease define at least one SMTP server, or provide the SMTP parameters explicitly."
)


class MailcoreError(Exception):
    """Root of every mailcore error."""


class MailFromError(MailcoreError, ValueError):
    """The sender address of an outgoing mail cannot be used."""

    failure_type = "unknown"


class MailFromMissingError(MailFromError):
    """No From on the mail and no alias domain to take a notifications address from."""

    failure_type = "mail_from_missing"

    def __init__(self, message: str = NO_FOUND_FROM) -> None:
        super().__init__(message)


class MailFromInvalidError(MailFromError):
    """The From cannot be turned into one plain ASCII address."""

    failure_type = "mail_from_invalid"

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__(f"{NO_VALID_FROM}\n{address}")


class SmtpServerError(MailcoreError):
    """An outgoing server cannot be used as configured."""


class SmtpServerMissingError(SmtpServerError, ImproperlyConfigured):
    """Neither a MailServer nor the built-in settings give an SMTP host (Odoo's "Missing SMTP Server")."""

    def __init__(self, message: str = NO_SMTP_HOST) -> None:
        super().__init__(message)


class InvalidEmailError(MailcoreError, ValueError):
    """A contact's address that is not one valid e-mail address (or is missing where required)."""

    def __init__(self, message: str, *, email: str) -> None:
        self.email = email
        super().__init__(message)


class QuotaConfigError(MailcoreError, ImproperlyConfigured):
    """The daily-quota settings cannot be turned into a limit (unknown plan, negative number)."""


class InvalidQueryParameter(MailcoreError, SuspiciousOperation):
    """A query-string parameter that cannot be used; Django answers 400 (Bad Request) to it."""

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        super().__init__(message)
