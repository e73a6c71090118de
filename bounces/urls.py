"""Web UI routes of the bounces app."""

from django.urls import path  # noqa: F401

app_name = "bounces"
urlpatterns: list = []
