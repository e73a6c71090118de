"""Errors raised by chatter services."""

from __future__ import annotations


class ChatterError(Exception):
    """Root of every chatter error."""


class MessagePostError(ChatterError, ValueError):
    """A message cannot be posted as asked."""


class UnknownSubtypeError(ChatterError, LookupError):
    """No subtype has the given code."""


class NotificationStatusError(ChatterError, ValueError):
    """A notification status write asked for something that does not exist or cannot hold."""


class InvalidLanguageError(ChatterError, ValueError):
    """A language that is not one of the product's (``LANGUAGES``)."""


class InvalidTimeZoneError(ChatterError, ValueError):
    """A time zone name the IANA database does not know."""
