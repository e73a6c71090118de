"""``manage.py run_all``: what ``make run`` starts — the web server, a Celery worker with the beat in
a thread, and one process for the local SMTP sink and the inbound gateway.

This command only decides what to start, from the settings; it then replaces itself (``exec``,
same pid) with :mod:`console.supervisor`, which imports no Django. Ctrl-C stops everything and
leaves no process behind; a service that dies by itself is announced and restarted (see that
module).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from bounces import conf as bounces_conf
from mailcore import conf


class Command(BaseCommand):
    help = "Start the web server, a Celery worker with beat, the local SMTP sink and the gateway; Ctrl-C stops all."
    # Each service runs its own checks; the supervisor must start even to show their errors.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--web", default="127.0.0.1:8000", help="host:port of the web server.")
        parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes.")
        parser.add_argument("--no-gateway", action="store_true", help="Do not start the inbound gateway.")

    def handle(self, *args: Any, **options: Any) -> None:
        plan = {
            "cwd": str(settings.BASE_DIR),
            "services": self._services(options),
            "endpoints": self._endpoints(options),
            "announcement": self._announcement(options),
        }
        self.stdout.flush()
        os.chdir(settings.BASE_DIR)  # where ``-m console.supervisor`` is found
        os.execv(sys.executable, [sys.executable, "-m", "console.supervisor", json.dumps(plan)])

    def _services(self, options: dict[str, Any]) -> list[dict[str, Any]]:
        python = sys.executable
        manage = [python, str(settings.BASE_DIR / "manage.py")]
        worker = [python, "-m", "celery", "-A", "config", "worker", "-l", "info"]
        services: list[dict[str, Any]] = [
            {"name": "web", "argv": [*manage, "runserver", options["web"], "--noreload"]},
            {
                "name": "worker",
                # The beat in a thread of the worker, not a process of its own (one worker only).
                "argv": [*worker, "--beat-thread", "--concurrency", str(options["concurrency"])],
                # Celery's Django fixup runs every system check only to ignore the result, which
                # imports every URL and view into the worker and its pool; the web server runs them.
                "env": {"CELERY_SKIP_CHECKS": "1"},
            },
        ]
        if options["no_gateway"]:
            services.append({"name": "sink", "argv": [*manage, "run_sink"]})
        else:
            # The sink and the gateway share one process: each alone is a whole Django at rest.
            services.append({"name": "smtp", "argv": [*manage, "run_smtp"]})
        return services

    def _endpoints(self, options: dict[str, Any]) -> list[tuple[str, int]]:
        """Every address a service listens on: "ready" means all of them answer."""
        host, _, port = options["web"].rpartition(":")
        endpoints = [(host, int(port)), (conf.sink_host(), conf.sink_port())]
        if not options["no_gateway"]:
            endpoints.append((bounces_conf.gateway_host(), bounces_conf.gateway_port()))
        return endpoints

    def _announcement(self, options: dict[str, Any]) -> list[str]:
        web = options["web"]
        lines = [
            f"web UI        http://{web}/  (log in as admin / admin)",
            f"captured mail http://{web}/sink/  (SMTP sink on {conf.sink_host()}:{conf.sink_port()})",
        ]
        if not options["no_gateway"]:
            lines.append(f"inbound mail  SMTP gateway on {bounces_conf.gateway_host()}:{bounces_conf.gateway_port()}")
        lines.append("Press Ctrl-C to stop everything.")
        return lines
