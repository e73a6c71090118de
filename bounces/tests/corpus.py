"""Scoring :func:`bounces.dsn.parse_bounce` on a labelled bounce corpus.

Shared by ``bench/bounces.py`` (which prints the scores) and ``test_dsn_training_corpus.py``
(which holds them). The corpus lives beside the repository, in ``shared/data/bounce-corpus/``:
``key.jsonl`` has one line per sample with its ``set`` (``positive`` = final failure, ``warning``
= delay notice, ``negative`` = not a bounce), the expected recipients (address, accepted reason
categories, accepted hard/soft values, enhanced status when the report states one) and the
Message-ID of the returned message.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bounces.dsn import BounceReport, parse_bounce

REPOSITORY = Path(__file__).resolve().parents[2]
CORPUS = REPOSITORY.parent / "shared" / "data" / "bounce-corpus"


@dataclass(frozen=True)
class Sample:
    name: str
    path: Path
    set: str
    mta: str
    recipients: list[dict[str, Any]]
    original_message_id: str | None

    def raw(self) -> bytes:
        return self.path.read_bytes()


def load_corpus(root: Path = CORPUS) -> list[Sample]:
    """Every sample of ``key.jsonl`` (raises FileNotFoundError when the corpus is missing)."""
    samples = []
    with (root / "key.jsonl").open(encoding="utf-8") as key:
        for line in key:
            if not line.strip():
                continue
            row = json.loads(line)
            path = root / row["file"]
            samples.append(
                Sample(
                    name=path.stem,
                    path=path,
                    set=row["set"],
                    mta=row["mta"],
                    recipients=row["recipients"],
                    original_message_id=row.get("original_message_id"),
                )
            )
    return samples


@dataclass(frozen=True)
class SampleResult:
    """What the parser got right on one sample (one row of the regression table)."""

    name: str
    found: frozenset[str]
    expected: frozenset[str]
    category_ok: int
    hard_ok: int
    status_ok: int
    status_total: int
    message_id_ok: bool | None  # None when the key has no Message-ID
    false_positive: bool
    delay_as_failure: bool

    def row(self) -> dict[str, Any]:
        """The facts the regression test pins, in JSON-friendly form."""
        return {
            "found": sorted(self.found),
            "category_ok": self.category_ok,
            "hard_ok": self.hard_ok,
            "status_ok": self.status_ok,
            "message_id_ok": self.message_id_ok,
        }


def score_sample(sample: Sample, report: BounceReport) -> SampleResult:
    expected = {r["email"].lower(): r for r in sample.recipients}
    got = {r.email: r for r in report.bounced} if report.is_bounce else {}
    category_ok = hard_ok = status_ok = status_total = 0
    for email, wanted in expected.items():
        ours = got.get(email)
        if wanted.get("status"):
            status_total += 1
        if ours is None:
            continue
        category_ok += ours.reason in wanted["categories_ok"]
        hard_ok += ours.hard in wanted["hard_ok"]
        if wanted.get("status"):
            status_ok += ours.status == wanted["status"]
    message_id_ok = None
    if sample.original_message_id:
        message_id_ok = (report.original_message_id or "").strip("<>") == sample.original_message_id.strip("<>")
    return SampleResult(
        name=sample.name,
        found=frozenset(got),
        expected=frozenset(expected),
        category_ok=category_ok,
        hard_ok=hard_ok,
        status_ok=status_ok,
        status_total=status_total,
        message_id_ok=message_id_ok,
        false_positive=sample.set == "negative" and (report.is_bounce or bool(report.bounced)),
        delay_as_failure=sample.set == "warning" and bool(report.failed),
    )


@dataclass
class Scores:
    """The corpus-wide figures ``bench/bounces.py`` prints."""

    samples: int = 0
    expected: int = 0
    found: int = 0
    matched: int = 0
    exact_sets: int = 0
    category_ok: int = 0
    hard_ok: int = 0
    status_ok: int = 0
    status_total: int = 0
    message_id_ok: int = 0
    message_id_total: int = 0
    negatives: int = 0
    false_positives: list[str] = field(default_factory=list)
    warnings: int = 0
    delays_as_failures: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.matched / self.found if self.found else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.expected if self.expected else 1.0

    def share(self, part: int, whole: int) -> float:
        return part / whole if whole else 1.0


def score(samples: Iterable[Sample], results: Iterable[SampleResult]) -> Scores:
    scores = Scores()
    by_name = {s.name: s for s in samples}
    for result in results:
        sample = by_name[result.name]
        scores.samples += 1
        scores.expected += len(result.expected)
        scores.found += len(result.found)
        scores.matched += len(result.found & result.expected)
        scores.exact_sets += result.found == result.expected
        scores.category_ok += result.category_ok
        scores.hard_ok += result.hard_ok
        scores.status_ok += result.status_ok
        scores.status_total += result.status_total
        if result.message_id_ok is not None:
            scores.message_id_total += 1
            scores.message_id_ok += result.message_id_ok
        if sample.set == "negative":
            scores.negatives += 1
            if result.false_positive:
                scores.false_positives.append(result.name)
        if sample.set == "warning":
            scores.warnings += 1
            if result.delay_as_failure:
                scores.delays_as_failures.append(result.name)
    return scores


def run(samples: list[Sample]) -> tuple[Scores, list[SampleResult]]:
    results = [score_sample(sample, parse_bounce(sample.raw())) for sample in samples]
    return score(samples, results), results
