"""``manage.py run_sink``: the local outgoing SMTP sink that ``make run`` starts (127.0.0.1:1025)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from mailcore import conf
from mailcore.sink import sink_serve


class Command(BaseCommand):
    # The sink is independent of the rest of the project: it must start even while another part
    # fails its checks, so the mail that part sends can still be looked at.
    requires_system_checks: list[str] = []
    help = "Accept every message on the sink's SMTP port and keep it as var/sink/<timestamp>-<n>.eml (viewer: /sink/)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=None, help="Listen address (default: MAILCORE_SINK_HOST, 127.0.0.1).")
        parser.add_argument("--port", type=int, default=None, help="Port (default: MAILCORE_SINK_PORT, 1025).")
        parser.add_argument("--dir", default=None, help="Where to write the .eml files (default: MAILCORE_SINK_DIR).")

    def handle(self, *args: Any, **options: Any) -> None:
        host = options["host"] or conf.sink_host()
        port = options["port"] or conf.sink_port()
        directory = Path(options["dir"]) if options["dir"] else conf.sink_dir()
        directory.mkdir(parents=True, exist_ok=True)
        self.stdout.write(f"SMTP sink listening on {host}:{port}, writing to {directory}", ending="\n")
        self.stdout.flush()
        sink_serve(host=host, port=port, directory=directory)
        self.stdout.write("SMTP sink stopped.")
