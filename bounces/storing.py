"""Where the end of DATA is decided, stored and committed: one thread of each gateway process.

It runs :func:`store_batch` with group commit: every message waiting when the thread comes round
is decided and stored in one batch (one lookup, one multi-row INSERT, one commit), then each
session gets its answer. Alone, a message is a batch of one; under load the per-message cost of
the database round trips shrinks instead of queueing up. Refusals of the SMTP dialogue are
written by the same thread, after the messages waiting with them. More cores: more gateway
processes on the port (``run_gateway --processes N``).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections

from bounces import services

logger = logging.getLogger(__name__)

# Messages stored in one batch at most (one multi-row INSERT).
MAX_BATCH = 64
Result = services.Reception | BaseException
OnStored = Callable[[list[int]], None]


def connection_check() -> None:
    """Drop a broken database connection before using it (the server restarted, say)."""
    # The thread's own wrapper, looked up once: each read through the proxy is a thread-local lookup.
    db = connections[DEFAULT_DB_ALIAS]
    if db.connection is not None and db.errors_occurred:
        if not db.is_usable():
            db.close()
        else:
            db.errors_occurred = False


def store_batch(items: list[services.Incoming]) -> list[Result]:
    """Decide on and store ``items`` in one commit; one result (or exception) per item, in order.

    A batch that fails is retried message by message, so one bad message cannot refuse the others.
    """
    try:
        connection_check()
        return list(services.inbound_receive_many(items))
    except Exception as exc:
        if len(items) == 1:
            return [exc]
    results: list[Result] = []
    for item in items:
        try:
            connection_check()
            results.append(services.inbound_receive_many([item])[0])
        except Exception as exc:
            results.append(exc)
    return results


def store_refusals(batches: list[services.RefusalBatch]) -> None:
    """Record the refusals that waited, in one commit; a failure is logged (the sender has its
    reply already, and the gateway's log keeps the command)."""
    if not batches:
        return
    batch = services.RefusalBatch([], {})
    for part in batches:
        batch.merge(part)
    try:
        connection_check()
        services.inbound_refusals_record(batch=batch)
    except Exception:
        logger.exception("Could not record %s refusals of the SMTP dialogue", len(batch.refusals))


def _waiting(results: list[Any]) -> list[int]:
    """The committed rows that wait for processing (the doorbell rings for them)."""
    return [r.inbound_id for r in results if isinstance(r, services.Reception) and r.needs_processing]


class StoringThread:
    """:func:`store_batch` in one thread of the gateway process."""

    def __init__(self, on_stored: OnStored) -> None:
        # Called from the storing thread with the committed rows that wait for processing: the
        # doorbell is rung once per batch from here, not once per message from the event loop
        # (every hand-over between threads costs a wake-up).
        self._on_stored = on_stored
        self._queue: queue.SimpleQueue[
            tuple[services.Incoming, asyncio.AbstractEventLoop, asyncio.Future[Any]] | services.RefusalBatch | None
        ]
        self._queue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="gateway-storing", daemon=True)
        self._thread.start()

    async def submit(self, item: services.Incoming) -> services.Reception:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[services.Reception] = loop.create_future()
        self._queue.put((item, loop, future))
        return await future

    async def record_refusals(self, batch: services.RefusalBatch) -> None:
        """Hand refusals over; they are written after the messages waiting with them."""
        self._queue.put(batch)

    def _run(self) -> None:
        try:
            self._serve()
        finally:
            connection.close()

    def _serve(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch: list[tuple[services.Incoming, asyncio.AbstractEventLoop, asyncio.Future[Any]]] = []
            refusals: list[services.RefusalBatch] = []
            stop = False
            nxt: Any = first
            while True:
                if isinstance(nxt, services.RefusalBatch):
                    refusals.append(nxt)
                else:
                    batch.append(nxt)
                if len(batch) >= MAX_BATCH:
                    break
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
            if batch:
                self._store(batch)
            store_refusals(refusals)
            if stop:
                return

    def _store(self, batch: list[tuple[services.Incoming, asyncio.AbstractEventLoop, asyncio.Future[Any]]]) -> None:
        results = store_batch([item for item, _loop, _future in batch])
        waiting = _waiting(results)
        if waiting:
            self._on_stored(waiting)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Result]]] = {}
        for (_item, loop, future), result in zip(batch, results, strict=True):
            by_loop.setdefault(loop, []).append((future, result))
        for loop, answers in by_loop.items():
            loop.call_soon_threadsafe(_resolve, answers)

    def close(self, timeout: float = 30) -> None:
        self._queue.put(None)
        self._thread.join(timeout)


def _resolve(answers: list[tuple[asyncio.Future[Any], Result]]) -> None:
    for future, result in answers:
        if future.done():  # the session went away meanwhile
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
