"""Site-wide response headers that Django 5.2 has no setting for."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


def content_security_policy() -> str:
    """The ``Content-Security-Policy`` header value built from ``MAILCORE_CONTENT_SECURITY_POLICY``."""
    directives: dict[str, list[str]] = settings.MAILCORE_CONTENT_SECURITY_POLICY
    return "; ".join(f"{name} {' '.join(sources)}".strip() for name, sources in directives.items())


class ContentSecurityPolicyMiddleware:
    """Send the Content-Security-Policy on every response that does not set its own.

    Even if some HTML slips through the sanitiser, the browser then runs no inline or foreign
    script, loads no plugin and lets no other site frame the page.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = content_security_policy()
        return response
