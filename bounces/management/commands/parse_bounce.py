"""``manage.py parse_bounce PATH|-``: explain one e-mail as the bounce parser sees it.

For support staff and tests. It reads a file (or standard input), runs
:func:`bounces.dsn.parse_bounce` and prints the verdict; it never touches the database.
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bounces.dsn import BounceReport, parse_bounce


class Command(BaseCommand):
    help = (
        "Explain one e-mail without touching the database: is it a bounce, which message it returns, "
        "and status / reason / hard-or-soft for each failed or delayed recipient. PATH '-' reads stdin."
    )
    # Pure parsing: no system checks (they may query the database), no migration check.
    requires_system_checks: list[str] = []
    requires_migrations_checks = False
    # call_command(..., stdin=BytesIO(raw)) feeds "-" in tests, as Django's createsuperuser does.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="The raw e-mail (.eml) to explain, or '-' for standard input.")
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print exactly one JSON object: is_bounce, original_message_id, bounced[].",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        raw = self._read(options["path"], options.get("stdin"))
        report = parse_bounce(raw)
        if options["json"]:
            self.stdout.write(json.dumps(report.to_json_dict()))
            return
        self.stdout.write(self._explain(report))

    def _read(self, path: str, stdin: IO[bytes] | None) -> bytes:
        if path == "-":
            stream = stdin if stdin is not None else sys.stdin.buffer
            return stream.read()
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except OSError as exc:
            raise CommandError(f"Cannot read {path!r}: {exc.strerror or exc}.") from exc

    def _explain(self, report: BounceReport) -> str:
        if report.is_feedback_report:
            about = report.feedback_email or "an address the report does not name"
            lines = [
                "Not a bounce: this is a feedback (abuse) report (ARF).",
                f"Complaint about: {about}",
            ]
            if report.original_message_id:
                lines.append(f"Original Message-ID: {report.original_message_id}")
            return "\n".join(lines)
        if report.is_auto_reply:
            return "Not a bounce: this is an automatic reply (out of office / vacation)."
        if not report.is_bounce:
            return (
                "Not a bounce: no delivery failure found (not from MAILER-DAEMON, no failed or delayed "
                "recipient in a delivery-status report, no bounce subject or notice text)."
            )
        lines = ["Bounce: yes", f"Original Message-ID: {report.original_message_id or '(not found)'}"]
        if report.original_references:
            lines.append("References for matching: " + " ".join(report.original_references))
        if not report.bounced:
            lines.append("No recipient could be read from it; only the bounce+ token of the envelope can attribute it.")
            return "\n".join(lines)
        lines.append(f"Recipients ({len(report.bounced)}):")
        for recipient in report.bounced:
            lines.append(
                f"  {recipient.email}: action={recipient.action} status={recipient.status or '-'} "
                f"reason={recipient.reason} (by {recipient.evidence}) hard={'yes' if recipient.hard else 'no'}"
            )
            lines.append(f"    diagnostic: {recipient.diagnostic or '(none given)'}")
        return "\n".join(lines)
