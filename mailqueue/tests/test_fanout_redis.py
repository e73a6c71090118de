"""The Email Queue Manager fans out: every process of a prefork worker sends, nobody twice.

A real ``celery worker -P prefork -c 2`` runs as a subprocess on Redis and the PostgreSQL test
database; each pool process records the tasks it ran (its pid and what they sent) through
Celery's ``task_postrun`` signal into a file. One queue-cron run is rung; both pool processes
must have sent rows, and the sink must have every recipient exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from chatter.tests.factories import LeadFactory, PartnerFactory
from config.celery_app import app
from mailcore.testing.smtp import SmtpSink
from mailqueue import crons, dispatch
from mailqueue.models import Mail, MailState
from mailqueue.tests.test_sender import sink_server
from tests.celery_fixtures import wait_until
from tests.services import require_postgres, require_redis

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
ROWS = 40

_WORKER = textwrap.dedent(
    """
    import json, os
    import django
    django.setup()
    from django.conf import settings
    settings.MAILQUEUE_CLAIM_BATCH_SIZE = 4  # many small batches, so both processes get some
    from celery.signals import task_postrun
    from config.celery_app import app

    @task_postrun.connect
    def record(sender=None, retval=None, **kwargs):
        with open(os.environ["TASK_LOG"], "a") as log:
            log.write(json.dumps({"pid": os.getpid(), "task": sender.name, "retval": retval}) + "\\n")

    app.worker_main(["worker", "-P", "prefork", "-c", "2", "-l", "WARNING",
                     "--without-mingle", "--without-gossip", "--without-heartbeat"])
    """
)


def test_a_queue_run_fans_out_across_the_pool_processes(smtp_sink: SmtpSink, tmp_path: Path) -> None:
    require_postgres()
    broker = require_redis()
    sink_server(smtp_sink)
    original = smtp_sink.handler.handle_DATA

    async def slow_data(server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.02)  # a real server's pace: a batch takes long enough to be shared
        return str(await original(server, session, envelope))

    smtp_sink.handler.handle_DATA = slow_data  # type: ignore[method-assign]
    lead = LeadFactory(name="Fan-out")
    author = PartnerFactory(email="author@example.com")
    partners = [PartnerFactory(email=f"f{i}@example.com") for i in range(ROWS)]
    for partner in partners:
        lead.message_post(body="<p>Hi</p>", subtype="mt_comment", author=author, partner_ids=[partner.pk], urgent=False)
    assert Mail.objects.filter(state=MailState.OUTGOING).count() == ROWS
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")  # the posts' own doorbells: one run is rung below

    db = connection.settings_dict
    log = tmp_path / "tasks.jsonl"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": broker,
        "MAILCORE_SMTP_HOST": smtp_sink.host,
        "MAILCORE_SMTP_PORT": str(smtp_sink.port),
        "MAILCORE_LOG_FILE": "",
        "TASK_LOG": str(log),
    }
    worker = subprocess.Popen([sys.executable, "-c", _WORKER], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        app.send_task(crons.QUEUE_TASK)
        assert wait_until(lambda: len(smtp_sink.messages) >= ROWS, 60), f"{len(smtp_sink.messages)} sent"
        assert wait_until(lambda: not Mail.objects.filter(state=MailState.OUTGOING).exists(), 30)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            _, stderr = worker.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            _, stderr = worker.communicate()

    runs = [json.loads(line) for line in log.read_text().splitlines()]
    sent_by: Counter[int] = Counter()
    for run in runs:
        if run["task"] in (crons.QUEUE_TASK, dispatch.QUEUE_SEND_TASK):
            sent_by[run["pid"]] += int(run["retval"].get("done", 0))
    assert len(sent_by) == 2 and all(sent_by.values()), (sent_by, runs, stderr[-2000:])
    assert sum(sent_by.values()) == ROWS
    assert any(run["task"] == dispatch.QUEUE_SEND_TASK for run in runs)
    recipients = [rcpt for mail in smtp_sink.messages for rcpt in mail.rcpt_tos]
    assert sorted(recipients) == sorted(p.email_normalized for p in partners)  # each once
