"""The bounce corpus: every ``data/<origin>-<case>.eml`` against its expected ``.json``."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from bounces.dsn import parse_bounce

DATA = Path(__file__).parent / "data"
SAMPLES = sorted(path.stem for path in DATA.glob("*.eml"))
# Keys of the expected files beyond the --json shape, read from the report's attributes.
EXTRA_KEYS = ("is_auto_reply", "is_feedback_report", "feedback_email")


def _load(name: str) -> tuple[bytes, dict]:
    return (DATA / f"{name}.eml").read_bytes(), json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


def _result(raw: bytes, expected: dict) -> dict:
    report = parse_bounce(raw)
    result = report.to_json_dict()
    for key in EXTRA_KEYS:
        if key in expected:
            result[key] = getattr(report, key)
    return result


def test_corpus_is_complete_and_paired() -> None:
    assert len(SAMPLES) >= 124
    assert sorted(path.stem for path in DATA.glob("*.json")) == SAMPLES


def test_corpus_covers_the_formats_the_issue_names() -> None:
    def count(prefix: str) -> int:
        return sum(1 for name in SAMPLES if name.startswith(prefix))

    minimum = {
        "postfix-": 5, "sendmail-": 2, "exim-": 3, "qmail-": 2, "exchange": 3, "office365-": 1,
        "outlookcom-": 1, "gmail-": 3, "yahoo-": 2, "courier-": 1, "domino-": 2, "opensmtpd-": 1,
        "autoreply-": 4, "arf-": 2, "ordinary-": 3, "broken-": 2,
        # Families of the training corpus, in our own samples (other providers, languages, layouts).
        "dragonfly-": 3, "gmx-": 3, "zoho-": 3, "notes-": 3, "kddi-": 2, "mcafee-": 2, "mxlogic-": 2,
        "mailfoundry-": 2, "mfilter-": 2, "v5sendmail-": 2, "x1-": 1, "x2-": 1, "x3-": 1, "x4-": 1, "x6-": 1,
        "apple-": 2, "mailru-": 2, "yandex-": 1, "microsoft-": 2, "plain-": 3, "truncated-": 4,
        "bounce-of-bounce": 1, "forwarded-": 2,
    }  # fmt: skip
    assert {prefix: count(prefix) >= n for prefix, n in minimum.items()} == dict.fromkeys(minimum, True)
    expectations = [_load(name)[1] for name in SAMPLES]
    assert sum(1 for e in expectations if e["is_bounce"]) >= 35
    assert sum(1 for e in expectations for r in e["bounced"] if r["action"] == "delayed") >= 5
    reasons = {r["reason"] for e in expectations for r in e["bounced"]}
    assert reasons == {"user_unknown", "mailbox_full", "host_unknown", "spam_blocked", "expired", "other"}


@pytest.mark.parametrize("name", SAMPLES)
def test_sample(name: str, caplog: pytest.LogCaptureFixture) -> None:
    raw, expected = _load(name)
    with caplog.at_level(logging.WARNING, logger="bounces.dsn"):
        assert _result(raw, expected) == expected
    # The answer came from the parser itself, not from the never-raise safety net.
    assert not [r for r in caplog.records if r.name == "bounces.dsn"]


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_with_smtp_line_endings(name: str) -> None:
    # The gateway stores DATA exactly as received: CRLF line endings.
    raw, expected = _load(name)
    assert _result(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), expected) == expected
