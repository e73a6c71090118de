"""The gateway's hot-path queries on PostgreSQL: prepared, planned on every run, the ORM untouched."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection, transaction
from django.test import override_settings

from bounces.selectors import messages_lookup_many
from tests.services import require_postgres

# No wrapping transaction: the tests open their own server session.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fresh_connection() -> Iterator[None]:
    """A new server session, set up (or not) for this test's settings."""
    require_postgres()
    connection.close()
    yield
    connection.close()


def _prepared() -> dict[str, tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
        return {statement: (generic, custom) for statement, generic, custom in cursor.fetchall()}


def _lookup(i: int) -> None:
    messages_lookup_many(
        ids=[f"<hot-{i}@example.com>"],
        inbound_message_ids=[f"<hot-{i}@example.com>"],
        senders=[f"sender{i}@example.com"],
        loop_minutes=120,
    )


def test_lookup_is_prepared_and_planned_on_every_run(fresh_connection: None) -> None:
    # More runs than PostgreSQL's five custom plans, after which it would keep a generic one.
    for i in range(8):
        _lookup(i)
    # A statement that does not ask stays unprepared, however often it runs, even with
    # server-side binding (Django's own client-side cursors never prepare).
    with psycopg.Cursor(connection.connection) as cursor:
        for _ in range(8):
            cursor.execute("SELECT COUNT(*) FROM chatter_message WHERE message_id = %s", ["<orm@example.com>"])

    prepared = _prepared()
    lookups = {s: plans for s, plans in prepared.items() if "inboundmessage" in s and "GROUP BY" in s}
    assert len(lookups) == 1, prepared
    generic, custom = next(iter(lookups.values()))
    assert (generic, custom) == (0, 8)
    assert not [s for s in prepared if "chatter_message WHERE" in s], prepared
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone() == ("force_custom_plan",)


@override_settings(MAILCORE_GATEWAY_PREPARED_STATEMENTS=0)
def test_prepared_statements_can_be_turned_off(fresh_connection: None) -> None:
    """Behind a pooler in transaction mode a prepared statement may meet another session."""
    for i in range(8):
        _lookup(i)
    assert not [s for s in _prepared() if "inboundmessage" in s], _prepared()
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone() == ("auto",)


def test_a_first_lookup_inside_a_transaction_waits_for_autocommit(fresh_connection: None) -> None:
    """A rollback would undo the setting while the connection believed it made: it is made later."""
    with transaction.atomic():
        _lookup(1)
        assert not [s for s in _prepared() if "inboundmessage" in s]
        transaction.set_rollback(True)
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone() == ("auto",)
    _lookup(2)
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone() == ("force_custom_plan",)
    assert [s for s in _prepared() if "inboundmessage" in s]
