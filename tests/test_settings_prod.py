"""Production entry points and settings, each loaded in a fresh interpreter with a chosen
environment: which settings they pick when nothing is set, the secrets they refuse to start
without, HSTS, and the development-only sink viewer left unmounted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Variables that choose settings or carry secrets: removed so each case starts from nothing.
CLEARED = ("DJANGO_SETTINGS_MODULE", "DJANGO_SECRET_KEY", "DJANGO_DEBUG", "DJANGO_CACHE_URL")


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in CLEARED}
    # No log file from these throwaway processes; the database is never touched.
    environment.update({"MAILCORE_LOG_FILE": "", **env})
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


REPORT = (
    "import json; from django.conf import settings; "
    "print(json.dumps({'module': settings.SETTINGS_MODULE, 'debug': settings.DEBUG}))"
)


@pytest.mark.parametrize(
    "entry_point",
    [
        "import config.wsgi",
        "import config.asgi",
        "from config.celery_app import app; app.loader.import_default_modules()",
    ],
)
def test_production_entry_points_default_to_production_settings(entry_point: str) -> None:
    result = run(f"{entry_point}; {REPORT}", DJANGO_SECRET_KEY="s" * 50)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"module": "config.settings.prod", "debug": False}


def test_without_a_secret_key_production_refuses_to_start_and_says_why() -> None:
    result = run("import config.wsgi")
    assert result.returncode != 0
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY is not set." in result.stderr
    assert "config.settings.dev" in result.stderr  # the hint for local development


def test_manage_py_keeps_the_development_settings() -> None:
    """``make run`` starts everything through manage.py (run_all passes its settings on)."""
    result = run(f"import sys; sys.argv = ['manage.py', 'shell', '-c', {REPORT!r}]; import manage; manage.main()")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"module": "config.settings.dev", "debug": True}


def test_production_sends_hsts_and_does_not_mount_the_sink_viewer() -> None:
    code = """
import json
import django
django.setup()
from django.conf import settings
from django.test import Client
from django.urls import Resolver404, resolve, reverse, NoReverseMatch
try:
    # Without the sink, /sink/ falls through to the record list of an unknown type (a 404).
    mounted = resolve("/sink/").namespace == "sink"
except Resolver404:
    mounted = False
try:
    reverse("sink:list")
    reversible = True
except NoReverseMatch:
    reversible = False
response = Client().get("/login/", secure=True)
print(json.dumps({
    "mounted": mounted,
    "reversible": reversible,
    "hsts": response.headers.get("Strict-Transport-Security"),
    "csp": "Content-Security-Policy" in response.headers,
    "secure_cookies": settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE,
}))
"""
    result = run(
        code,
        DJANGO_SETTINGS_MODULE="config.settings.prod",
        DJANGO_SECRET_KEY="s" * 50,
        # /login/ renders without touching the database: an unused in-memory SQLite is enough.
        DATABASE_URL="sqlite://:memory:",
        DJANGO_ALLOWED_HOSTS="testserver",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "mounted": False,
        "reversible": False,
        "hsts": "max-age=31536000",
        "csp": True,
        "secure_cookies": True,
    }


def test_the_development_settings_mount_the_sink_viewer() -> None:
    code = "import django; django.setup(); from django.urls import resolve; print(resolve('/sink/').view_name)"
    result = run(code, DJANGO_SETTINGS_MODULE="config.settings.dev")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "sink:list"
