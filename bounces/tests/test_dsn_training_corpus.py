"""The training corpus of real bounces (``../shared/data/bounce-corpus/``), sample by sample.

Each sample's result is pinned in ``training_corpus_results.json``: the recipients found must
stay exactly the same, and the counts of right categories, hard/soft flags, status codes and
the returned Message-ID must not go down. The corpus-wide figures must stay at or above the
levels reached. After an improvement, re-pin with
``.venv/bin/python bench/bounces.py --pin bounces/tests/training_corpus_results.json`` and
review the diff.

The corpus lives beside the repository (CI puts a copy of ``shared/`` there). Without it the
tests skip with the reason, except under ``CI=true`` where they fail: CI must not go green by
skipping what it was meant to prove.
"""

from __future__ import annotations

import json
import os
import sys
from functools import cache
from pathlib import Path

import pytest

from bounces.tests.corpus import CORPUS, Sample, SampleResult, Scores, load_corpus, run

PINNED_PATH = Path(__file__).parent / "training_corpus_results.json"
PINNED: dict[str, dict] = json.loads(PINNED_PATH.read_text(encoding="utf-8"))

# Corpus-wide levels reached (every target of the issue is met: recall 0.99, precision 0.995,
# category 97%, hard/soft 95%, status 97%, Message-ID 97%, no false positive, no delay reported as
# a failure).
FLOORS = {
    "precision": 1.0,
    "recall": 0.995,
    "exact_sets": 0.995,
    "category": 0.97,
    "hard_soft": 0.97,
    "status": 0.99,
    "message_id": 0.99,
}


def _require_corpus() -> None:
    if (CORPUS / "key.jsonl").exists():
        return
    reason = f"the bounce training corpus is missing: expected {CORPUS}/key.jsonl and samples/"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the corpus is required)")
    pytest.skip(reason)


@cache
def _results() -> tuple[Scores, dict[str, SampleResult], tuple[Sample, ...]]:
    samples = load_corpus()
    scores, results = run(samples)
    return scores, {result.name: result for result in results}, tuple(samples)


def test_every_sample_is_pinned() -> None:
    _require_corpus()
    _scores, results, _samples = _results()
    assert sorted(results) == sorted(PINNED)


def test_corpus_wide_scores() -> None:
    _require_corpus()
    scores, _results_by_name, _samples = _results()
    reached = {
        "precision": scores.precision,
        "recall": scores.recall,
        "exact_sets": scores.share(scores.exact_sets, scores.samples),
        "category": scores.share(scores.category_ok, scores.expected),
        "hard_soft": scores.share(scores.hard_ok, scores.expected),
        "status": scores.share(scores.status_ok, scores.status_total),
        "message_id": scores.share(scores.message_id_ok, scores.message_id_total),
    }
    assert {name: value >= FLOORS[name] for name, value in reached.items()} == dict.fromkeys(FLOORS, True), reached
    assert scores.false_positives == []
    assert scores.delays_as_failures == []


@pytest.mark.parametrize("name", sorted(PINNED))
def test_sample_does_not_regress(name: str) -> None:
    _require_corpus()
    _scores, results, _samples = _results()
    got, pinned = results[name].row(), PINNED[name]
    assert got["found"] == pinned["found"]
    for key in ("category_ok", "hard_ok", "status_ok"):
        assert got[key] >= pinned[key], key
    if pinned["message_id_ok"]:
        assert got["message_id_ok"] is True


def test_a_missing_corpus_skips_with_its_reason_and_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "CORPUS", tmp_path / "bounce-corpus")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="bounce training corpus is missing"):
        _require_corpus()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true: the corpus is required"):
        _require_corpus()
