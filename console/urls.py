"""Routes of the app on top: the developer-mode switch and the e-mail diagnostics pages."""

from django.urls import path

from console import views

app_name = "console"
urlpatterns = [
    path("developer-mode/", views.developer_mode_view, name="developer_mode"),
    path("diagnostics/", views.diagnostics_index, name="diagnostics"),
    path("diagnostics/support/", views.support_bundle_lookup, name="support_lookup"),
]
