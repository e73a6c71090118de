"""The embedded broker (``filesystem://``, :mod:`config.broker`): no half-read message, no dead worker."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from celery.contrib.testing import tasks as testing_tasks
from kombu import Connection, Exchange, Producer
from kombu import Queue as KombuQueue

from config.broker import Transport
from tests.celery_fixtures import TaskLog

MESSAGES = 400
PAD = "x" * 32768  # a big body keeps each write long enough for a reader to race it


def _connection(root: Path) -> Connection:
    folder = root / "out"
    folder.mkdir(parents=True, exist_ok=True)
    return Connection(
        "filesystem://",
        transport_options={"data_folder_in": str(folder), "data_folder_out": str(folder), "control_folder": str(root)},
    )


def test_filesystem_urls_open_our_transport(tmp_path: Path) -> None:
    from config.celery_app import app

    with _connection(tmp_path) as conn:
        assert isinstance(conn.transport, Transport)
    with app.connection_for_write("filesystem://") as conn:
        assert isinstance(conn.transport, Transport)


def test_a_reader_racing_a_writer_never_sees_a_partial_message(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with _connection(tmp_path) as conn:
                queue = conn.SimpleQueue("race")
                for n in range(MESSAGES):
                    queue.put({"n": n, "pad": PAD})
                queue.close()
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    writer = threading.Thread(target=write)
    received: list[int] = []
    with _connection(tmp_path) as conn:
        queue = conn.SimpleQueue("race")
        writer.start()
        deadline = time.monotonic() + 60
        while len(received) < MESSAGES and time.monotonic() < deadline and not errors:
            try:
                message = queue.get(block=False)
            except queue.Empty:
                continue
            body = message.decode()
            assert body["pad"] == PAD
            received.append(body["n"])
            message.ack()
        queue.close()
    writer.join(timeout=30)
    assert errors == []
    assert sorted(received) == list(range(MESSAGES))
    assert [p.name for p in (tmp_path / "out").iterdir()] == []  # nothing left, nothing set aside


def _bind_and_publish_together(root: Path, exchange: Exchange, binders: int, publishers: int) -> list[BaseException]:
    """Connections that bind queues ``q0``… to a new exchange and publish to it, all at once."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(binders + publishers)
    connections = [_connection(root) for _ in range(binders + publishers)]

    def bind(n: int, conn: Connection) -> None:
        try:
            channel = conn.default_channel
            barrier.wait(timeout=10)
            KombuQueue(f"q{n}", exchange, routing_key=f"k{n}")(channel).declare()
        except BaseException as exc:
            errors.append(exc)

    def publish(conn: Connection) -> None:
        try:
            producer = Producer(conn.default_channel)
            barrier.wait(timeout=10)
            producer.publish({"hi": 1}, exchange=exchange, routing_key="k0")  # reads the table
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=bind, args=(n, c)) for n, c in enumerate(connections[:binders])]
    threads += [threading.Thread(target=publish, args=(c,)) for c in connections[binders:]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for conn in connections:
        conn.release()
    return errors


def test_processes_starting_together_bind_an_exchange_without_losing_or_breaking_its_table(tmp_path: Path) -> None:
    binders = 4
    for round_ in range(30):
        exchange = Exchange(f"x{round_}", type="direct")
        assert _bind_and_publish_together(tmp_path, exchange, binders, publishers=2) == []
        with _connection(tmp_path) as conn:
            table = conn.default_channel.get_table(exchange.name)
        assert sorted(binding.queue for binding in table) == [f"q{n}" for n in range(binders)], round_


def test_an_undecodable_file_is_set_aside_and_the_next_message_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "out"
    with _connection(tmp_path) as conn:
        queue = conn.SimpleQueue("q")
        # Sorted first: the reader meets them before the good message. Names are compared as
        # strings and a real one starts with the clock (never a leading zero), so a "0" prefix
        # sorts first whatever the clock reads; "1_" would not ("1002345_" < "1_").
        (folder / f"00_{uuid.uuid4()}.q.msg").write_bytes(b'{"body": "half a mess')
        (folder / f"0_{uuid.uuid4()}.q.msg").write_bytes(b'{"no": "properties"}')
        queue.put({"n": 1})
        with caplog.at_level(logging.ERROR, logger="mailcore.broker"):
            message = queue.get(timeout=5)
        assert message.decode() == {"n": 1}
        message.ack()
        queue.close()
    corrupt = sorted(p.name for p in folder.iterdir())
    assert len(corrupt) == 2 and all(name.endswith(".q.msg.corrupt") for name in corrupt)
    assert (folder / corrupt[0]).read_bytes() == b'{"body": "half a mess'  # kept as it was
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 2 and all("cannot be decoded" in line for line in logged), logged


def test_a_corrupt_file_does_not_kill_a_real_worker(
    celery_worker_factory: Any, celery_task_log: TaskLog, caplog: pytest.LogCaptureFixture
) -> None:
    # The filesystem broker even on the PostgreSQL + Redis pass: it is what is under test.
    worker = celery_worker_factory(broker_url="filesystem://")
    folder = Path(str(worker.app.conf.broker_transport_options["data_folder_in"]))
    with caplog.at_level(logging.ERROR, logger="mailcore.broker"):
        # Sorted before the messages below, and empty: what a half-written file looks like.
        (folder / f"0_{uuid.uuid4()}.celery.msg").write_bytes(b"")
        for _ in range(2):
            worker.app.send_task(testing_tasks.ping.name)
        # The worker keeps consuming after it (kombu's own transport dies: "Unrecoverable error").
        assert celery_task_log.wait_for(lambda runs: sum(r.name == testing_tasks.ping.name for r in runs) == 2)
    assert [p.name.endswith(".celery.msg.corrupt") for p in folder.iterdir()] == [True]
    assert any("cannot be decoded" in r.getMessage() for r in caplog.records)
