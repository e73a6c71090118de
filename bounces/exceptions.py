"""Errors of the inbound gateway, routing and bounce handling."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured


class BouncesError(Exception):
    """Root of every error raised by the bounces app."""


class GatewayConfigurationError(BouncesError, ImproperlyConfigured):
    """The gateway cannot start as configured (TLS files missing, bad port…)."""


class RoutingError(BouncesError, ValueError):
    """Odoo's "No possible route found for incoming message …" and friends."""


class InboundProcessingError(BouncesError):
    """Processing a stored inbound message failed; the row keeps the text in ``error``."""

    def __init__(self, message: str, *, inbound_id: int | None = None) -> None:
        super().__init__(message)
        self.inbound_id = inbound_id
