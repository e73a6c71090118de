"""The benchmark scripts' own logic: what they count, compare and report (the runs are `make bench`)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from bench.marketing import batch_queries, query_profile
from bench.memory import rss_kb, start_time, tree_of
from bench.outgoing import SWITCH_OFF, median_ratio, smtplib_messages
from bench.outgoing_scale import label, scale_lines
from bench.report import BENCHMARKS, ROOT, split_figures, with_options
from bench.scratch import peak_rss_kb


def test_report_keeps_figures_and_sets_per_round_lines_apart() -> None:
    lines = [
        "outgoing_sizes: mailcore=1895 post_office=1823 mailer=1822 smtplib=1894 (bytes per message)",
        "outgoing_round: round=1 mailcore_sync=137/s",
        "[bench] progress that went to stdout by mistake",
        "",
        "outgoing: commit=sync ratio_post_office=0.73 ratio_mailer=2.77 ratio_smtplib=0.08",
    ]
    figures, per_round = split_figures(lines)
    assert figures == [
        ("outgoing_sizes", "mailcore=1895 post_office=1823 mailer=1822 smtplib=1894 (bytes per message)"),
        ("outgoing", "commit=sync ratio_post_office=0.73 ratio_mailer=2.77 ratio_smtplib=0.08"),
    ]
    assert per_round == ["outgoing_round: round=1 mailcore_sync=137/s"]


def test_report_runs_every_benchmark_script() -> None:
    scripts = {
        path.name
        for path in (ROOT / "bench").glob("*.py")
        if path.name != "report.py" and path.read_text(encoding="utf-8").startswith("#!")
    }
    assert {Path(argv[0]).name for argv, _short in BENCHMARKS} == scripts


def test_short_runs_replace_the_options_of_the_full_run() -> None:
    full = ["bench/outgoing.py", "--count", "10000", "--rounds", "3"]
    assert with_options(full, ["--count", "1000", "--requests", "5"]) == [
        "bench/outgoing.py",
        "--count",
        "1000",
        "--rounds",
        "3",
        "--requests",
        "5",
    ]
    assert full == ["bench/outgoing.py", "--count", "10000", "--rounds", "3"]


def test_ratio_is_the_median_of_the_per_round_ratios_not_the_ratio_of_medians() -> None:
    ours = [100.0, 300.0, 200.0]
    peer = [50.0, 100.0, 200.0]  # per round: 2.0, 3.0, 1.0
    assert median_ratio(ours, peer) == 2.0
    assert median_ratio([100.0, 400.0, 90.0], [100.0, 100.0, 10.0]) == 4.0  # ratio of medians would be 1.0


def test_scale_line_compares_the_large_queue_with_the_small_one_round_by_round() -> None:
    rates = {10_000: [1000.0, 1200.0, 900.0], 50_000: [1000.0, 1080.0, 990.0]}  # per round: 1.0, 0.9, 1.1
    peaks_kb = {10_000: [98_304, 97_280, 99_328], 50_000: [104_448, 103_424, 102_400]}
    *rounds, summary, targets = scale_lines(10_000, 50_000, rates, peaks_kb, "commit=sync workers=2")
    assert rounds[1] == (
        "outgoing_scale_round: round=2 rate_10k=1200/s rate_50k=1080/s peak_rss_10k_mb=95.0 peak_rss_50k_mb=101.0"
    )
    figures, per_round = split_figures([*rounds, summary, targets])
    assert len(per_round) == 3 and [name for name, _ in figures] == ["outgoing_scale", "outgoing_scale_targets"]
    assert summary == (
        "outgoing_scale: rate_10k=1000/s rate_50k=1000/s ratio=1.00 peak_rss_10k_mb=96.0 peak_rss_50k_mb=101.0 "
        "delta_mb=5.0 commit=sync workers=2"
    )
    assert targets == "outgoing_scale_targets: ratio>=0.9 delta_mb<=10"
    assert (label(50_000), label(2_500)) == ("50k", "2500")


def test_asynchronous_commit_statement_is_recognised() -> None:
    assert SWITCH_OFF.search("SET synchronous_commit TO off")
    assert SWITCH_OFF.search("SET LOCAL synchronous_commit = 'off'")
    assert not SWITCH_OFF.search("RESET synchronous_commit")
    assert not SWITCH_OFF.search("SET synchronous_commit TO on")
    assert not SWITCH_OFF.search("SHOW synchronous_commit")


def test_smtplib_peer_sends_the_parts_and_headers_it_is_given() -> None:
    content = {
        "from": "Mitchell Admin <admin@mailcore.localhost>",
        "subject": "Office Design Project: new proposal",
        "text": "Hello,\nPlease find below the updated proposal.\n",
        "html": "<p>Hello,</p><p>Please find below the updated proposal.</p>\n",
        "headers": {"In-Reply-To": "<a@mailcore>", "X-Mailcore-Objects": "1-2"},
    }
    (recipient, raw), second = smtplib_messages(content, 2)
    assert recipient == "customer0@bench.example" and second[0] == "customer1@bench.example"
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == content["subject"] and parsed["In-Reply-To"] == "<a@mailcore>"
    # On the wire every line ends in CRLF.
    text = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert text.replace("\r\n", "\n") == content["text"]
    assert html.replace("\r\n", "\n") == content["html"]


def test_memory_walks_the_whole_tree_and_tells_a_gone_process() -> None:
    script = (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    grandchild = 0
    try:
        assert child.stdout is not None
        grandchild = int(child.stdout.readline())
        pids = tree_of(child.pid)
        assert set(pids) == {child.pid, grandchild}
        assert all(rss_kb(pid) > 0 for pid in pids)
        started = start_time(grandchild)
        assert started is not None and started == start_time(grandchild)
    finally:
        for pid in (grandchild, child.pid):
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        child.wait(timeout=10)
        child.stdout.close()  # type: ignore[union-attr]
    assert start_time(child.pid) is None


@pytest.mark.parametrize("pid", [0, 10**9])
def test_memory_counts_nothing_for_a_missing_process(pid: int) -> None:
    assert rss_kb(pid) == 0


def test_marketing_batches_are_cut_at_each_batch_start() -> None:
    # Batches began when the query counter read 3, 20 and 36; the run ended at 41.
    assert batch_queries([3, 20, 36], 41) == [17, 16, 5]
    assert batch_queries([], 7) == []


def test_marketing_query_profile_leaves_out_the_first_and_the_empty_last_batch() -> None:
    assert query_profile([20, 16, 16, 16, 5]) == (20, 16, True)
    # A count that grows with the batch's position (a query per earlier batch) is not constant.
    first, usual, constant = query_profile([20, 16, 17, 18, 18, 5])
    assert (first, constant) == (20, False) and usual == 18
    assert query_profile([20, 5]) == (20, 20, True)  # one batch: nothing to compare it with
    assert query_profile([]) == (0, 0, True)


def test_peak_memory_is_read_from_the_process_status() -> None:
    status = "Name:\tpython\nVmPeak:\t  300000 kB\nVmHWM:\t  112640 kB\nVmRSS:\t  100000 kB\n"
    assert peak_rss_kb(status) == 112640
    with open("/proc/self/status", encoding="ascii") as own:
        assert peak_rss_kb(own.read()) > 0
    with pytest.raises(ValueError, match="VmHWM"):
        peak_rss_kb("Name:\tpython\n")
