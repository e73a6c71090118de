#!/usr/bin/env python
"""A campaign to 100,000 recipients: queued by the marketing queue, then sent by the Email Queue Manager.

    make bench              # or: .venv/bin/python bench/marketing.py [--recipients 100000] [--workers 2]

On a scratch database (PostgreSQL ``mc_bench_marketing_<pid>`` when 127.0.0.1:5432 answers, else
SQLite), ``--recipients`` contacts are created in bulk and subscribed to one mailing list; a
campaign to that list (a personalised body with a link, opens and clicks counted, unsubscribe
links and headers: everything a real campaign renders) is queued and sent to Postfix's
``smtp-sink``. Steps, in this order:

1. **transactional**: what ``bench/outgoing.py`` measures (its own functions): one bulk post on a
   record with ``--transactional-count`` followers, sent by ``--workers`` processes of the Email
   Queue Manager. Measured before the campaign is queued, since the queue sends oldest first.
2. **memory at a tenth of the size**: a campaign to the first ``--recipients``/10 contacts, queued
   by a fresh worker process (its peak resident memory, ``VmHWM``, is read at the end); its queue
   rows are then dropped unsent.
3. **queue**: the full campaign, queued by a fresh worker process running the marketing cron's
   ``process_marketing_queue`` (a separate OS process, as a Celery pool process is): recipients
   per second, its peak memory, and the queries of every batch transaction (the campaign's lock
   included), counted with an execute wrapper, which must not depend on the batch's position.
4. **send**: ``--workers`` processes run ``mailqueue.sender.process_email_queue`` (the workers of
   ``bench/outgoing.py``) until the sink holds every campaign mail and every trace is ``sent``.

Both sends use the same commit mode (``--commit``; the app's default is asynchronous) and the
sizes of one message of each are printed. Output (stdout; progress on stderr):

    marketing_sizes: campaign=<bytes> transactional=<bytes> (bytes per message)
    marketing_queue: recipients=<n> rate=<r>/s batches=<b> queries_per_batch=<q> first_batch=<q1> constant=yes db=<..>
    marketing_send: n=<n> rate=<r>/s workers=<k> commit=<mode> transactional_rate=<t>/s (n=<m>)
    marketing_memory: recipients=<n/10> peak_rss_mb=<a> ; recipients=<n> peak_rss_mb=<b>
    marketing_ratio: send_rate/transactional_rate=<x> target=0.8

Network: 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.outgoing import (  # noqa: E402
    OUR_SETTINGS,
    SMTP_SINK,
    SmtpSink,
    Workers,
    bench_env,
    check_commit,
    check_mailcore,
    mailcore_content,
    make_scratch,
    post_big,
    run_side,
    seed_ours,
)
from bench.scratch import choose_database, drop_database, log, own_peak_rss_kb  # noqa: E402
from mailcore.testing.smtp import free_port  # noqa: E402

# One scratch database per run, so two benchmarks on one machine never drop each other's.
PG_BENCH_DB = f"mc_bench_marketing_{os.getpid()}"
OUTGOING = str(ROOT / "bench" / "outgoing.py")
RATIO_TARGET = 0.8
CHUNK = 5000  # contacts created per bulk statement group (keeps the setup's memory flat)

SUBJECT = "{{ contact.first_name }}, our new office range is here"
BODY = (
    "<p>Hello {{ contact.first_name }},</p><p>Our new <b>office range</b> is here: desks, chairs and "
    "cabinets, delivered and installed within three weeks. "
    '<a href="https://www.example.com/office-range">See the collection</a>.</p>'
    "<p>Best regards,<br>Mitchell Admin</p>"
)


# --- pure helpers (tested in tests/test_bench.py) ---------------------------------------------------
def batch_queries(starts: list[int], total: int) -> list[int]:
    """Queries of each batch transaction, from the query counter's value as each batch began and
    its value at the end of the run: batch i runs from its start to the next batch's start."""
    bounds = [*starts, total]
    return [end - start for start, end in itertools.pairwise(bounds)]


def query_profile(per_batch: list[int]) -> tuple[int, int, bool]:
    """(first batch's queries, the usual batch's queries, whether every later batch has the usual count).

    The first batch also creates the campaign's chatter message, and the last looks once more and
    finds nobody left, so neither is held to the usual count; every other batch must make
    exactly as many queries wherever it falls in the campaign (else the count grows with its size).
    """
    if not per_batch:
        return 0, 0, True
    middle = per_batch[1:-1]
    if not middle:  # a single batch: it is the usual one
        return per_batch[0], per_batch[0], True
    usual = statistics.mode(middle)
    return per_batch[0], usual, all(count == usual for count in middle)


# --- the queue worker (run as: bench/marketing.py --worker queue) -----------------------------------
def queue_worker() -> None:
    """Say ``ready``, wait for ``go``, run the marketing cron's queue; print what it counted."""
    import django

    django.setup()
    from django.db import connection

    import marketing.queue as queue

    connection.ensure_connection()
    counter = [0]
    starts: list[int] = []
    original = queue._queue_batch

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        counter[0] += 1
        return execute(sql, params, many, context)

    def marked(mailing: Any, size: int) -> int:
        # The batch's transaction began with the campaign's lock, one query ago.
        starts.append(counter[0] - 1)
        return original(mailing, size)

    # Only a marker: the batch itself runs unchanged.
    queue._queue_batch = marked
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    with connection.execute_wrapper(count):
        started = time.perf_counter()
        result = queue.process_marketing_queue(time_budget=3600)
        seconds = time.perf_counter() - started
    # The run ends with one more lock and the update to "sent" in the last (empty) batch.
    per_batch = batch_queries(starts, counter[0])
    peak = own_peak_rss_kb()
    print(
        json.dumps(
            {"done": result.done, "failed": result.failed, "seconds": seconds, "batches": per_batch, "peak_kb": peak}
        ),
        flush=True,
    )


# --- setup ---------------------------------------------------------------------------------------
def seed_contacts(count: int, small: int) -> tuple[Any, Any]:
    """``count`` contacts on one list, the first ``small`` of them on a second; returns the two lists."""
    from mailcore.models import Partner
    from marketing.models import MailingList, MailingSubscription

    everyone = MailingList.objects.create(name="Bench: all customers")
    tenth = MailingList.objects.create(name="Bench: a tenth of them")
    for start in range(0, count, CHUNK):
        contacts = Partner.objects.bulk_create(
            [
                Partner(
                    name=f"Customer{i} Example",
                    email=f"customer{i}@campaign.example",
                    email_normalized=f"customer{i}@campaign.example",
                )
                for i in range(start, min(start + CHUNK, count))
            ]
        )
        rows = [MailingSubscription(contact=c, mailing_list=everyone) for c in contacts]
        rows += [MailingSubscription(contact=c, mailing_list=tenth) for i, c in enumerate(contacts, start) if i < small]
        MailingSubscription.objects.bulk_create(rows, batch_size=CHUNK)
    return everyone, tenth


def make_campaign(mailing_list: Any) -> Any:
    """A campaign to ``mailing_list``, due now."""
    from marketing.models import Mailing, MailingState
    from marketing.validation import mailing_errors

    mailing = Mailing.objects.create(
        subject=SUBJECT,
        preview="Desks, chairs and cabinets, installed within three weeks",
        email_from="Mitchell Admin <admin@mailcore.localhost>",
        body_html=BODY,
        state=MailingState.DRAFT,
    )
    mailing.mailing_lists.set([mailing_list])
    problems = mailing_errors(mailing)
    if problems:
        raise RuntimeError(f"the benchmark's campaign is invalid: {problems}")
    mailing.state = MailingState.IN_QUEUE
    mailing.save(update_fields=["state"])
    return mailing


def campaign_rows(mailing: Any) -> Any:
    from django.contrib.contenttypes.models import ContentType

    from mailqueue.models import Mail
    from marketing.models import Mailing

    return Mail.objects.filter(message__model=ContentType.objects.get_for_model(Mailing), message__res_id=mailing.pk)


def queue_campaign(mailing: Any, count: int, env: dict[str, str], scratch: Path, timeout: float) -> dict[str, Any]:
    """Queue ``mailing`` in a fresh worker process; its report, checked (every recipient queued)."""
    from django.db import connections

    from marketing.models import MailingState, MailingTrace, TraceStatus

    connections.close_all()
    workers = Workers([[sys.executable, str(Path(__file__).resolve()), "--worker", "queue"]], env, scratch, "queue")
    try:
        workers.wait_ready()
        workers.go()
        workers.wait_done(timeout)
        (report,) = workers.reports()
    finally:
        workers.kill()
    mailing.refresh_from_db()
    outgoing = MailingTrace.objects.filter(mailing=mailing, trace_status=TraceStatus.OUTGOING).count()
    rows = campaign_rows(mailing).count()
    if mailing.state != MailingState.DONE or outgoing != count or rows != count:
        raise RuntimeError(
            f"campaign {mailing.pk}: state {mailing.state} ({mailing.state_reason}), {outgoing} traces "
            f"outgoing and {rows} queue rows for {count} recipients\n{workers.tail()}"
        )
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=100_000, help="the campaign's recipients")
    parser.add_argument("--workers", type=int, default=2, help="sending processes (both sends)")
    parser.add_argument(
        "--transactional-count", type=int, default=10_000, help="followers of the transactional post (as outgoing.py)"
    )
    parser.add_argument("--commit", choices=["async", "sync"], default="async", help="the senders' commit mode")
    parser.add_argument("--db", choices=["auto", "postgresql", "sqlite"], default="auto")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed per step")
    parser.add_argument("--worker", choices=["queue"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        queue_worker()
        return 0
    if args.recipients < 10:
        parser.error("--recipients must be at least 10 (a tenth of it is measured too)")

    if not Path(SMTP_SINK).exists():
        log("smtp-sink not found: install Debian's postfix package (`make bench` does)")
        return 2
    scratch = make_scratch()
    database_url, db_kind = choose_database(args.db, scratch, PG_BENCH_DB)
    port = free_port()
    env = {**bench_env(database_url, scratch, port), "DJANGO_SETTINGS_MODULE": OUR_SETTINGS}
    side = f"mailcore_{args.commit}"
    sender_env = {**env, "MAILQUEUE_ASYNCHRONOUS_COMMIT": "1" if args.commit == "async" else "0"}
    senders = [[sys.executable, OUTGOING, "--worker", side] for _ in range(args.workers)]
    os.environ.update(env)
    sink: SmtpSink | None = None
    small = args.recipients // 10
    try:
        log(f"migrating a scratch {db_kind} database")
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=600)
        import django

        django.setup()
        from django.db import connection, connections

        from mailqueue.models import Mail
        from mailqueue.sender.build import render_unsent
        from marketing.models import MailingTrace, TraceStatus

        sink = SmtpSink(port)

        log(f"transactional: a post to {args.transactional_count} followers, sent by {args.workers} workers")
        setup = seed_ours(args.transactional_count)
        first = post_big(setup, args.transactional_count)  # only rendered for its size, then dropped
        _, transactional_size = mailcore_content(first["message_id"])
        Mail.objects.filter(message_id=first["message_id"]).delete()
        ours = post_big(setup, args.transactional_count)
        connections.close_all()
        took, reports = run_side(
            "transactional", senders, sender_env, sink, args.transactional_count, scratch, args.timeout
        )
        commit_seen = check_mailcore(side, ours["message_id"], args.transactional_count, reports, connection.vendor)
        transactional_rate = args.transactional_count / took

        log(f"{args.recipients} contacts on a mailing list (and {small} on another)")
        everyone, tenth = seed_contacts(args.recipients, small)

        log(f"queueing a campaign to {small} (memory at a tenth of the size)")
        small_campaign = make_campaign(tenth)
        small_report = queue_campaign(small_campaign, small, env, scratch, args.timeout)
        sample = campaign_rows(small_campaign).order_by("pk").first()
        assert sample is not None
        campaign_size = len(render_unsent(sample))
        campaign_rows(small_campaign).delete()  # not sent: the send measured is the full campaign's

        log(f"queueing the campaign to {args.recipients}")
        campaign = make_campaign(everyone)
        report = queue_campaign(campaign, args.recipients, env, scratch, args.timeout)

        log(f"sending {args.recipients} campaign mails with {args.workers} workers")
        connections.close_all()
        send_took, send_reports = run_side(
            "campaign", senders, sender_env, sink, args.recipients, scratch, args.timeout
        )
        sent = MailingTrace.objects.filter(mailing=campaign, trace_status=TraceStatus.SENT).count()
        if sent != args.recipients:
            raise RuntimeError(f"campaign: {sent} traces sent of {args.recipients}")
        commit_seen += " campaign:" + check_commit(side, send_reports, connection.vendor)
        connections.close_all()
    finally:
        if sink is not None:
            sink.stop()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # Django may not be set up yet
            pass
        drop_database(db_kind, PG_BENCH_DB)
        shutil.rmtree(scratch, ignore_errors=True)

    send_rate = args.recipients / send_took
    first_batch, usual, constant = query_profile(report["batches"])
    print(f"marketing_sizes: campaign={campaign_size} transactional={transactional_size} (bytes per message)")
    print(
        f"marketing_queue: recipients={args.recipients} rate={args.recipients / report['seconds']:.0f}/s "
        f"batches={len(report['batches']) - 1} queries_per_batch={usual} first_batch={first_batch} "
        f"constant={'yes' if constant else 'NO ' + ','.join(map(str, report['batches']))} db={db_kind}"
    )
    print(
        f"marketing_send: n={args.recipients} rate={send_rate:.0f}/s workers={args.workers} commit={args.commit} "
        f"({commit_seen}) transactional_rate={transactional_rate:.0f}/s (n={args.transactional_count})"
    )
    print(
        f"marketing_memory: recipients={small} peak_rss_mb={small_report['peak_kb'] / 1024:.0f} ; "
        f"recipients={args.recipients} peak_rss_mb={report['peak_kb'] / 1024:.0f}"
    )
    print(f"marketing_ratio: send_rate/transactional_rate={send_rate / transactional_rate:.2f} target={RATIO_TARGET}")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
