"""A sending process killed with SIGKILL mid-row: nobody served is sent to again, nothing is lost.

The sender runs in a real subprocess on the test database, against a real SMTP sink on loopback.
The subprocess kills itself (SIGKILL, no cleanup of any kind) at a chosen point of its third
recipient: right after the server accepted it but before its "sent" mark, or right after the
mark left for the database, before its answer is read (PostgreSQL commits it all the same). A
second process then takes the row over once the (short) lease of the dead one ends.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from chatter.tests.factories import PartnerFactory
from mailcore.testing.smtp import SmtpSink
from mailqueue.models import DeliveryLog, Mail, MailRecipient, RecipientState
from mailqueue.tests.test_sender import post, row_of, sink_server
from tests.services import require_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 3

# Runs send_mails() once; with KILL_AT set, SIGKILLs itself around the mark of the third recipient.
_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import django
    django.setup()
    from django.conf import settings
    if os.environ["LEASE_SECONDS"]:
        settings.MAILQUEUE_LEASE_SECONDS = int(os.environ["LEASE_SECONDS"])
    from mailqueue.sender import deliver, send_mails

    kill_at = os.environ.get("KILL_AT", "")
    original = deliver._record_sent
    marks = []

    def record_sent(job, outcome, *rest):
        if len(marks) == 2 and kill_at == "before_mark":
            os.kill(os.getpid(), signal.SIGKILL)  # the server said 250; the mark is not written
        original(job, outcome, *rest)
        marks.append(outcome.recipient.pk)
        if len(marks) == 3 and kill_at == "after_mark":
            # The mark has left, its answer not read yet: dead before it comes, or any bookkeeping.
            os.kill(os.getpid(), signal.SIGKILL)

    deliver._record_sent = record_sent
    report = send_mails(worker="crash-test")
    print("sent", report.sent)
    """
)


def _run_sender(kill_at: str = "", lease_seconds: int | None = LEASE_SECONDS) -> subprocess.CompletedProcess[str]:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "LEASE_SECONDS": "" if lease_seconds is None else str(lease_seconds),
        "KILL_AT": kill_at,
    }
    return subprocess.run(
        [sys.executable, "-c", _SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def _sent_to(sink: SmtpSink) -> list[str]:
    return [rcpt for mail in sink.messages for rcpt in mail.rcpt_tos]


def _marked(row: Mail) -> set[str]:
    return {
        r.partner.email_normalized
        for r in MailRecipient.objects.filter(mail=row, state=RecipientState.SENT).select_related("partner")
    }


@pytest.mark.parametrize("kill_at", ["before_mark", "after_mark"])
def test_a_killed_sender_never_resends_to_a_served_recipient(smtp_sink: SmtpSink, kill_at: str) -> None:
    require_postgres()
    sink_server(smtp_sink)
    partners = [PartnerFactory(name=f"K{i}", email=f"k{i}@example.com") for i in range(5)]
    row = row_of(post(*partners))
    addresses = [p.email_normalized for p in partners]

    dead = _run_sender(kill_at)

    assert dead.returncode == -signal.SIGKILL, dead.stderr
    assert _sent_to(smtp_sink) == addresses[:3]  # the server accepted three messages
    served = addresses[:3] if kill_at == "after_mark" else addresses[:2]
    assert _marked(row) == set(served)
    # Every mark came with its delivery-log entry, though the process died before any flush.
    logs = DeliveryLog.objects.filter(mail_id_ref=row.pk)
    assert sorted(log.recipient for log in logs) == served
    assert all(log.success and log.content_id for log in logs)
    leased = Mail.objects.get(pk=row.pk)
    assert leased.lease_owner.startswith("crash-test")
    assert leased.lease_until is not None and leased.lease_until <= timezone.now() + dt.timedelta(
        seconds=LEASE_SECONDS + 1
    )

    time.sleep(max((leased.lease_until - timezone.now()).total_seconds(), 0) + 0.2)
    again = _run_sender()

    assert again.returncode == 0, again.stderr
    resent = _sent_to(smtp_sink)[3:]
    # Only the recipients not marked go out again: the one the server took just before the kill
    # when its mark was never written (unavoidable: nothing says it was served), never a marked one.
    assert resent == [a for a in addresses if a not in served]
    assert sorted(DeliveryLog.objects.filter(mail_id_ref=row.pk).values_list("recipient", flat=True)) == sorted(
        addresses
    )


def test_a_mark_that_left_is_committed_though_the_sender_died_before_it_ran(smtp_sink: SmtpSink) -> None:
    # The mark does not wait for its answer. Here the third recipient's row is locked by another
    # session while the sender runs, so its mark can only run after the sender is dead: it must
    # be committed all the same, and that recipient never served again.
    require_postgres()
    sink_server(smtp_sink)
    partners = [PartnerFactory(name=f"L{i}", email=f"l{i}@example.com") for i in range(4)]
    row = row_of(post(*partners))
    third = MailRecipient.objects.filter(mail=row).order_by("pk")[2]
    db = connection.settings_dict
    with psycopg.connect(
        f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}", autocommit=False
    ) as locker:
        locker.execute(f"SELECT 1 FROM {MailRecipient._meta.db_table} WHERE id = %s FOR UPDATE", [third.pk])
        dead = _run_sender("after_mark")
        assert dead.returncode == -signal.SIGKILL, dead.stderr
        third.refresh_from_db()
        assert third.state == RecipientState.PENDING  # still waiting for the lock
        locker.rollback()
    deadline = time.monotonic() + 10
    while third.state != RecipientState.SENT and time.monotonic() < deadline:
        time.sleep(0.05)
        third.refresh_from_db()

    addresses = [p.email_normalized for p in partners]
    assert _marked(row) == set(addresses[:3])
    assert DeliveryLog.objects.filter(recipient_ref=third.pk, success=True).exists()
    leased = Mail.objects.get(pk=row.pk)
    assert leased.lease_until is not None
    time.sleep(max((leased.lease_until - timezone.now()).total_seconds(), 0) + 0.2)
    again = _run_sender()
    assert again.returncode == 0, again.stderr
    assert _sent_to(smtp_sink) == addresses  # the fourth only, once


def test_a_killed_senders_rows_come_back_within_a_minute_by_default(smtp_sink: SmtpSink) -> None:
    # The default lease is short because it is renewed while the worker sends: a killed worker's
    # unsent recipients wait at most a minute, not the five minutes of the old lease.
    require_postgres()
    sink_server(smtp_sink)
    partners = [PartnerFactory(name=f"D{i}", email=f"d{i}@example.com") for i in range(4)]
    row = row_of(post(*partners))
    before = timezone.now()

    dead = _run_sender("before_mark", lease_seconds=None)

    assert dead.returncode == -signal.SIGKILL, dead.stderr
    leased = Mail.objects.get(pk=row.pk)
    assert leased.lease_until is not None
    assert before + dt.timedelta(seconds=30) < leased.lease_until <= timezone.now() + dt.timedelta(seconds=60)
