"""Web UI routes of the mailqueue app."""

from django.urls import path  # noqa: F401

app_name = "mailqueue"
urlpatterns: list = []
