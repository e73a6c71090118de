"""JSON API routes (Django REST Framework)."""

urlpatterns: list = []
