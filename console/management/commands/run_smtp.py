"""``manage.py run_smtp``: the local SMTP sink and the inbound gateway in one process (``run_all``).

``make run`` needs both, and each alone is a whole Django process at rest. Here the sink's server
runs on the gateway Controller's event loop, so one process and one loop answer both ports.
Production runs ``run_gateway`` alone (with ``--processes`` if it needs more cores) and has no
sink. SIGINT or SIGTERM stops both.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from django.core.management.base import BaseCommand

from bounces.gateway import make_controller, stop_on_signals
from mailcore import conf
from mailcore.sink import sink_listen

START_TIMEOUT = 30.0


class Command(BaseCommand):
    help = "Run the local SMTP sink and the inbound gateway in one process (what run_all starts); Ctrl-C stops both."
    # The gateway's own checks only: the web server next to it runs them all, and the sink must
    # start even while another part fails its checks, so the mail that part sends can be seen.
    # All checks would also import every URL and view, which neither server needs.
    requires_system_checks = ["bounces"]

    def handle(self, *args: Any, **options: Any) -> None:
        directory = conf.sink_dir()
        directory.mkdir(parents=True, exist_ok=True)
        controller = make_controller()
        stop = stop_on_signals()
        controller.start()
        sink: asyncio.Server | None = None
        try:
            sink = asyncio.run_coroutine_threadsafe(
                sink_listen(host=conf.sink_host(), port=conf.sink_port(), directory=directory), controller.loop
            ).result(timeout=START_TIMEOUT)
            tls = " with STARTTLS" if controller.SMTP_kwargs.get("tls_context") else ""
            self._say(f"SMTP sink listening on {conf.sink_host()}:{conf.sink_port()}, writing to {directory}")
            self._say(f"mailcore gateway listening on {controller.hostname}:{controller.port}{tls} (pid {os.getpid()})")
            while not stop.wait(1.0):
                pass
        finally:
            if sink is not None:
                # Stop accepting; the Controller's stop below ends the sessions and the loop.
                controller.loop.call_soon_threadsafe(sink.close)
            controller.stop()
            self._say("SMTP sink and gateway stopped.")

    def _say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()
