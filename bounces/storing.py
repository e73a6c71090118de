"""Where the end of DATA is decided, stored and committed: a storing process, or a thread.

Both run :func:`store_batch` with group commit: every message waiting when the storer comes
round is decided and stored in one batch (one lookup, one multi-row INSERT, one commit), then
each session gets its answer. Alone, a message is a batch of one; under load the per-message
cost of the database round trips shrinks instead of queueing up.

:class:`StoringProcess` (the default, ``MAILCORE_GATEWAY_STORING=process``) runs the batches in
a child process of each gateway process. The child has an interpreter of its own: in a thread
of the gateway process, every database round trip gave up the interpreter lock and then waited
to take it back from the event loop, which doubled the time of a batch (3 ms against 1.5 ms
for the same batch alone). bench/inbound.py on two cores, runs alternated: thread 0.38 and
0.43 of the no-op server's rate, process 0.50 and 0.62. The gateway and its child talk over a
socket pair in length-prefixed pickles (both ends are ours, see :mod:`bounces.storing_child`).
The child starts with the gateway's settings as they are at that moment (the database, every
``MAILCORE_*`` setting, the secret key), exits when the gateway's end of the socket closes,
and is started again when it dies; meanwhile, as for any internal error, a sender gets ``451``
and keeps the message.

:class:`StoringThread` (``MAILCORE_GATEWAY_STORING=thread``) runs them in a thread of the
gateway process: for an in-memory database, which a second process cannot open.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import pickle
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections

from bounces import services
from bounces.exceptions import BouncesError
from bounces.storing_child import HEAD, frame, take_frames

logger = logging.getLogger(__name__)

# Messages stored in one batch at most (one multi-row INSERT).
MAX_BATCH = 64
# Seconds a storing process must have lived before another replaces it: one that cannot start
# (a broken setting, a missing module) is not started again in a loop.
RESTART_DELAY = 1.0
Result = services.Reception | BaseException
OnStored = Callable[[list[int]], None]


class StoringUnavailable(BouncesError):
    """The storing process is gone or restarting: the message was not stored (answer 451)."""


class StoringFailed(BouncesError):
    """Storing the message failed in the storing process; the text is its error (answer 451)."""


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


# --- in a thread ----------------------------------------------------------------------------------
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


# --- in a process ---------------------------------------------------------------------------------
def _settings_for_child() -> dict[str, Any]:
    """The settings a storing process starts with: the gateway's, as they are now.

    The child reads the same settings module; what may differ is what changed at run time (a
    test database's name, a test's setting).
    """
    names = ["SECRET_KEY", "SECRET_KEY_FALLBACKS", "TIME_ZONE", "USE_TZ"]
    names += [name for name in dir(settings) if name.startswith("MAILCORE_")]
    values = {name: getattr(settings, name) for name in names if hasattr(settings, name)}
    # The database as this process uses it (a test run renames it).
    values["DATABASES"] = {**settings.DATABASES, DEFAULT_DB_ALIAS: dict(connections[DEFAULT_DB_ALIAS].settings_dict)}
    return values


class _Child:
    """One storing process and the gateway's end of its socket."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        # A test's overridden settings have no module name: the environment has the original one.
        module = os.environ.get("DJANGO_SETTINGS_MODULE") or settings.SETTINGS_MODULE
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": module}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bounces.storing_child", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
        )
        theirs.close()
        # The settings go first, while the socket still blocks (nothing reads it yet).
        ours.sendall(frame(_settings_for_child()))
        self.socket = ours
        self.started = time.monotonic()
        self.pending: dict[int, asyncio.Future[services.Reception]] = {}
        self.writer: asyncio.StreamWriter | None = None
        self.connecting: asyncio.Future[None] | None = None
        self.gone = False

    def fail_pending(self, error: BaseException) -> None:
        self.gone = True
        for future in self.pending.values():
            if not future.done():
                future.set_exception(error)
        self.pending.clear()

    def stop(self, timeout: float) -> None:
        """Let it finish what it has (it exits when our end closes), then make sure it is gone."""
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_WR)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.error("Storing process %s did not stop in %ss; killing it", self.process.pid, timeout)
            self.process.kill()
            self.process.wait(10)
        with contextlib.suppress(OSError):
            self.socket.close()


class StoringProcess:
    """:func:`store_batch` in a child process; ``submit`` is awaited on the gateway's event loop."""

    def __init__(self, on_stored: OnStored) -> None:
        self._on_stored = on_stored
        self._sequence = itertools.count(1)
        self._lock = threading.Lock()
        # Started at once: the child sets Django up while the gateway starts listening.
        self._child = _Child()

    @property
    def pid(self) -> int:
        return self._child.process.pid

    @property
    def waiting(self) -> int:
        """Messages handed to the storing process and not answered yet."""
        return len(self._child.pending)

    async def submit(self, item: services.Incoming) -> services.Reception:
        child = await self._connected_child()
        sequence = next(self._sequence)
        future: asyncio.Future[services.Reception] = asyncio.get_running_loop().create_future()
        child.pending[sequence] = future
        assert child.writer is not None
        try:
            child.writer.write(frame((sequence, item)))
            await child.writer.drain()
        except ConnectionError as exc:  # it died meanwhile: the reader fails the others
            child.pending.pop(sequence, None)
            raise StoringUnavailable("The storing process went away.") from exc
        return await future

    async def record_refusals(self, batch: services.RefusalBatch) -> None:
        """Hand refusals over (sequence 0: no answer); the child writes them after the messages
        waiting with them."""
        child = await self._connected_child()
        assert child.writer is not None
        try:
            child.writer.write(frame((0, batch)))
            await child.writer.drain()
        except ConnectionError as exc:
            raise StoringUnavailable("The storing process went away.") from exc

    async def _connected_child(self) -> _Child:
        child = self._live_child()
        if child.writer is None:
            if child.connecting is None:
                child.connecting = asyncio.ensure_future(self._connect(child))
            await asyncio.shield(child.connecting)
        if child.gone:
            raise StoringUnavailable("The storing process is gone.")
        return child

    def _live_child(self) -> _Child:
        with self._lock:
            child = self._child
            # Its reader marks it gone when its socket closes, which is when it exits.
            if not child.gone:
                return child
            child.fail_pending(StoringUnavailable("The storing process is gone."))
            if time.monotonic() - child.started < RESTART_DELAY:
                raise StoringUnavailable("The storing process is restarting.")
            logger.error(
                "Storing process %s exited (code %s); starting another", child.process.pid, child.process.poll()
            )
            with contextlib.suppress(Exception):
                child.stop(timeout=1)
            self._child = _Child()
            return self._child

    async def _connect(self, child: _Child) -> None:
        try:
            reader, writer = await asyncio.open_connection(sock=child.socket)
        except OSError as exc:  # pragma: no cover - a fresh socket pair does not refuse
            child.fail_pending(StoringUnavailable("The storing process cannot be reached."))
            raise StoringUnavailable("The storing process cannot be reached.") from exc
        child.writer = writer
        asyncio.get_running_loop().create_task(self._read(child, reader))

    async def _read(self, child: _Child, reader: asyncio.StreamReader) -> None:
        """The child's answers, one frame per batch: ring the doorbell once, settle each session."""
        error: BaseException = StoringUnavailable("The storing process closed its socket.")
        try:
            while True:
                head = await reader.readexactly(HEAD.size)
                answers: list[tuple[int, bool, Any]] = pickle.loads(await reader.readexactly(HEAD.unpack(head)[0]))
                waiting = _waiting([payload for _sequence, ok, payload in answers if ok])
                if waiting:
                    self._on_stored(waiting)
                for sequence, ok, payload in answers:
                    future = child.pending.pop(sequence, None)
                    if future is None or future.done():  # the session went away meanwhile
                        continue
                    if ok:
                        future.set_result(payload)
                    else:
                        future.set_exception(StoringFailed(payload))
        except (asyncio.IncompleteReadError, ConnectionError):
            code = child.process.poll()
            exited = f" (exit code {code})" if code is not None else ""
            error = StoringUnavailable(f"The storing process went away{exited}.")
        except Exception as exc:  # pragma: no cover - a frame we cannot read: our child never sends one
            logger.exception("Unreadable answer from the storing process")
            error = StoringUnavailable(f"Unreadable answer from the storing process: {exc}")
        finally:
            child.fail_pending(error)
            if child.writer is not None:
                child.writer.close()

    def close(self, timeout: float = 30) -> None:
        with self._lock:
            child = self._child
        child.stop(timeout)


def serve_child(sock: socket.socket, buffer: bytearray) -> None:
    """The child's loop: read what waits, store it as one batch, answer, until the socket closes."""
    while True:
        frames: list[tuple[int, services.Incoming | services.RefusalBatch]] = take_frames(buffer)
        if not frames:
            chunk = sock.recv(1 << 20)
            if not chunk:  # the gateway closed its end: nothing more will come
                break
            buffer += chunk
            continue
        batch = [(s, item) for s, item in frames if isinstance(item, services.Incoming)]
        # Every message that has arrived whole, MAX_BATCH to a commit at most.
        for start in range(0, len(batch), MAX_BATCH):
            part = batch[start : start + MAX_BATCH]
            results = store_batch([item for _sequence, item in part])
            answers: list[tuple[int, bool, Any]] = []
            for (sequence, _item), result in zip(part, results, strict=True):
                if isinstance(result, BaseException):
                    logger.error("Storing an inbound message failed", exc_info=result)
                    answers.append((sequence, False, f"{type(result).__name__}: {result}"))
                else:
                    answers.append((sequence, True, result))
            sock.sendall(frame(answers))
        store_refusals([item for _s, item in frames if isinstance(item, services.RefusalBatch)])
    connection.close()
