"""A pytest plugin with real Celery workers (never eager mode).

Fixtures:

``celery_worker_live``
    A worker running in a thread of the test process (``celery.contrib.testing.worker``), with a
    thread pool of 2, consuming the configured broker: Redis when ``CELERY_BROKER_URL`` is a
    ``redis://`` URL (queues purged first), else kombu's ``filesystem://`` transport in the test's
    own folder. The database is the test database: the fixture implies ``transactional_db`` (the
    worker's threads have their own connections, so data must be committed to be seen). The rows
    every database needs (subtypes, the alias domain, the crons) come back after each flush through
    their ``post_migrate`` receivers. Yields the :class:`LiveWorker`.

``celery_worker_factory``
    ``celery_worker_factory(broker_url=None, concurrency=2)`` starts workers on demand (several
    workers, or a given Redis URL); all are stopped at the end of the test.

``celery_task_log``
    Records every task the workers ran (name, args, return value), through Celery's
    ``task_postrun`` signal.

SQLite: an in-memory test database cannot be shared by the worker's threads (a shared-cache
memory database answers "database table is locked" instead of waiting), so when a selected test
uses a worker the session's SQLite test database becomes a file in a temporary folder.

The whole session publishes to a private broker folder, so tests never drop messages into the
``var/broker`` of a developer's ``make run``.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from celery import Celery, signals
from celery.contrib.testing import tasks as _testing_tasks  # registers "celery.ping"
from celery.contrib.testing.worker import start_worker
from celery.worker import WorkController
from celery.worker import state as worker_state
from kombu import pools as kombu_pools

WORKER_FIXTURES = {"celery_worker_live", "celery_worker_factory"}

_session_dirs: list[str] = []


def _filesystem_options(root: Path) -> dict[str, object]:
    folder = root / "out"
    return {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "control_folder": str(root / "control"),
        "processed_folder": str(root / "processed"),
        "store_processed": False,
    }


def _celery_app() -> Celery:
    from config.celery_app import app

    return app


def _reset_broker_pools(app: Celery) -> None:
    """Forget pooled broker connections so a changed broker URL or folder takes effect.

    kombu keeps pools in a global registry keyed by connection: closing ours alone would hand the
    same, closed, pool back for the same URL, so the registry is reset too.
    """
    kombu_pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    from django.conf import settings

    if not settings.configured:  # pragma: no cover - pytest-django always configures the test settings
        return
    if str(settings.CELERY_BROKER_URL).startswith("filesystem"):
        root = Path(tempfile.mkdtemp(prefix="mailcore-broker-"))
        _session_dirs.append(str(root))
        settings.CELERY_BROKER_TRANSPORT_OPTIONS = _filesystem_options(root)
        for key in ("data_folder_in", "control_folder", "processed_folder"):
            Path(str(settings.CELERY_BROKER_TRANSPORT_OPTIONS[key])).mkdir(parents=True, exist_ok=True)
        app = _celery_app()
        if app.configured:  # the Celery app read the settings already: tell it too
            app.conf.broker_transport_options = settings.CELERY_BROKER_TRANSPORT_OPTIONS


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if not any(WORKER_FIXTURES & set(getattr(item, "fixturenames", ())) for item in items):
        return
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.sqlite3":
        return
    test = db.setdefault("TEST", {})
    if test.get("NAME") in (None, "", ":memory:") or "mode=memory" in str(test.get("NAME")):
        root = tempfile.mkdtemp(prefix="mailcore-testdb-")
        _session_dirs.append(root)
        test["NAME"] = str(Path(root) / "test.sqlite3")


def pytest_unconfigure(config: pytest.Config) -> None:
    while _session_dirs:
        shutil.rmtree(_session_dirs.pop(), ignore_errors=True)


# --- task log --------------------------------------------------------------------------------------
@dataclass
class TaskRun:
    name: str
    args: tuple[Any, ...]
    retval: Any
    state: str


@dataclass
class TaskLog:
    runs: list[TaskRun] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, run: TaskRun) -> None:
        with self.lock:
            self.runs.append(run)

    def of(self, name: str) -> list[TaskRun]:
        with self.lock:
            return [r for r in self.runs if r.name == name]

    def wait_for(self, predicate: Callable[[list[TaskRun]], bool], timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if predicate(list(self.runs)):
                    return True
            time.sleep(0.05)
        return False


@pytest.fixture
def celery_task_log() -> Iterator[TaskLog]:
    log = TaskLog()

    def receiver(sender: Any = None, args: Any = (), retval: Any = None, state: str = "", **kwargs: Any) -> None:
        log.add(TaskRun(name=getattr(sender, "name", str(sender)), args=tuple(args or ()), retval=retval, state=state))

    signals.task_postrun.connect(receiver, weak=False)
    try:
        yield log
    finally:
        signals.task_postrun.disconnect(receiver)


# --- workers ---------------------------------------------------------------------------------------
@dataclass
class LiveWorker:
    """A running embedded worker and the broker it consumes."""

    worker: WorkController
    broker_url: str
    app: Celery


def _purge_redis(app: Celery) -> None:
    """Drop messages a previous session left: the queues, and the unacknowledged/ETA ones."""
    app.control.purge()
    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        client.delete("unacked", "unacked_index", "unacked_mutex")


@contextmanager
def _configured_broker(app: Celery, broker_url: str | None, folder: Path) -> Iterator[str]:
    from django.conf import settings

    keys = (
        "broker_url",
        "broker_read_url",
        "broker_write_url",
        "broker_transport_options",
        "worker_hijack_root_logger",
    )
    saved = {key: app.conf.get(key) for key in keys}
    url = broker_url or str(settings.CELERY_BROKER_URL)
    if url.startswith("filesystem"):
        # Poll the folder every 0.1 s (default 1 s): tests wait less, shutdown is quicker.
        options: dict[str, object] = {**_filesystem_options(folder), "polling_interval": 0.1}
        for key in ("data_folder_in", "control_folder", "processed_folder"):
            Path(str(options[key])).mkdir(parents=True, exist_ok=True)
    else:
        options = {}
    # Celery prefers the CELERY_BROKER_URL environment variable to broker_url; the read and write
    # URLs come before both.
    app.conf.broker_url = app.conf.broker_read_url = app.conf.broker_write_url = url
    app.conf.broker_transport_options = options
    # The test runner owns the root logger.
    app.conf.worker_hijack_root_logger = False
    _reset_broker_pools(app)
    try:
        if url.startswith(("redis://", "rediss://")):
            _purge_redis(app)
        yield url
    finally:
        _reset_broker_pools(app)
        for key, value in saved.items():
            app.conf[key] = value


@contextmanager
def _prompt_stop(app: Celery) -> Iterator[None]:
    """Stop workers without waiting out their poll.

    A worker notices the stop flag only between two waits for a message (up to 2 s each, on the
    filesystem transport and on Redis alike), and its loop waits once more after noticing it
    (Celery's consumer loop checks the flag in a ``try`` whose ``finally`` waits again). Two
    messages end both waits at once.
    """
    try:
        yield
    finally:
        worker_state.should_terminate = 0
        try:
            for _ in range(2):
                app.send_task(_testing_tasks.ping.name)
        except Exception:  # the broker is gone: the workers stop after their poll instead
            pass


@pytest.fixture
def celery_worker_factory(transactional_db: None, tmp_path: Path) -> Iterator[Callable[..., LiveWorker]]:
    """Start real workers on demand: ``celery_worker_factory(broker_url=None, concurrency=2)``.

    All workers of one test share one broker (the first call decides it).
    """
    app = _celery_app()
    stack = ExitStack()
    broker: list[str] = []

    def start(broker_url: str | None = None, concurrency: int = 2, pool: str = "threads") -> LiveWorker:
        if not broker:
            broker.append(stack.enter_context(_configured_broker(app, broker_url, tmp_path / "broker")))
        elif broker_url and broker_url != broker[0]:
            raise ValueError("all workers of a test share one broker")
        worker = stack.enter_context(
            start_worker(
                app,
                pool=pool,
                concurrency=concurrency,
                perform_ping_check=False,
                loglevel="WARNING",
                shutdown_timeout=60,
            )
        )
        stack.enter_context(_prompt_stop(app))  # exits before the worker's own exit joins its thread
        return LiveWorker(worker=worker, broker_url=broker[0], app=app)

    with stack:
        yield start


@pytest.fixture
def celery_worker_live(celery_worker_factory: Callable[..., LiveWorker]) -> LiveWorker:
    """A real Celery worker (thread pool of 2) on the configured broker, seeing the test database."""
    return celery_worker_factory()


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
