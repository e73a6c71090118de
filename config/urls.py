"""Top-level routes. Each app owns its own ``urls.py``; the API lives under /api/."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/", include("config.api_urls")),
    path("queue/", include("mailqueue.urls")),
    path("settings/", include("mailcore.urls")),
    path("inbound/", include("bounces.urls")),
    path("marketing/", include("marketing.urls")),
    path("mailing/", include("marketing.public_urls")),
    path("sink/", include("mailcore.sink_urls")),
    path("", include("console.urls")),
    path("", include("chatter.urls")),
]
