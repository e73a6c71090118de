#!/usr/bin/env python
"""Run every benchmark, print a table of their figures, and write ``docs/benchmarks.md``.

    make bench                                   # = .venv-bench/bin/python bench/report.py --write docs/benchmarks.md
    .venv-bench/bin/python bench/report.py --short --write docs/benchmarks.md --note "…"

Each benchmark prints its figures on stdout, one line each (``name: key=value …``); this script
runs them one after another with the same Python, shows their progress as it comes, and then
prints one table row per figure with the command that printed it. Per-round lines
(``…_round:``) are kept out of the table and listed after it. ``--short`` runs every benchmark
on a small load (a check that all of them work, not a measure). A benchmark that fails is
reported as such, the others still run, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (script and arguments of the full run, extra arguments of --short)
BENCHMARKS: list[tuple[list[str], list[str]]] = [
    (["bench/outgoing.py", "--count", "10000", "--rounds", "3"], ["--count", "1000", "--rounds", "1"]),
    (["bench/outgoing_scale.py", "--small", "10000", "--large", "50000"], ["--small", "500", "--large", "2500"]),
    (
        ["bench/inbound.py", "--throughput-only", "--count", "3000", "--rounds", "3"],
        ["--count", "300", "--rounds", "1"],
    ),
    (["bench/chatter.py", "--db", "sqlite"], ["--requests", "5"]),
    (["bench/chatter.py", "--db", "postgresql"], ["--requests", "5"]),
    (["bench/bounces.py"], []),
    (
        ["bench/marketing.py", "--recipients", "10000", "--transactional-count", "10000"],
        ["--recipients", "2000", "--transactional-count", "1000"],
    ),
    (["bench/memory.py"], []),
]


def with_options(argv: list[str], options: list[str]) -> list[str]:
    """``argv`` with each ``--name value`` pair of ``options`` replacing the same option's value, or added."""
    argv = list(argv)
    for name, value in zip(options[::2], options[1::2], strict=True):
        if name in argv:
            argv[argv.index(name) + 1] = value
        else:
            argv += [name, value]
    return argv


def command_line(argv: list[str]) -> str:
    return " ".join([".venv-bench/bin/python", *argv])


def split_figures(lines: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """A benchmark's stdout: its figures as (name, value), and its per-round lines apart."""
    figures, per_round = [], []
    for line in lines:
        name, sep, value = line.partition(": ")
        if not sep or not name or " " in name:
            continue  # not a figure line
        if name.endswith("_round"):
            per_round.append(line)
        else:
            figures.append((name, value))
    return figures, per_round


def run(argv: list[str]) -> tuple[list[str], int, float]:
    """Run one benchmark from the repository root; (its stdout lines, exit status, seconds)."""
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, *argv], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        print(line, end="", flush=True)
        lines.append(line.rstrip("\n"))
    return lines, process.wait(), time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="small loads: checks that every benchmark works")
    parser.add_argument("--write", metavar="PATH", help="write the figures as Markdown to PATH (docs/benchmarks.md)")
    parser.add_argument("--note", default="", help="a sentence put under the date in the Markdown file")
    args = parser.parse_args()

    date = time.strftime("%Y-%m-%d", time.gmtime())  # what `date -u +%F` prints
    rows: list[tuple[str, str, str]] = []  # (figure, value, command)
    details: list[tuple[str, str]] = []  # (line, command)
    durations: list[tuple[str, float, int]] = []
    for full, short in BENCHMARKS:
        argv = with_options(full, short) if args.short else full
        command = command_line(argv)
        print(f"== {command}", file=sys.stderr, flush=True)
        lines, status, seconds = run(argv)
        durations.append((command, seconds, status))
        figures, per_round = split_figures(lines)
        rows += [(name, value, command) for name, value in figures]
        details += [(line, command) for line in per_round]
        if status != 0:
            rows.append(("FAILED", f"exit status {status}", command))

    width = max((len(name) for name, _, _ in rows), default=6)
    print()
    print(f"benchmarks {date}{' (short runs)' if args.short else ''}:")
    for name, value, command in rows:
        print(f"{name:<{width}}  {value}    [{command}]")
    if args.write:
        Path(args.write).write_text(markdown(date, args, rows, details, durations), encoding="utf-8")
        print(f"wrote {args.write}", file=sys.stderr)
    return 1 if any(status for _, _, status in durations) else 0


def markdown(
    date: str,
    args: argparse.Namespace,
    rows: list[tuple[str, str, str]],
    details: list[tuple[str, str]],
    durations: list[tuple[str, float, int]],
) -> str:
    out = [
        "# Benchmarks",
        "",
        f"Measured on {date} (UTC) by `make bench` (`bench/report.py`)"
        + (
            ", SHORT RUNS (`--short`): small loads that check every benchmark works, not a measure."
            if args.short
            else "."
        ),
        "",
    ]
    if args.note:
        out += [args.note, ""]
    out += [
        "What each script measures and how is in its docstring (`bench/<name>.py --help`). Ratios are",
        "medians of per-round ratios (the sides alternate round by round on this shared machine).",
        'The headline of the outgoing benchmark is the `commit=sync` line: every "sent" mark durable.',
        "`outgoing_scale` sends 10,000 and then 50,000 queued mails the same way (synchronous commits):",
        "the rate at 50,000 over the rate at 10,000, and a worker's peak memory at each size.",
        "The marketing benchmark's headline is `marketing_ratio`: the campaign's send rate over the",
        "transactional rate of the same run; its memory line compares a tenth of the campaign with all of it.",
        "",
        "| figure | value | command |",
        "| --- | --- | --- |",
    ]
    out += [f"| {name} | `{value}` | `{command}` |" for name, value, command in rows]
    if details:
        out += ["", "Per round:", ""]
        out += [f"- `{line}` (`{command}`)" for line, command in details]
    out += ["", "Time taken:", ""]
    out += [
        f"- `{command}`: {seconds:.0f} s" + (f" (exit {status})" if status else "")
        for command, seconds, status in durations
    ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
