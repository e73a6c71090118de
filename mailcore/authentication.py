"""Password checks with a brake: the login page and the API's HTTP Basic authentication.

Failed checks are counted per (username, client address) in the cache. Once a pair reaches
``MAILCORE_LOGIN_FAILURE_LIMIT`` failures within ``MAILCORE_LOGIN_FAILURE_WINDOW`` seconds, its
next attempts are refused without checking the password until the window has passed, so a
password cannot be guessed at the speed of the server. Counting per pair (not per address)
keeps users behind one proxy from locking each other out; a success clears the pair.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils.translation import ngettext
from drf_spectacular.authentication import BasicScheme
from rest_framework import authentication, exceptions, throttling
from rest_framework.request import Request

from mailcore import conf


def _keys(username: str, address: str) -> tuple[str, str]:
    digest = hashlib.sha256(f"{username.strip().lower()}\x00{address}".encode()).hexdigest()
    return f"mailcore:login-failures:{digest}", f"mailcore:login-failures-until:{digest}"


def client_address(request: HttpRequest | Request | None) -> str:
    """The address the request came from, as the web server saw it."""
    return str(request.META.get("REMOTE_ADDR", "")) if request is not None else ""


def login_retry_after(*, username: str, address: str) -> int:
    """Seconds until (username, address) may try a password again; 0 when it may now."""
    count_key, until_key = _keys(username, address)
    if int(cache.get(count_key, 0)) < conf.login_failure_limit():
        return 0
    until = float(cache.get(until_key, 0))
    return max(1, math.ceil(until - time.time()))


def login_failure_record(*, username: str, address: str) -> None:
    """Count one failed password check of (username, address); the window starts at the first."""
    count_key, until_key = _keys(username, address)
    window = conf.login_failure_window_seconds()
    cache.add(until_key, time.time() + window, window)
    cache.add(count_key, 0, window)
    try:
        cache.incr(count_key)
    except ValueError:  # expired between add() and incr()
        cache.set(count_key, 1, window)


def login_failures_clear(*, username: str, address: str) -> None:
    cache.delete_many(list(_keys(username, address)))


def throttled_message(wait: int) -> str:
    minutes = math.ceil(wait / 60)
    return ngettext(
        "Too many failed logins for this user from your address. Try again in %(count)d minute.",
        "Too many failed logins for this user from your address. Try again in %(count)d minutes.",
        minutes,
    ) % {"count": minutes}


class ThrottledAuthenticationForm(AuthenticationForm):
    """Django's login form, refusing a throttled (username, address) before checking the password."""

    def clean(self) -> dict[str, Any]:
        username = str(self.cleaned_data.get("username") or "")
        address = client_address(self.request)
        wait = login_retry_after(username=username, address=address)
        if wait:
            raise ValidationError(throttled_message(wait), code="throttled")
        try:
            cleaned = super().clean()
        except ValidationError as exc:
            if username and getattr(exc, "code", None) == "invalid_login":
                login_failure_record(username=username, address=address)
            raise
        login_failures_clear(username=username, address=address)
        return cleaned


class ThrottledLoginView(LoginView):
    """The login page; a throttled attempt is answered 429 (Too Many Requests) with the form."""

    form_class = ThrottledAuthenticationForm

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_invalid(form)
        if form.has_error(NON_FIELD_ERRORS, "throttled"):
            response.status_code = 429
        return response


class LoginThrottled(exceptions.Throttled):
    """429 with ``Retry-After`` and our message alone (DRF would append its own wording of the wait)."""

    def __init__(self, wait: int) -> None:
        super().__init__(detail=throttled_message(wait))
        self.wait = wait


class ThrottledBasicAuthentication(authentication.BasicAuthentication):
    """HTTP Basic authentication (RFC 7617) of the API with the same brake as the login page.

    A wrong password answers 401 with ``WWW-Authenticate: Basic``; a throttled pair answers 429
    with ``Retry-After`` and its password is not checked.
    """

    def authenticate_credentials(self, userid: str, password: str, request: Request | None = None) -> tuple[Any, None]:
        address = client_address(request)
        wait = login_retry_after(username=userid, address=address)
        if wait:
            raise LoginThrottled(wait)
        try:
            result = super().authenticate_credentials(userid, password, request)
        except exceptions.AuthenticationFailed:
            login_failure_record(username=userid, address=address)
            raise
        login_failures_clear(username=userid, address=address)
        return result


class UserRateThrottle(throttling.UserRateThrottle):
    """DRF's per-user request rate, read from the settings at each request (DRF reads them once)."""

    def get_rate(self) -> str | None:
        rates = dict(getattr(settings, "REST_FRAMEWORK", {}).get("DEFAULT_THROTTLE_RATES", {}))
        rate = rates.get(str(self.scope))
        return str(rate) if rate else None


class ThrottledBasicScheme(BasicScheme):
    """Documents ThrottledBasicAuthentication in the OpenAPI schema as plain HTTP Basic."""

    target_class = "mailcore.authentication.ThrottledBasicAuthentication"
