#!/usr/bin/env python
"""Outgoing mail at two queue sizes: does the send rate or a worker's memory grow with the queue?

    make bench              # or: .venv-bench/bin/python bench/outgoing_scale.py [--small 10000] [--large 50000]

The mailcore side of ``bench/outgoing.py``, with its own functions, at two sizes: on a scratch
database (PostgreSQL ``mc_bench_outgoing_scale_<pid>`` when 127.0.0.1:5432 answers, else SQLite),
``--large`` contacts follow one record and the first ``--small`` of them another. Each round posts
once on the small record and sends the ``--small`` mails it queued, then posts once on the large
record and sends its ``--large`` mails: every send with ``--workers`` fresh processes of the Email
Queue Manager (``bench/outgoing.py``'s workers) and synchronous commits (every "sent" mark waits
for the disk, the durable setup; checked on the server, as ``bench/outgoing.py`` does), to
Postfix's ``smtp-sink``. A send's time runs from "go" until the sink holds every message and every
worker has exited (every notification ``sent``). Each worker reports its peak resident memory
(``VmHWM``) when done; a send's figure is its largest worker's.

Output (stdout; progress on stderr). The rates and memory are medians over the rounds, the ratio
is the median of the per-round ratios (large over small)::

    outgoing_scale_round: round=<r> rate_10k=<a>/s rate_50k=<b>/s peak_rss_10k_mb=<m> peak_rss_50k_mb=<n>
    outgoing_scale: rate_10k=<a>/s rate_50k=<b>/s ratio=<b/a> peak_rss_10k_mb=<m> peak_rss_50k_mb=<n>
        delta_mb=<n-m> commit=sync workers=<k> rounds=<r> db=<..>        (one line)
    outgoing_scale_targets: ratio>=0.9 delta_mb<=10

Network: 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.outgoing import (  # noqa: E402
    OUR_SETTINGS,
    SMTP_SINK,
    SmtpSink,
    bench_env,
    check_mailcore,
    make_followers,
    make_scratch,
    median_ratio,
    post_big,
    run_side,
    seed_ours,
)
from bench.scratch import choose_database, drop_database, log  # noqa: E402
from mailcore.testing.smtp import free_port  # noqa: E402

# One scratch database per run, so two benchmarks on one machine never drop each other's.
PG_BENCH_DB = f"mc_bench_outgoing_scale_{os.getpid()}"
OUTGOING = str(ROOT / "bench" / "outgoing.py")
SIDE = "mailcore_sync"
# The acceptance targets: the rate at the large size within 10% of the small one's, memory within 10 MB.
RATIO_TARGET = 0.9
DELTA_MB_TARGET = 10


def label(count: int) -> str:
    """``10k`` for 10000, else the count as it is."""
    return f"{count // 1000}k" if count % 1000 == 0 else str(count)


def scale_lines(
    small: int, large: int, rates: dict[int, list[float]], peaks_kb: dict[int, list[int]], tail: str
) -> list[str]:
    """The per-round lines and the summary line of a run (``tail`` ends the summary: commit mode, setup)."""
    s, g = label(small), label(large)
    lines = [
        f"outgoing_scale_round: round={index + 1} rate_{s}={rates[small][index]:.0f}/s "
        f"rate_{g}={rates[large][index]:.0f}/s peak_rss_{s}_mb={peaks_kb[small][index] / 1024:.1f} "
        f"peak_rss_{g}_mb={peaks_kb[large][index] / 1024:.1f}"
        for index in range(len(rates[small]))
    ]
    small_mb = statistics.median(peaks_kb[small]) / 1024
    large_mb = statistics.median(peaks_kb[large]) / 1024
    lines.append(
        f"outgoing_scale: rate_{s}={statistics.median(rates[small]):.0f}/s "
        f"rate_{g}={statistics.median(rates[large]):.0f}/s ratio={median_ratio(rates[large], rates[small]):.2f} "
        f"peak_rss_{s}_mb={small_mb:.1f} peak_rss_{g}_mb={large_mb:.1f} delta_mb={large_mb - small_mb:.1f} {tail}"
    )
    lines.append(f"outgoing_scale_targets: ratio>={RATIO_TARGET} delta_mb<={DELTA_MB_TARGET}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=10_000, help="mails queued and sent at the small size")
    parser.add_argument("--large", type=int, default=50_000, help="mails queued and sent at the large size")
    parser.add_argument("--workers", type=int, default=2, help="mailcore's sending processes")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of both sizes; medians are printed")
    parser.add_argument("--db", choices=["auto", "postgresql", "sqlite"], default="auto")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed per send")
    args = parser.parse_args()
    if not 0 < args.small < args.large:
        parser.error("--small must be positive and less than --large")

    if not Path(SMTP_SINK).exists():
        log("smtp-sink not found: install Debian's postfix package (`make bench` does)")
        return 2
    scratch = make_scratch()
    database_url, db_kind = choose_database(args.db, scratch, PG_BENCH_DB)
    port = free_port()
    env = bench_env(database_url, scratch, port)
    sender_env = {**env, "DJANGO_SETTINGS_MODULE": OUR_SETTINGS, "MAILQUEUE_ASYNCHRONOUS_COMMIT": "0"}
    senders = [[sys.executable, OUTGOING, "--worker", SIDE] for _ in range(args.workers)]
    os.environ.update(env)
    sink: SmtpSink | None = None
    rates: dict[int, list[float]] = {args.small: [], args.large: []}
    peaks_kb: dict[int, list[int]] = {args.small: [], args.large: []}
    commit_seen: set[str] = set()
    try:
        log(f"migrating a scratch {db_kind} database")
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=600)
        import django

        django.setup()
        from django.db import connection, connections

        from demo.models import Lead
        from mailcore.models import Partner

        sink = SmtpSink(port)
        log(f"{args.large} contacts following one record, the first {args.small} of them another")
        large_setup = seed_ours(args.large)
        small_lead = Lead.objects.create(name="Office Design Project (small)")
        first = Partner.objects.filter(email__endswith="@bench.example").order_by("pk")[: args.small]
        make_followers(small_lead, list(first))
        setups: dict[int, dict[str, Any]] = {
            args.large: large_setup,
            args.small: {"author": large_setup["author"], "lead": small_lead},
        }
        for round_number in range(1, args.rounds + 1):
            for count in (args.small, args.large):
                log(f"round {round_number}/{args.rounds}: queueing {count} mails")
                ours = post_big(setups[count], count)
                connections.close_all()
                log(f"round {round_number}/{args.rounds}: sending {count} with {args.workers} workers")
                took, reports = run_side(f"scale-{count}", senders, sender_env, sink, count, scratch, args.timeout)
                commit_seen.add(check_mailcore(SIDE, ours["message_id"], count, reports, connection.vendor))
                rates[count].append(count / took)
                peaks_kb[count].append(max(report["peak_kb"] for report in reports))
                log(f"{count}: {count / took:.0f}/s, peak {peaks_kb[count][-1] / 1024:.1f} MB")
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

    commit = "sync" if db_kind == "postgresql" else "n/a(sqlite)"
    tail = f"commit={commit} workers={args.workers} rounds={args.rounds} db={db_kind}"
    log("commit mode seen: " + "; ".join(sorted(commit_seen)))
    for line in scale_lines(args.small, args.large, rates, peaks_kb, tail):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
