"""Web UI routes of the chatter app."""

from django.urls import path  # noqa: F401

app_name = "chatter"
urlpatterns: list = []
