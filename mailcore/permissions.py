"""Who may open what: the one staff-only decorator of the web UI."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase

View = Callable[..., HttpResponseBase]

STAFF_ONLY_MESSAGE = "Only administrators can open the technical settings."


def staff_required(view: View) -> View:
    """Odoo's Technical menu audience: anonymous visitors go to the login page, logged-in users
    who are not staff get 403 with a sentence that says why."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            raise PermissionDenied(STAFF_ONLY_MESSAGE)
        return view(request, *args, **kwargs)

    return wrapper
