"""Web UI routes of the mailcore app."""

from django.urls import path  # noqa: F401

app_name = "mailcore"
urlpatterns: list = []
