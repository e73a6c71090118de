#!/usr/bin/env python
"""Resident memory of `make run`'s whole process tree, at rest.

    .venv-bench/bin/python bench/memory.py [--rest 5]

Starts what `make run` starts, the way it starts it: in a scratch ``MAILCORE_VAR_DIR`` with the
embedded default (SQLite, the filesystem broker; ``DATABASE_URL`` and ``CELERY_BROKER_URL`` are
removed from the environment), ``migrate``, ``bootstrap_demo``, ``collectstatic``, then
``manage.py run_all`` with the web server, the SMTP sink and the gateway on free ports. It waits
until every service answers (the supervisor's "Press Ctrl-C", Celery's "ready", the web page,
an SMTP greeting from the sink and the gateway), lets the tree rest ``--rest`` seconds, sums the
resident memory (``VmRSS`` in ``/proc/<pid>/status``) of the supervisor and every descendant,
and prints one line:

    make_run_rest: processes=<N> rss_mb=<MB> target_mb=450

Then it stops the tree with SIGINT, as Ctrl-C in the terminal does, and fails (exit 1) if any
process of the tree is left. Shared pages are counted in every process that maps them, as
``ps`` and ``top`` show them. Network: 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scratch import log  # noqa: E402
from mailcore.testing.smtp import free_port  # noqa: E402

TARGET_MB = 450


def children_of() -> dict[int, list[int]]:
    """Parent pid → pids of its live children, from /proc (zombies left out)."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # After the command name (which may hold spaces and parentheses): state ppid …
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks (field 22 of /proc/<pid>/stat): tells pid reuse apart."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None


def tree_of(root: int) -> list[int]:
    """``root`` and all its live descendants."""
    tree = children_of()
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    return found


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0  # gone meanwhile, or a kernel thread


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:100]
    except OSError:
        return "?"


def answers_http(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def answers_smtp(port: int) -> bool:
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
            return client.noop()[0] == 250
    except (smtplib.SMTPException, OSError):
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rest", type=float, default=5.0, help="seconds the tree rests before it is measured")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds allowed for every service to answer")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="mailcore-bench-memory-"))
    web_port, sink_port, gateway_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "MAILCORE_VAR_DIR": str(scratch / "var"),
        "MAILCORE_BASE_URL": f"http://127.0.0.1:{web_port}",
        "MAILCORE_SINK_PORT": str(sink_port),
        "MAILCORE_SMTP_PORT": str(sink_port),
        "MAILCORE_GATEWAY_PORT": str(gateway_port),
    }
    # The embedded default, as `make run` on a fresh machine; manage.py picks the settings.
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"):
        env.pop(name, None)
    manage = [sys.executable, "manage.py"]
    try:
        log("migrate, bootstrap_demo, collectstatic (as make run)")
        for command in (
            ["migrate", "--no-input", "-v", "0"],
            ["bootstrap_demo"],
            ["collectstatic", "--no-input", "-v", "0"],
        ):
            subprocess.run([*manage, *command], cwd=ROOT, env=env, check=True, timeout=600, capture_output=True)
        supervisor = subprocess.Popen(
            [*manage, "run_all", "--web", f"127.0.0.1:{web_port}"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: list[str] = []
        assert supervisor.stdout is not None
        reader = threading.Thread(target=lambda: lines.extend(iter(supervisor.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
        reader.start()
        seen: dict[int, str | None] = {}
        try:
            deadline = time.monotonic() + args.timeout
            while not (
                any("Press Ctrl-C" in line for line in lines)
                and any(re.search(r"celery@\S+ ready", line) for line in lines)
                and answers_http(f"http://127.0.0.1:{web_port}/login/")
                and answers_smtp(sink_port)
                and answers_smtp(gateway_port)
            ):
                if supervisor.poll() is not None or time.monotonic() > deadline:
                    log("run_all did not come up:\n" + "".join(lines[-40:]))
                    return 1
                time.sleep(0.5)
            log(f"every service answers; resting {args.rest:g} s")
            time.sleep(args.rest)
            pids = tree_of(supervisor.pid)
            seen = {pid: start_time(pid) for pid in pids}
            sizes = {pid: rss_kb(pid) for pid in pids}
            total_kb = sum(sizes.values())
            for pid, kb in sizes.items():  # where the memory goes, on stderr
                log(f"  pid {pid}: {kb / 1024:6.1f} MB  {command_line(pid)}")
            print(
                f"make_run_rest: processes={len(pids)} rss_mb={total_kb / 1024:.0f} target_mb={TARGET_MB}", flush=True
            )
            supervisor.send_signal(signal.SIGINT)  # what the terminal sends on Ctrl-C
            code = supervisor.wait(timeout=60)
        finally:
            if supervisor.poll() is None:
                supervisor.kill()
                supervisor.wait(timeout=10)
        reader.join(timeout=10)
        if code != 0:
            log(f"run_all exited with {code}:\n" + "".join(lines[-40:]))
            return 1
        # A pid still alive with the same start time is the same process: left behind.
        deadline = time.monotonic() + 10
        left = [pid for pid, started in seen.items() if started is not None and start_time(pid) == started]
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = [pid for pid in left if start_time(pid) == seen[pid]]
        if left:
            log(f"processes left behind after SIGINT: {left}; killing them")
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            return 1
        log(f"stopped with SIGINT: none of the {len(seen)} processes is left")
        return 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
