"""``manage.py send_campaign ID``: queue a campaign now and process it in this process, with a progress bar.

For scripts and for seeing a campaign through without waiting for the cron: the same checks as
the Send button, the same marketing queue (oldest first, batches, resumable), then the outgoing
rows are left to the Email Queue Manager unless ``--deliver`` sends them here too.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mailqueue.sender import send_mails
from marketing.exceptions import MailingNotReady
from marketing.models import Mailing, MailingState, MailingTrace, TraceStatus
from marketing.queue import mailing_process
from marketing.recipients import recipient_forecast
from marketing.services import mailing_put_in_queue


class Command(BaseCommand):
    help = "Queue and process one e-mail marketing campaign now, with a progress bar."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("mailing_id", type=int)
        parser.add_argument("--deliver", action="store_true", help="Also send the queued rows from this process.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            mailing = Mailing.objects.get(pk=options["mailing_id"])
        except Mailing.DoesNotExist as exc:
            raise CommandError(f"No campaign {options['mailing_id']}.") from exc
        if mailing.state == MailingState.DRAFT:
            try:
                mailing_put_in_queue(mailing=mailing)
            except MailingNotReady as exc:
                raise CommandError("The campaign cannot be sent:\n- " + "\n- ".join(exc.errors)) from exc
        elif mailing.state not in {MailingState.IN_QUEUE, MailingState.SENDING}:
            raise CommandError(f"The campaign is {mailing.get_state_display()}: nothing to send.")
        total = recipient_forecast(mailing)
        expected = total.to_mail + sum(total.excluded.values()) + total.already_handled
        start = time.monotonic()
        while True:
            done = mailing_process(mailing, deadline=time.monotonic() + 1.0)
            handled = MailingTrace.objects.filter(mailing=mailing).count()
            self._bar(handled, expected, time.monotonic() - start)
            mailing.refresh_from_db()
            if done or mailing.state != MailingState.SENDING:
                break
        self.stdout.write("")
        if mailing.state == MailingState.FAILED:
            raise CommandError(f"The campaign failed: {mailing.state_reason}")
        queued = MailingTrace.objects.filter(mailing=mailing, trace_status=TraceStatus.OUTGOING).count()
        excluded = MailingTrace.objects.filter(mailing=mailing, trace_status=TraceStatus.CANCEL).count()
        self.stdout.write(f"Campaign {mailing.pk}: {queued} e-mails queued, {excluded} recipients left out.")
        if options["deliver"]:
            report = send_mails()
            self.stdout.write(
                f"Sent {report.sent}, failed {report.failed}, waiting for the daily limit {report.deferred_quota}."
            )

    def _bar(self, done: int, total: int, seconds: float) -> None:
        width = 30
        filled = width if not total else min(width, width * done // total)
        rate = done / seconds if seconds > 0 else 0.0
        line = f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} recipients  {rate:.0f}/s"
        self.stdout.write(line, ending="")
        if hasattr(sys.stdout, "flush"):
            self.stdout.flush()
