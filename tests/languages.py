"""Test helpers for pages in a user's language (the apps' tests/test_languages.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from asgiref.local import Local
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils.translation import trans_real

from chatter.ui_services import partner_for_user
from mailcore.models import Partner


def compile_catalogues(locale: Path) -> None:
    """Build an app's stale or missing .mo files (they are never committed: ``make compilemessages``)."""
    built = False
    for po in locale.glob("*/LC_MESSAGES/django.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            subprocess.run(["msgfmt", "--check", "-o", str(mo), str(po)], check=True)
            built = True
    if built:
        # A language already loaded in this process keeps the catalogues it read: load them again
        # (as Django's own tests do when LOCALE_PATHS changes, django.test.signals.language_changed).
        trans_real._default = None
        trans_real._active = Local()
        trans_real._translations = {}
        trans_real.translation_catalog_exists.cache_clear()


def staff_client_in(lang: str) -> Client:
    """A staff user whose language (kept on the contact, as Odoo does) is ``lang``."""
    user = get_user_model().objects.create_user(f"staff-{lang}", password="pw", is_staff=True)
    Partner.objects.filter(pk=partner_for_user(user).pk).update(lang=lang)
    client = Client(HTTP_ACCEPT_LANGUAGE=lang)
    client.force_login(user)
    return client
