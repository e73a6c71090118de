"""Top-level routes. Each app owns its own ``urls.py``; the API lives under /api/."""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, URLResolver, include, path

from mailcore.authentication import ThrottledLoginView
from mailcore.exceptions import InvalidQueryParameter

urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    path("login/", ThrottledLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: the login page's language switch
    path("api/", include("config.api_urls")),
    path("queue/", include("mailqueue.urls")),
    path("settings/", include("mailcore.urls")),
    path("inbound/", include("bounces.urls")),
    path("marketing/", include("marketing.urls")),
    path("mailing/", include("marketing.public_urls")),
    # The viewer of the local SMTP sink's captures: development only (off in production settings).
    *([path("sink/", include("mailcore.sink_urls"))] if settings.MAILCORE_SINK_ENABLED else []),
    path("", include("console.urls")),
    path("", include("chatter.urls")),
]


def bad_request(request: HttpRequest, exception: SuspiciousOperation | None = None) -> HttpResponse:
    """The 400 page; it says what was wrong when we raised the error (other messages stay private)."""
    reason = str(exception) if isinstance(exception, InvalidQueryParameter) else ""
    return render(request, "400.html", {"reason": reason}, status=400)


handler400 = bad_request
