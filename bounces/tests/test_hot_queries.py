"""The gateway's hot-path queries on PostgreSQL: prepared and planned once in the door, with index
plans whatever the statistics; elsewhere ordinary statements on a connection left as it was."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection, transaction
from django.test import override_settings

from bounces.selectors import door_session, messages_lookup_many
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


def _prepared() -> dict[str, tuple[str, int, int]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, statement, generic_plans, custom_plans FROM pg_prepared_statements")
        return {statement: (name, generic, custom) for name, statement, generic, custom in cursor.fetchall()}


def _lookup_statement() -> tuple[str, int, int]:
    lookups = [v for s, v in _prepared().items() if "inboundmessage" in s and "GROUP BY" in s]
    assert len(lookups) == 1, _prepared()
    return lookups[0]


def _show(setting: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {setting}")
        row = cursor.fetchone()
        assert row is not None
        return str(row[0])


def _lookup(i: int) -> None:
    messages_lookup_many(
        ids=[f"<hot-{i}@example.com>"],
        inbound_message_ids=[f"<hot-{i}@example.com>"],
        senders=[f"sender{i}@example.com"],
        loop_minutes=120,
    )


def test_in_the_door_the_lookup_is_prepared_and_planned_once(fresh_connection: None) -> None:
    with door_session():
        for i in range(8):
            _lookup(i)
        # A statement that does not ask stays unprepared, however often it runs, even with
        # server-side binding (Django's own client-side cursors never prepare).
        with psycopg.Cursor(connection.connection) as cursor:
            for _ in range(8):
                cursor.execute("SELECT COUNT(*) FROM chatter_message WHERE message_id = %s", ["<orm@example.com>"])

    _name, generic, custom = _lookup_statement()
    assert (generic, custom) == (8, 0)
    assert not [s for s in _prepared() if "chatter_message WHERE" in s], _prepared()
    assert (_show("plan_cache_mode"), _show("enable_seqscan")) == ("force_generic_plan", "off")


def test_a_plan_made_on_an_empty_table_still_uses_the_indexes(fresh_connection: None) -> None:
    """The plan is made once, here while the tables are empty and never analysed: a planner left
    to the statistics picks sequential scans then, and keeps them while the table grows."""
    with door_session():
        _lookup(0)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bounces_inboundmessage (queue_id, received_at, peer, helo, mail_from, rcpt_tos, size, raw, "
            "message_id, subject, email_from, sender_email, is_auto_submitted, decision, reason, smtp_reply, routes, "
            "loop_target, state, error, attempt_count) "
            "SELECT 'Q' || g, now(), '', '', '', '[]', 1, 'x', '<m' || g || '@x>', '', '', 's' || (g % 50) || '@x', "
            "false, 'accepted', '', '', '[]', 't', 'done', '', 0 FROM generate_series(1, 5000) g"
        )
        name, _generic, _custom = _lookup_statement()
        cursor.execute(
            f"EXPLAIN EXECUTE {name}(%s, %s, %s, now())",
            [["<m1@x>"], ["<m1@x>"], ["s1@x"]],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Seq Scan" not in plan, plan
    assert "inbound_message_id_idx" in plan and "inbound_loop_idx" in plan, plan


def test_outside_the_door_nothing_is_prepared_nor_set(fresh_connection: None) -> None:
    """The web app and the worker run the same lookup as an ordinary statement."""
    for i in range(8):
        _lookup(i)
    assert not [s for s in _prepared() if "inboundmessage" in s], _prepared()
    assert (_show("plan_cache_mode"), _show("enable_seqscan")) == ("auto", "on")


@override_settings(MAILCORE_GATEWAY_PREPARED_STATEMENTS=0)
def test_prepared_statements_can_be_turned_off(fresh_connection: None) -> None:
    """Behind a pooler in transaction mode a prepared statement may meet another session."""
    with door_session():
        for i in range(8):
            _lookup(i)
    assert not [s for s in _prepared() if "inboundmessage" in s], _prepared()
    assert _show("plan_cache_mode") == "auto"


def test_a_first_lookup_inside_a_transaction_waits_for_autocommit(fresh_connection: None) -> None:
    """A rollback would undo the setting while the connection believed it made: it is made later."""
    with door_session():
        with transaction.atomic():
            _lookup(1)
            assert not [s for s in _prepared() if "inboundmessage" in s]
            transaction.set_rollback(True)
        assert _show("plan_cache_mode") == "auto"
        _lookup(2)
    assert _show("plan_cache_mode") == "force_generic_plan"
    assert [s for s in _prepared() if "inboundmessage" in s]


def test_raw_messages_are_compressed_with_lz4(fresh_connection: None) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
        row = cursor.fetchone()
        if not row or "lz4" not in (row[0] or []):
            pytest.skip("this PostgreSQL is built without lz4")
        cursor.execute(
            "SELECT attcompression FROM pg_attribute "
            "WHERE attrelid = 'bounces_inboundmessage'::regclass AND attname = 'raw'"
        )
        assert cursor.fetchone() == ("l",)
