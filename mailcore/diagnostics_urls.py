"""Routes of the e-mail diagnostics pages (included at /diagnostics/)."""

from django.urls import path

from mailcore import diagnostics_views as views

app_name = "diagnostics"
urlpatterns = [
    path("", views.diagnostics_index, name="index"),
    path("support/", views.support_bundle_lookup, name="support_lookup"),
    path("support/<int:mail_id>/", views.support_bundle_download, name="support_bundle"),
]
