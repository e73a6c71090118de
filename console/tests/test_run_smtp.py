"""``manage.py run_smtp``: the local sink and the inbound gateway in one process, stopped by Ctrl-C."""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import threading
import time
from pathlib import Path

from django.conf import settings

from mailcore.testing.smtp import free_port

ROOT = Path(settings.BASE_DIR)


def test_run_smtp_answers_as_sink_and_gateway_in_one_process_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    sink_port, gateway_port = free_port(), free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.dev",
        "MAILCORE_VAR_DIR": str(tmp_path / "var"),
        "MAILCORE_SINK_PORT": str(sink_port),
        "MAILCORE_GATEWAY_PORT": str(gateway_port),
    }
    for name in ("DATABASE_URL", "CELERY_BROKER_URL"):
        env.pop(name, None)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=300)
    process = subprocess.Popen(
        [*manage, "run_smtp"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while not any("mailcore gateway listening" in line for line in lines):
            assert process.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.1)
        assert any(f"SMTP sink listening on 127.0.0.1:{sink_port}" in line for line in lines), "".join(lines)

        with smtplib.SMTP("127.0.0.1", sink_port, timeout=10) as client:
            client.sendmail("a@example.com", ["b@example.com"], b"Subject: hi\r\n\r\nhello\r\n")
        (captured,) = (tmp_path / "var" / "sink").glob("*.eml")
        assert captured.read_bytes().startswith(b"Return-Path: <a@example.com>")
        with smtplib.SMTP("127.0.0.1", gateway_port, timeout=10) as client:
            # The gateway, not the sink (which accepts everything): an unknown domain is refused.
            assert client.ehlo()[0] == 250
            assert client.mail("a@example.com")[0] == 250
            code, reply = client.rcpt("nobody@not-ours.example")
            assert code == 550, reply

        process.send_signal(signal.SIGINT)  # Ctrl-C
        assert process.wait(timeout=30) == 0, "".join(lines)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    reader.join(timeout=10)
    process.stdout.close()  # type: ignore[union-attr]
    assert "SMTP sink and gateway stopped." in "".join(lines)
    for port in (sink_port, gateway_port):
        try:
            smtplib.SMTP("127.0.0.1", port, timeout=2).close()
        except OSError:
            continue
        raise AssertionError(f"port {port} still answers after Ctrl-C")
