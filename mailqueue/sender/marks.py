"""Writing a recipient's "sent" mark and its delivery-log entry the moment the server said 250.

This is what prevents a resend after a crash, and the hottest write of the sender: one per
message. With synchronous commits each one waits for PostgreSQL to flush its WAL to disk, which
took most of a worker's time when the sender waited for it. So on PostgreSQL the marks go through
a connection of their own, with libpq's asynchronous calls: a mark is *sent* before the next
message's content leaves (the server commits it even if this process dies right after), and its
result is read when the next mark is sent, one message later, so the disk flush overlaps the next
SMTP transaction instead of adding to it. At most one mark is unconfirmed at any time, and
:meth:`MarkWriter.wait` confirms it before the row's bookkeeping.

Inside a transaction (tests) and on SQLite the mark and log are written by Django's connection
and waited for: the same two statements, in one transaction.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import select
from collections.abc import Iterator
from typing import Any

import psycopg
from django.db import DatabaseError, connection, transaction

from mailqueue import conf
from mailqueue.models import DeliveryLog, MailRecipient

LOG_FIELDS = (
    "mail_id_ref",
    "recipient_ref",
    "notification",
    "chatter_message",
    "message_id",
    "recipient",
    "server",
    "smtp_response",
    "success",
    "date",
    "content",
    "recipient_lines",
)
_STATEMENT = "mailqueue_mark_sent"


@functools.cache
def _statements(vendor: str) -> tuple[str, str]:
    """(mark, log) with ``%s`` placeholders; on PostgreSQL one statement (the log reads the mark's result)."""
    quote = connection.ops.quote_name
    columns = ", ".join(
        f"{quote(name)} = {value}"
        for name, value in [("state", "%s"), ("smtp_response", "%s"), ("sent_at", "%s"), ("failure_type", "''"),
                            ("failure_reason", "''")]
    )  # fmt: skip
    mark = f"UPDATE {quote(MailRecipient._meta.db_table)} SET {columns} WHERE {quote('id')} = %s"
    fields = [DeliveryLog._meta.get_field(name) for name in LOG_FIELDS]
    log_columns = ", ".join(quote(str(f.column)) for f in fields)  # type: ignore[union-attr]
    log_table = quote(DeliveryLog._meta.db_table)
    if vendor == "postgresql":
        # Typed placeholders: parameters are sent as text, and INSERT … SELECT would take them for text.
        values = ", ".join(f"%s::{f.cast_db_type(connection)}" for f in fields)  # type: ignore[union-attr]
        insert = f"INSERT INTO {log_table} ({log_columns}) SELECT {values} FROM marked"
        return f"WITH marked AS ({mark} RETURNING 1) {insert}", ""
    values = ", ".join("%s" for _ in fields)
    return mark, f"INSERT INTO {log_table} ({log_columns}) VALUES ({values})"


def _text(value: object) -> bytes | None:
    """A parameter in PostgreSQL's text format (the statement casts each to its column's type)."""
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, dt.datetime):
        return value.isoformat().encode()
    return str(value).encode()


class MarkWriter:
    """A connection of its own for marks, written without waiting for their commit."""

    def __init__(self) -> None:
        params: dict[str, Any] = connection.get_connection_params()
        self.conn = psycopg.connect(**params, autocommit=True)
        if conf.asynchronous_commit():
            self.conn.execute("SET synchronous_commit TO off")
        # The log insert is the same statement, so the two are committed together.
        sql = _statements("postgresql")[0]
        self.conn.pgconn.prepare(_STATEMENT.encode(), _numbered(sql).encode())
        self.pending = False

    def write(self, params: list[object]) -> None:
        """Send one mark; first read the previous one's result (raises if it failed)."""
        self.wait()
        formats = [1 if isinstance(value, bytes) else 0 for value in params]  # bytea travels as binary
        self.conn.pgconn.send_query_prepared(_STATEMENT.encode(), [_text(v) for v in params], formats)
        self.pending = True

    def wait(self) -> None:
        """Read the last mark's result: after this every mark sent so far is committed."""
        if not self.pending:
            return
        self.pending = False
        pgconn = self.conn.pgconn
        pgconn.consume_input()
        while pgconn.is_busy():
            select.select([pgconn.socket], [], [])
            pgconn.consume_input()
        error = ""
        while (result := pgconn.get_result()) is not None:
            if result.status != psycopg.pq.ExecStatus.COMMAND_OK:
                error = result.error_message.decode(errors="replace")
        if error:
            raise DatabaseError(f"could not mark a recipient sent: {error}")

    def close(self) -> None:
        self.conn.close()


def _numbered(sql: str) -> str:
    """``%s`` placeholders as libpq's ``$1, $2…``."""
    parts = sql.split("%s")
    return "".join(f"{part}${index}" for index, part in enumerate(parts[:-1], start=1)) + parts[-1]


@contextlib.contextmanager
def mark_writer() -> Iterator[MarkWriter | None]:
    """A writer for one send run on PostgreSQL outside a transaction, else None (Django's connection).

    Its connection lives as long as the run: opened once per batch of rows, closed at the end
    after every mark is confirmed (or dropped with the run on an error).
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield None
        return
    writer = MarkWriter()
    try:
        yield writer
        writer.wait()
    finally:
        writer.close()


def mark_sent(params: list[object], writer: MarkWriter | None) -> None:
    """Mark recipient ``params[3]`` sent and log it; ``params`` are the mark's four, then the log's."""
    if writer is not None:
        writer.write(params)
        return
    mark_sql, log_sql = _statements(connection.vendor)
    adapted: list[Any] = [
        connection.ops.adapt_datetimefield_value(v) if isinstance(v, dt.datetime) else v for v in params
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        if log_sql:
            cursor.execute(mark_sql, adapted[:4])
            cursor.execute(log_sql, adapted[4:])
        else:
            cursor.execute(mark_sql, adapted)
