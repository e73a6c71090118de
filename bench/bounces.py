#!/usr/bin/env python
"""Bounce parsing against flufl.bounce (GNU Mailman's detectors) over the sample corpus.

    .venv-bench/bin/python bench/bounces.py        # or: make bench

Prints one line:

    bounces: samples=N ours_recipients_correct=X/N flufl_recipients_correct=A/N ours_reason_correct=R/T ratio=X/A

A sample's recipients are correct when the set of addresses found equals the expected set
(``bounces/tests/data/<name>.json``: failed and delayed recipients; empty for auto-replies,
feedback reports, ordinary mail and success notices). flufl.bounce only finds addresses
(``all_failures`` = permanent and temporary), so addresses are what is compared; for us the line
also counts recipients whose status, action, reason and hard flag are all as expected
(``ours_reason_correct``, over all T expected recipients). ``ratio`` = X / A.
"""

from __future__ import annotations

import json
import logging
import sys
from email import message_from_bytes
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flufl.bounce import all_failures

from bounces.dsn import parse_bounce

DATA = Path(__file__).resolve().parents[1] / "bounces" / "tests" / "data"


def flufl_addresses(raw: bytes) -> set[str]:
    """Every address flufl.bounce reports, permanent or temporary, lower-cased."""
    try:
        permanent, temporary = all_failures(message_from_bytes(raw))
    except Exception:  # a detector crashing on a sample counts as finding nothing
        return set()
    return {address.decode("utf-8", "replace").strip("<>").lower() for address in permanent | temporary}


def main() -> None:
    # flufl.bounce logs a traceback for each detector that crashes on a sample; keep stdout one line.
    logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)
    samples = sorted(DATA.glob("*.eml"))
    ours_ok = flufl_ok = detail_ok = detail_total = 0
    for path in samples:
        raw = path.read_bytes()
        expected = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        wanted = {r["email"] for r in expected["bounced"]}
        report = parse_bounce(raw)
        ours_ok += {r.email for r in report.bounced} == wanted
        flufl_ok += flufl_addresses(raw) == wanted
        got = {r.email: r.to_json_dict() for r in report.bounced}
        for recipient in expected["bounced"]:
            detail_total += 1
            detail_ok += got.get(recipient["email"]) == recipient
    ratio = f"{ours_ok / flufl_ok:.2f}" if flufl_ok else "inf"
    print(
        f"bounces: samples={len(samples)} ours_recipients_correct={ours_ok}/{len(samples)} "
        f"flufl_recipients_correct={flufl_ok}/{len(samples)} ours_reason_correct={detail_ok}/{detail_total} "
        f"ratio={ratio}"
    )


if __name__ == "__main__":
    main()
