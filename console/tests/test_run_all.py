"""``manage.py run_all`` (what ``make run`` starts): everything answers, a killed service comes back,
Ctrl-C leaves no process."""

from __future__ import annotations

import os
import re
import signal
import smtplib
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from django.conf import settings

from mailcore.testing.smtp import free_port

ROOT = Path(settings.BASE_DIR)


def process_groups() -> dict[int, int]:
    """pid → process group of every live process (from /proc)."""
    groups = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # Fields after the command name (which may hold spaces): state ppid pgrp …
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            groups[int(entry)] = int(fields[2])
    return groups


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def greeting(port: int) -> bytes:
    """The 220 banner of the SMTP server on ``port``."""
    client = smtplib.SMTP(timeout=10)
    try:
        code, banner = client.connect("127.0.0.1", port)
        assert code == 220, banner
        return banner
    finally:
        client.quit()


def wait_for_line(lines: list[str], pattern: str, supervisor: subprocess.Popen[str], after: int = 0) -> re.Match[str]:
    """The first output line from index ``after`` on matching ``pattern``; fails after 60 s."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in lines[after:]:
            if found := re.search(pattern, line):
                return found
        assert supervisor.poll() is None, "".join(lines)
        time.sleep(0.1)
    raise AssertionError(f"no line matching {pattern!r}:\n{''.join(lines)}")


def started_pids(lines: list[str]) -> dict[str, int]:
    """Service name → pid of its latest start."""
    return {name: int(pid) for name, pid in re.findall(r"started (\w+) \(pid (\d+)\)", "".join(lines))}


def test_run_all_serves_everything_restarts_a_killed_service_and_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    web_port, sink_port, gateway_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.dev",
        "MAILCORE_VAR_DIR": str(tmp_path / "var"),
        "MAILCORE_SINK_PORT": str(sink_port),
        "MAILCORE_GATEWAY_PORT": str(gateway_port),
        "MAILCORE_SMTP_PORT": str(sink_port),
    }
    for name in ("DATABASE_URL", "CELERY_BROKER_URL"):
        env.pop(name, None)  # the embedded default, as `make run` on a fresh machine
    manage = [sys.executable, "manage.py"]
    for command in (["migrate", "--no-input", "-v", "0"], ["collectstatic", "--no-input", "-v", "0"]):
        subprocess.run([*manage, *command], cwd=ROOT, env=env, check=True, timeout=300, capture_output=True)

    supervisor = subprocess.Popen(
        [*manage, "run_all", "--web", f"127.0.0.1:{web_port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(supervisor.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not (
            any("Press Ctrl-C" in line for line in lines)
            and any(re.search(r"celery@\S+ ready", line) for line in lines)
        ):
            assert supervisor.poll() is None, "".join(lines)
            time.sleep(0.2)
        output = "".join(lines)
        assert "Press Ctrl-C to stop everything." in output, output
        children = {int(pid) for pid in re.findall(r"started \w+ \(pid (\d+)\)", output)}
        assert len(children) == 3, output  # web, worker (beat inside), smtp (sink and gateway)
        assert re.search(r"started smtp \(pid \d+\): \S+ run_smtp", output), output

        assert get(f"http://127.0.0.1:{web_port}/login/") == 200
        assert get(f"http://127.0.0.1:{web_port}/static/admin/css/base.css") == 200  # WhiteNoise
        with smtplib.SMTP("127.0.0.1", sink_port, timeout=10) as client:
            client.sendmail("a@example.com", ["b@example.com"], b"Subject: hi\r\n\r\nhello\r\n")
        assert len(list((tmp_path / "var" / "sink").glob("*.eml"))) == 1
        # One process answers both ports, each as itself.
        assert b"mailcore-sink" in greeting(sink_port)
        assert b"mailcore ESMTP" in greeting(gateway_port)
        # The beat is a thread of the worker: its group is the main process and the two pool
        # processes, no beat process.
        wait_for_line(lines, r"^worker\s*\|.*beat: Starting", supervisor)
        worker_group = started_pids(lines)["worker"]
        assert sum(1 for group in process_groups().values() if group == worker_group) == 3
        every_child = set(children)

        # A service killed outright is announced and restarted, and answers again; the killed
        # worker's pool processes go with it (they would otherwise keep consuming).
        for name in ("smtp", "worker"):
            old = started_pids(lines)[name]
            mark = len(lines)
            os.kill(old, signal.SIGKILL)
            wait_for_line(
                lines, rf"{name} died \(killed by SIGKILL\) after \d+s; restarting it in 1s", supervisor, mark
            )
            new = int(wait_for_line(lines, rf"started {name} \(pid (\d+)\)", supervisor, mark).group(1))
            assert new != old
            every_child.add(new)
            deadline = time.monotonic() + 10  # SIGKILL takes effect asynchronously
            while old in process_groups().values():
                assert time.monotonic() < deadline, f"the killed {name}'s group is still running"
                time.sleep(0.1)
            if name == "smtp":  # one process, both servers back
                for port in (sink_port, gateway_port):
                    deadline = time.monotonic() + 60
                    while True:
                        try:
                            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                                assert client.noop()[0] == 250
                            break
                        except OSError:
                            assert time.monotonic() < deadline, "".join(lines)
                            time.sleep(0.2)
            else:
                wait_for_line(lines, r"celery@\S+ ready", supervisor, mark)
        assert get(f"http://127.0.0.1:{web_port}/login/") == 200  # the others kept running

        supervisor.send_signal(signal.SIGINT)  # what the terminal sends on Ctrl-C
        assert supervisor.wait(timeout=60) == 0, "".join(lines)
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait(timeout=10)
    reader.join(timeout=10)
    supervisor.stdout.close()  # type: ignore[union-attr]
    assert "Everything stopped." in "".join(lines)
    leftovers = {pid: group for pid, group in process_groups().items() if group in every_child}
    assert leftovers == {}, f"processes left behind: {leftovers}"
