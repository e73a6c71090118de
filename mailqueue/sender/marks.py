"""Each recipient's "sent" mark, written the moment the server accepted its message.

A mark sets the recipient ``sent`` and adds its delivery-log entry, in one commit of its own (no
transaction is open while sending). :func:`write_mark` does it with two statements on any
database and returns once it is committed. On PostgreSQL :class:`SentMarks` sends the same as
one prepared statement and goes on without waiting for the answer, which it reads before the
next mark, before any other query on the connection, and at the end of every row: with
synchronous commits the wait for the disk overlaps the next SMTP exchange instead of adding
to it. Tests compare the two.

A crash of the worker still never resends to a recipient already marked: the statement has left
when :meth:`SentMarks.write` returns, and PostgreSQL executes and commits a statement it has
received even if the client is gone by then (only its answer is lost). What changes is a crash
of the database server itself: a mark whose answer is not read yet may not be on disk, so the
recipients served since the last answer (at most two per worker instead of one) could be sent
again.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import select
import weakref
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, connection, transaction

from mailqueue.models import DeliveryLog, MailRecipient
from mailqueue.sender.bookkeeping import LOG_FIELDS

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg.pq.abc import PGconn

logger = logging.getLogger(__name__)

# A mark's values, in order: these fields of the recipient, its id, then the log's LOG_FIELDS.
MARK_FIELDS = ("state", "smtp_response", "sent_at")
_LOG_START = len(MARK_FIELDS) + 1
_STATEMENT = "mailqueue_sent_mark"
# The connections on which the statement is prepared (a new connection prepares it again).
_prepared: weakref.WeakSet[Connection[Any]] = weakref.WeakSet()


def _columns() -> tuple[str, str, list[Any], list[Any]]:
    quote = connection.ops.quote_name
    return (
        quote(MailRecipient._meta.db_table),
        quote(DeliveryLog._meta.db_table),
        [MailRecipient._meta.get_field(name) for name in MARK_FIELDS],
        [DeliveryLog._meta.get_field(name) for name in LOG_FIELDS],
    )


@functools.cache
def _portable_sql() -> tuple[str, str]:
    """(mark, log): the two statements of :func:`write_mark`."""
    quote = connection.ops.quote_name
    table, log_table, fields, log_fields = _columns()
    sets = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    mark = f"UPDATE {table} SET {sets}, {quote('failure_type')} = '', {quote('failure_reason')} = '' WHERE id = %s"
    log_columns = ", ".join(quote(f.column) for f in log_fields)
    log = f"INSERT INTO {log_table} ({log_columns}) VALUES ({', '.join('%s' for _ in log_fields)})"
    return mark, log


@functools.cache
def _postgresql_sql() -> str:
    """The mark and its log as one statement (the INSERT reads the UPDATE's result).

    Numbered, typed parameters: in INSERT … SELECT an untyped parameter would be taken for text.
    """
    quote = connection.ops.quote_name
    table, log_table, fields, log_fields = _columns()
    sets = ", ".join(f"{quote(f.column)} = ${n}::{f.cast_db_type(connection)}" for n, f in enumerate(fields, 1))
    values = ", ".join(f"${n}::{f.cast_db_type(connection)}" for n, f in enumerate(log_fields, _LOG_START + 1))
    mark = (
        f"UPDATE {table} SET {sets}, {quote('failure_type')} = '', {quote('failure_reason')} = '' "
        f"WHERE id = ${_LOG_START}::bigint RETURNING 1"
    )
    log_columns = ", ".join(quote(f.column) for f in log_fields)
    return f"WITH marked AS ({mark}) INSERT INTO {log_table} ({log_columns}) SELECT {values} FROM marked"


def write_mark(mark: Sequence[Any]) -> None:
    """Write one mark on any database; committed when this returns (see the module's docstring)."""
    mark_sql, log_sql = _portable_sql()
    values = [connection.ops.adapt_datetimefield_value(v) if isinstance(v, dt.datetime) else v for v in mark]
    with transaction.atomic(), connection.cursor() as cursor:
        if cursor.execute(mark_sql, values[:_LOG_START]).rowcount:
            cursor.execute(log_sql, values[_LOG_START:])


def _text(value: object) -> bytes | None:
    """A parameter in PostgreSQL's text format; ``bytes`` go in binary format, as they are."""
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, dt.datetime):
        return value.isoformat().encode()  # aware: ISO 8601 with its offset
    return str(value).encode()


def _wait(pgconn: PGconn, events: int) -> int:
    poller = select.poll()
    poller.register(pgconn.socket, events)
    return next((mask for _fd, mask in poller.poll()), 0)


class SentMarks:
    """The marks of one group of rows: a context manager around the group.

    While it is open, any other query on Django's connection first reads the answer awaited;
    leaving reads it too.
    """

    def __init__(self) -> None:
        self._awaited: PGconn | None = None
        self._awaited_mark: Sequence[Any] = ()

    def __enter__(self) -> SentMarks:
        self._wrapper = connection.execute_wrapper(self._before_query)
        self._wrapper.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._wrapper.__exit__(exc_type, exc, tb)
        if exc is None:
            self.confirm()
            return
        try:
            self.confirm()
        except DatabaseError:  # the error already on its way out says more
            logger.warning("A sent mark could not be confirmed", exc_info=True)

    def _before_query(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.confirm()
        return execute(sql, params, many, context)

    def write(self, mark: Sequence[Any]) -> None:
        """Mark one recipient ``sent`` with its log entry; ``mark``: the values, in :data:`MARK_FIELDS` order."""
        self.confirm()
        if connection.vendor != "postgresql":
            write_mark(mark)
            return
        connection.ensure_connection()
        raw = connection.connection
        assert raw is not None
        if raw not in _prepared:
            with connection.cursor() as cursor:
                # A server told to check for gone clients while it runs a statement would cancel
                # the mark of a worker that died after sending it: not on this session.
                cursor.execute("SET client_connection_check_interval = 0")
                cursor.execute(f"PREPARE {_STATEMENT} AS {_postgresql_sql()}")
            _prepared.add(raw)
        pgconn = raw.pgconn
        with connection.wrap_database_errors:
            pgconn.send_query_prepared(
                _STATEMENT.encode(),
                [_text(value) for value in mark],
                param_formats=[1 if isinstance(value, bytes) else 0 for value in mark],
            )
            self._awaited, self._awaited_mark = pgconn, mark
            # The connection is nonblocking: push the whole statement out before going on.
            while pgconn.flush():
                if _wait(pgconn, select.POLLIN | select.POLLOUT) & select.POLLIN:
                    pgconn.consume_input()

    def confirm(self) -> None:
        """Read the answer to the last mark written; raises the database's error if it failed."""
        pgconn, self._awaited = self._awaited, None
        if pgconn is None:
            return
        from psycopg import errors, pq

        raw = connection.connection
        error = None
        with connection.wrap_database_errors:
            while True:
                while pgconn.is_busy():
                    _wait(pgconn, select.POLLIN)
                    pgconn.consume_input()
                result = pgconn.get_result()
                if result is None:
                    break
                if result.status == pq.ExecStatus.FATAL_ERROR and error is None:
                    error = errors.error_from_result(result, encoding=raw.info.encoding if raw else "utf-8")
        if isinstance(error, errors.InvalidSqlStatementName) and raw is not None:
            # The statement is gone (DEALLOCATE ALL or DISCARD ALL on this connection): the mark
            # never ran; prepare the statement again and write the mark once more.
            _prepared.discard(raw)
            self.write(self._awaited_mark)
            self.confirm()
        elif error is not None:
            with connection.wrap_database_errors:
                raise error
