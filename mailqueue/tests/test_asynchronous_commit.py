"""``MAILQUEUE_ASYNCHRONOUS_COMMIT`` from the environment to the sender's PostgreSQL connection."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection

from mailqueue.sender.claim import asynchronous_commits
from tests.services import require_postgres

BASE_SETTINGS = Path(django_settings.BASE_DIR) / "config" / "settings" / "base.py"


def _from_environment(monkeypatch: pytest.MonkeyPatch, value: str | None) -> object:
    """The setting as ``config/settings/base.py`` reads it with the variable set to ``value``."""
    if value is None:
        monkeypatch.delenv("MAILQUEUE_ASYNCHRONOUS_COMMIT", raising=False)
    else:
        monkeypatch.setenv("MAILQUEUE_ASYNCHRONOUS_COMMIT", value)
    return runpy.run_path(str(BASE_SETTINGS))["MAILQUEUE_ASYNCHRONOUS_COMMIT"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, True), ("1", True), ("true", True), ("0", False), ("false", False), ("False", False), ("off", False)],
)
def test_the_environment_variable_is_read(monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool) -> None:
    assert _from_environment(monkeypatch, value) is expected


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return str(cursor.fetchone()[0])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # outside a transaction, as the sender runs
@pytest.mark.parametrize(("value", "asynchronous"), [("0", False), ("false", False), ("1", True)])
def test_the_setting_reaches_the_senders_connection(
    monkeypatch: pytest.MonkeyPatch, settings: Any, value: str, asynchronous: bool
) -> None:
    require_postgres()
    settings.MAILQUEUE_ASYNCHRONOUS_COMMIT = _from_environment(monkeypatch, value)
    server_default = _synchronous_commit()
    assert server_default != "off"
    with asynchronous_commits():
        assert _synchronous_commit() == ("off" if asynchronous else server_default)
    assert _synchronous_commit() == server_default
