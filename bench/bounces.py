#!/usr/bin/env python
"""How well and how fast ``parse_bounce`` reads bounces from many mail systems.

    .venv/bin/python bench/bounces.py            # the main virtualenv is enough
    .venv-bench/bin/python bench/bounces.py      # adds flufl.bounce (Mailman's detectors)

Scores the parser on the training corpus beside the repository
(``../shared/data/bounce-corpus/``: real bounces of about seventy mail systems with an answer
key, see ``bounces/tests/corpus.py``) and on our own samples (``bounces/tests/data/``), then
prints one line per figure, comparable across runs:

- ``recipient_precision`` / ``recipient_recall``: failed and delayed recipients found against
  the key, over every sample (negatives included: anything found there is a false recipient);
- ``exact_recipient_sets``: share of samples whose set of recipients is exactly the key's;
- ``category``, ``hard_soft``: share of the key's recipients found with an accepted reason
  category / hard flag; ``status``: share of the recipients whose report states an enhanced
  status code found with that code;
- ``message_id``: share of samples with a known returned Message-ID where we found it;
- ``false_positives``: negatives (feedback reports, auto-replies, success notices) reported as
  bounces; ``delays_as_failures``: delay notices with a recipient reported as failed;
- ``own_samples``: our samples whose ``--json`` result is exactly the expected one;
- ``rate``: bounces parsed per second in this one process over the whole corpus, by the wall
  clock and by the process's CPU time;
- ``flufl_recall`` (only when flufl.bounce is importable): its recipient recall on the corpus.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from email import message_from_bytes
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bounces.dsn import parse_bounce
from bounces.tests.corpus import CORPUS, Sample, load_corpus, run

DATA = Path(__file__).resolve().parents[1] / "bounces" / "tests" / "data"


def own_samples() -> tuple[int, int]:
    """``(exactly right, total)`` over ``bounces/tests/data/*.eml``."""
    samples = sorted(DATA.glob("*.eml"))
    right = 0
    for path in samples:
        expected = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        report = parse_bounce(path.read_bytes())
        result = report.to_json_dict()
        for key in ("is_auto_reply", "is_feedback_report", "feedback_email"):
            if key in expected:
                result[key] = getattr(report, key)
        right += result == expected
    return right, len(samples)


def parse_rate(raws: list[bytes], seconds: float) -> tuple[float, float]:
    """Bounces per second, parsing the corpus over and over for at least ``seconds``: by the
    wall clock, and by this process's CPU time (steadier on a shared machine)."""
    done = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    while True:
        for raw in raws:
            parse_bounce(raw)
        done += len(raws)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed, done / max(time.process_time() - cpu_start, 1e-9)


def flufl_recall(samples: list[Sample]) -> str | None:
    try:
        from flufl.bounce import all_failures
    except ImportError:
        return None
    logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)
    expected = matched = 0
    for sample in samples:
        wanted = {r["email"].lower() for r in sample.recipients}
        try:
            permanent, temporary = all_failures(message_from_bytes(sample.raw()))
            found = {a.decode("utf-8", "replace").strip("<>").lower() for a in permanent | temporary}
        except Exception:  # a detector crashing on a sample counts as finding nothing
            found = set()
        expected += len(wanted)
        matched += len(found & wanted)
    return f"{matched / expected:.3f}" if expected else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="corpus directory (with key.jsonl)")
    parser.add_argument("--seconds", type=float, default=3.0, help="how long to measure the parse rate")
    parser.add_argument("--misses", action="store_true", help="list the samples that are not exactly right")
    parser.add_argument(
        "--pin",
        type=Path,
        help="write each sample's results to this JSON file (the regression table of the corpus test)",
    )
    args = parser.parse_args()
    if not (args.corpus / "key.jsonl").exists():
        sys.exit(f"bounce corpus not found at {args.corpus} (expected key.jsonl and samples/)")
    samples = load_corpus(args.corpus)
    scores, results = run(samples)
    own_right, own_total = own_samples()
    counts = {kind: sum(1 for s in samples if s.set == kind) for kind in ("positive", "warning", "negative")}
    lines = [
        f"corpus: samples={scores.samples} positive={counts['positive']} warning={counts['warning']} "
        f"negative={counts['negative']} recipients={scores.expected}",
        f"recipient_precision: {scores.precision:.3f} ({scores.matched}/{scores.found})",
        f"recipient_recall: {scores.recall:.3f} ({scores.matched}/{scores.expected})",
        f"exact_recipient_sets: {scores.share(scores.exact_sets, scores.samples):.3f} "
        f"({scores.exact_sets}/{scores.samples})",
        f"category: {scores.share(scores.category_ok, scores.expected):.3f} ({scores.category_ok}/{scores.expected})",
        f"hard_soft: {scores.share(scores.hard_ok, scores.expected):.3f} ({scores.hard_ok}/{scores.expected})",
        f"status: {scores.share(scores.status_ok, scores.status_total):.3f} ({scores.status_ok}/{scores.status_total})",
        f"message_id: {scores.share(scores.message_id_ok, scores.message_id_total):.3f} "
        f"({scores.message_id_ok}/{scores.message_id_total})",
        f"false_positives: {len(scores.false_positives)}/{scores.negatives} "
        f"{' '.join(scores.false_positives)}".rstrip(),
        f"delays_as_failures: {len(scores.delays_as_failures)}/{scores.warnings} "
        f"{' '.join(scores.delays_as_failures)}".rstrip(),
        f"own_samples: {own_right}/{own_total}",
        "rate: {:.0f} bounces/s (one process; {:.0f}/s of its CPU time)".format(
            *parse_rate([s.raw() for s in samples], args.seconds)
        ),
    ]
    flufl = flufl_recall(samples)
    if flufl is not None:
        lines.append(f"flufl_recall: {flufl}")
    print("\n".join(lines))
    if args.pin:
        pinned = {result.name: result.row() for result in results}
        lines = [f"{json.dumps(name)}: {json.dumps(row, sort_keys=True)}" for name, row in sorted(pinned.items())]
        args.pin.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")
    if args.misses:
        by_name = {s.name: s for s in samples}
        for result in results:
            expected_ok = len(result.expected)
            if (
                result.found != result.expected
                or result.category_ok < expected_ok
                or result.hard_ok < expected_ok
                or result.status_ok < result.status_total
                or result.message_id_ok is False
                or result.false_positive
                or result.delay_as_failure
            ):
                print(f"miss: {result.name} [{by_name[result.name].mta}] {json.dumps(result.row())}")


if __name__ == "__main__":
    main()
