"""The gateway's hot-path queries on PostgreSQL: ordinary statements on a connection left as Django
made it (no planner setting, nothing prepared), whose plans use the indexes on a table of
realistic size once it is analysed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection

from bounces import selectors
from bounces.selectors import messages_lookup_many
from tests.services import require_postgres

# No wrapping transaction: the tests open their own server session.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fresh_connection() -> Iterator[None]:
    """A new server session."""
    require_postgres()
    connection.close()
    yield
    connection.close()


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


def test_the_lookup_leaves_the_session_as_django_made_it(fresh_connection: None) -> None:
    """Nothing prepared, no planner setting changed for the rest of the session."""
    for i in range(8):
        _lookup(i)
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        assert cursor.fetchall() == []
    assert (_show("plan_cache_mode"), _show("enable_seqscan")) == ("auto", "on")


def test_on_an_analysed_table_of_realistic_size_the_lookup_uses_the_indexes(
    fresh_connection: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """50,000 stored messages from 500 senders, analysed: the lookup by Message-ID and the loop
    counter read through their indexes, not through the whole table."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bounces_inboundmessage (queue_id, received_at, peer, helo, mail_from, rcpt_tos, size, raw, "
            "message_id, subject, email_from, sender_email, is_auto_submitted, decision, reason, smtp_reply, routes, "
            "loop_target, state, error, attempt_count) "
            "SELECT 'Q' || g, now() - (g || ' minutes')::interval, '', '', '', '[]', 1, 'x', '<m' || g || '@x>', '', "
            "'', 's' || (g % 500) || '@x', false, 'accepted', '', '', '[]', 't', 'done', '', 0 "
            "FROM generate_series(1, 50000) g"
        )
        cursor.execute("ANALYZE bounces_inboundmessage")
        cursor.execute("ANALYZE chatter_message")
    plans: list[str] = []
    real_rows = selectors._rows

    def explained(sql: str, params: list[object], *, native: bool = False) -> list[tuple[object, ...]]:
        plans.append("\n".join(str(row[0]) for row in real_rows("EXPLAIN " + sql, params)))
        return real_rows(sql, params, native=native)

    monkeypatch.setattr(selectors, "_rows", explained)
    messages_lookup_many(ids=["<m1@x>"], inbound_message_ids=["<m1@x>"], senders=["s1@x"], loop_minutes=120)
    (plan,) = plans
    assert "Seq Scan on bounces_inboundmessage" not in plan, plan
    assert "inbound_message_id_idx" in plan and "inbound_loop_idx" in plan, plan


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
