"""``manage.py run_gateway``: the inbound SMTP gateway (aiosmtpd) until SIGTERM/SIGINT.

With ``--processes N`` (or ``MAILCORE_GATEWAY_PROCESSES``) N processes listen on the same port
(SO_REUSEPORT, the kernel spreads the connections) under a parent that restarts any that dies.
One process handles one core's worth of mail; the gateway is CPU-bound.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connections

from bounces import conf
from bounces.gateway import make_controller, stop_on_signals


class Command(BaseCommand):
    help = "Run the inbound SMTP gateway (default 127.0.0.1:8025, from MAILCORE_GATEWAY_HOST/PORT)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=None, help="Address to listen on (default: MAILCORE_GATEWAY_HOST).")
        parser.add_argument("--port", type=int, default=None, help="Port (default: MAILCORE_GATEWAY_PORT).")
        parser.add_argument(
            "--processes",
            type=int,
            default=None,
            help="Processes sharing the port (default: MAILCORE_GATEWAY_PROCESSES, 1).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host = options["host"] or conf.gateway_host()
        port = options["port"] or conf.gateway_port()
        processes = max(options["processes"] or conf.gateway_processes(), 1)
        if processes == 1:
            self._serve(host, port, reuse_port=False)
        else:
            self._supervise(host, port, processes)

    def _serve(self, host: str, port: int, *, reuse_port: bool) -> None:
        controller = make_controller(host=host, port=port, reuse_port=reuse_port)
        stop = stop_on_signals()
        controller.start()
        tls = " with STARTTLS" if controller.SMTP_kwargs.get("tls_context") else ""
        self.stdout.write(f"mailcore gateway listening on {host}:{port}{tls} (pid {os.getpid()})", ending="\n")
        self.stdout.flush()
        try:
            while not stop.wait(1.0):
                pass
        finally:
            controller.stop()
            self.stdout.write(f"mailcore gateway stopped (pid {os.getpid()})", ending="\n")
            self.stdout.flush()

    def _fork(self, host: str, port: int) -> int:
        # Children must not share the parent's database connections.
        connections.close_all()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child process
            code = 0
            try:
                self._serve(host, port, reuse_port=True)
            except BaseException:
                code = 1
                raise
            finally:
                sys.stdout.flush()
                os._exit(code)
        return pid

    def _supervise(self, host: str, port: int, processes: int) -> None:
        stopping = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopping.set())
        signal.signal(signal.SIGINT, lambda *_: stopping.set())
        children = {self._fork(host, port) for _ in range(processes)}
        while not stopping.is_set():
            time.sleep(0.5)
            for pid in list(children):
                done, _status = os.waitpid(pid, os.WNOHANG)
                if done:
                    children.discard(pid)
                    if not stopping.is_set():
                        self.stderr.write(f"gateway process {pid} exited; starting another")
                        children.add(self._fork(host, port))
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 30
        while children and time.monotonic() < deadline:
            for pid in list(children):
                if os.waitpid(pid, os.WNOHANG)[0]:
                    children.discard(pid)
            time.sleep(0.1)
        for pid in children:  # pragma: no cover - a child that ignored SIGTERM for 30 s
            os.kill(pid, signal.SIGKILL)
