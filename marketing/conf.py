"""Settings of the marketing app, with their defaults (read them only through these getters)."""

from __future__ import annotations

from django.conf import settings


def import_max_rows() -> int:
    """Data lines one contact import may hold; a larger file is refused whole, with the reason."""
    return int(getattr(settings, "MARKETING_IMPORT_MAX_ROWS", 50_000))
