"""Durability: SIGKILL the gateway process in the middle of a load; every message answered 250 is stored.

The gateway runs as ``manage.py run_gateway`` in its own process, as in production. A few client
threads send messages over persistent SMTP sessions; once enough are accepted the process is
killed with SIGKILL (no chance to flush anything). Then every message that got a 250 must be in
the database, byte for byte.
"""

from __future__ import annotations

import os
import signal
import smtplib
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from mailcore.models import AliasDomain
from mailcore.signed_addresses import reply_address
from mailcore.testing.smtp import free_port
from tests.services import require_postgres

ROOT = Path(__file__).resolve().parents[2]
THREADS = 4
KILL_AFTER = 120  # accepted messages before the SIGKILL
PER_THREAD_MAX = 400  # bounds the load if the kill never comes


def _env(database_url: str, var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=database_url,
        MAILCORE_VAR_DIR=str(var_dir),
        MAILCORE_LOG_FILE="",
        MAILCORE_LOG_LEVEL="WARNING",
        # A broker nobody serves: the gateway must not care (the sweep would pick the rows up).
        CELERY_BROKER_URL="redis://127.0.0.1:1/0",
    )
    return env


@pytest.fixture
def gateway_process() -> Iterator[Callable[..., tuple[subprocess.Popen[bytes], int]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(env: dict[str, str], processes: int = 1) -> tuple[subprocess.Popen[bytes], int]:
        port = free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "run_gateway",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--processes",
                str(processes),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        started.append(proc)
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        line = b""
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if b"listening on" in line or not line:
                break
        assert b"listening on" in line, f"gateway did not start: {line!r}"
        return proc, port

    try:
        yield start
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()


def _message(n: int, thread: int, rcpt: str) -> tuple[str, bytes]:
    message_id = f"<durable-{thread}-{n}@example.com>"
    raw = (
        f"From: Load {thread} <load{thread}-{n}@example.com>\r\nTo: {rcpt}\r\nSubject: Load {thread}/{n}\r\n"
        f"Message-ID: {message_id}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + f"Message {n} from thread {thread}. Caf\u00e9.\r\n"
        * 20
    ).encode()
    return message_id, raw


def _load(port: int, rcpt: str, proc: subprocess.Popen[bytes]) -> tuple[dict[str, bytes], int]:
    """Send from THREADS threads until the process is killed; returns the 250-answered messages."""
    accepted: dict[str, bytes] = {}
    lock = threading.Lock()
    errors: list[str] = []

    def worker(thread: int) -> None:
        try:
            client = smtplib.SMTP("127.0.0.1", port, timeout=10)
            for n in range(PER_THREAD_MAX):
                message_id, raw = _message(n, thread, rcpt)
                try:
                    client.sendmail(f"load{thread}-{n}@example.com", [rcpt], raw)
                except smtplib.SMTPResponseException as exc:
                    errors.append(f"{exc.smtp_code} {exc.smtp_error!r}")
                    return
                with lock:
                    accepted[message_id] = raw
        except (OSError, smtplib.SMTPException):
            return  # the kill: the connection broke mid-transaction

    threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(THREADS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with lock:
            if len(accepted) >= KILL_AFTER:
                break
        if not any(t.is_alive() for t in threads):
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    killed_at = len(accepted)
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    return accepted, killed_at


def _rcpt(lead_ct_id: int) -> str:
    # A signed reply token of a lead that does not exist: accepted at the door without any data
    # (routed to the creation of a new lead, Odoo's fallback for a reply to a missing record).
    return reply_address(alias_domain=AliasDomain(name="mailcore.localhost"), model_id=lead_ct_id, res_id=999999)


def _assert_all_stored(accepted: dict[str, bytes], killed_at: int, stored: dict[str, bytes]) -> None:
    assert killed_at >= KILL_AFTER, f"only {killed_at} accepted before the load stopped"
    assert len(accepted) < THREADS * PER_THREAD_MAX, "the kill came after the load ended"
    missing = sorted(set(accepted) - set(stored))
    assert not missing, f"{len(missing)} messages answered 250 are not in the database: {missing[:5]}"
    assert all(stored[m] == raw for m, raw in accepted.items())


def _migrated_sqlite(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    db = tmp_path / "gateway.sqlite3"
    env = _env(f"sqlite:///{db}", tmp_path)
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300
    )
    return db, env


def test_sigkill_loses_no_accepted_message_sqlite(
    tmp_path: Path, gateway_process: Callable[..., tuple[subprocess.Popen[bytes], int]]
) -> None:
    db, env = _migrated_sqlite(tmp_path)
    with sqlite3.connect(db) as conn:
        (lead_ct_id,) = conn.execute(
            "SELECT id FROM django_content_type WHERE app_label = 'demo' AND model = 'lead'"
        ).fetchone()
    proc, port = gateway_process(env)
    accepted, killed_at = _load(port, _rcpt(lead_ct_id), proc)
    with sqlite3.connect(db) as conn:
        stored = {m: bytes(raw) for m, raw in conn.execute("SELECT message_id, raw FROM bounces_inboundmessage")}
    _assert_all_stored(accepted, killed_at, stored)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sigkill_loses_no_accepted_message_postgres(
    tmp_path: Path, gateway_process: Callable[..., tuple[subprocess.Popen[bytes], int]]
) -> None:
    require_postgres()
    from bounces.models import InboundMessage

    db = connection.settings_dict
    url = (
        f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    assert db["NAME"].startswith("test_"), "must write to the test database"
    assert settings.SECRET_KEY  # the subprocess signs and checks tokens with the same key
    from django.contrib.contenttypes.models import ContentType

    from demo.models import Lead

    proc, port = gateway_process(_env(url, tmp_path))
    accepted, killed_at = _load(port, _rcpt(ContentType.objects.get_for_model(Lead).pk), proc)
    stored = {m: bytes(raw) for m, raw in InboundMessage.objects.values_list("message_id", "raw")}
    _assert_all_stored(accepted, killed_at, stored)


def test_several_processes_share_the_port_and_stop_on_sigterm(
    tmp_path: Path, gateway_process: Callable[..., tuple[subprocess.Popen[bytes], int]]
) -> None:
    db, env = _migrated_sqlite(tmp_path)
    with sqlite3.connect(db) as conn:
        (lead_ct_id,) = conn.execute(
            "SELECT id FROM django_content_type WHERE app_label = 'demo' AND model = 'lead'"
        ).fetchone()
    proc, port = gateway_process(env, 2)
    rcpt = _rcpt(lead_ct_id)
    sent = []
    for n in range(12):  # one connection each: the kernel spreads them over both processes
        message_id, raw = _message(n, 9, rcpt)
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail(f"load9-{n}@example.com", [rcpt], raw)
        sent.append(message_id)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    assert proc.stdout is not None
    output = proc.stdout.read().decode()
    assert output.count("mailcore gateway stopped") == 2, output
    with sqlite3.connect(db) as conn:
        stored = {m for (m,) in conn.execute("SELECT message_id FROM bounces_inboundmessage")}
    assert stored == set(sent)
