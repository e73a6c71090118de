"""The two set-up commands: the README promises exactly `make run` and `make test`, CI calls the
latter, and a pytest run that collects nothing fails instead of passing silently."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_readme_set_up_is_exactly_make_run_and_make_test() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = [line.strip() for line in section.splitlines() if line.startswith("    ") and line.strip()]
    assert commands == ["make run", "make test"]
    assert "mailqueue" in readme.split("## Set up", 1)[0]  # why the queue app is not called `queue`


def test_ci_runs_make_test() -> None:
    script = ROOT / ".ci" / "run"
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert re.search(r"^make test$", text, re.MULTILINE)
    assert os.access(script, os.X_OK)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_pytest_collecting_no_test_fails_make() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "MAKE"))}
    result = subprocess.run(
        ["make", "test-embedded", "PYTEST_ARGS=tests/test_layout.py -k no_such_test_anywhere"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0, result.stdout
    assert "pytest collected no tests: failing." in result.stderr


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_make_run_prepares_then_starts_everything_in_the_foreground() -> None:
    result = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    steps = [line for line in result.stdout.splitlines() if "manage.py" in line]
    assert [re.search(r"manage\.py (\w+)", line).group(1) for line in steps] == [  # type: ignore[union-attr]
        "compilemessages",  # the .mo files are built, never committed
        "migrate",
        "bootstrap_demo",
        "collectstatic",
        "run_all",
    ]
    assert steps[-1].startswith("exec ")  # one foreground process: Ctrl-C reaches it directly
