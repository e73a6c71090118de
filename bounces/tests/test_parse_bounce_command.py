"""``manage.py parse_bounce``: human and JSON output, stdin, exit codes, no database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import BytesIO, StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

DATA = Path(__file__).parent / "data"
BASE_DIR = Path(__file__).resolve().parents[2]


def _run(*args: str, stdin: BytesIO | None = None) -> str:
    out = StringIO()
    call_command("parse_bounce", *args, stdout=out, stdin=stdin)
    return out.getvalue()


def _expected(name: str) -> dict:
    expected = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    return {key: expected[key] for key in ("is_bounce", "original_message_id", "bounced")}


def test_human_output_for_a_multi_recipient_bounce() -> None:
    out = _run(str(DATA / "generic-multi-recipient.eml"))
    assert out.splitlines() == [
        "Bounce: yes",
        "Original Message-ID: <5566778899aabbcc.1718170000.505050-mailcore-7-demo.quotation@mailcore>",
        "Recipients (3):",
        "  alice@bigcorp.example: action=failed status=5.1.1 reason=user_unknown (by status) hard=yes",
        "    diagnostic: 550 5.1.1 <alice@bigcorp.example>... User unknown",
        "  bob@bigcorp-old.example: action=failed status=5.1.2 reason=host_unknown (by status) hard=yes",
        "    diagnostic: 550 5.1.2 Host unknown (Name server: bigcorp-old.example: host not found)",
        "  carol@bigcorp-branch.example: action=delayed status=4.4.1 reason=expired (by text) hard=no",
        "    diagnostic: 421 4.4.1 Connection timed out",
    ]


@pytest.mark.parametrize(
    ("name", "first_line"),
    [
        ("autoreply-exchange-ooo", "Not a bounce: this is an automatic reply (out of office / vacation)."),
        ("arf-yahoo-abuse", "Not a bounce: this is a feedback (abuse) report (ARF)."),
        ("ordinary-reply", "Not a bounce: no delivery failure found"),
        ("generic-success-dsn", "Not a bounce: no delivery failure found"),
    ],
)
def test_human_output_says_why_it_is_not_a_bounce(name: str, first_line: str) -> None:
    out = _run(str(DATA / f"{name}.eml"))
    assert out.splitlines()[0].startswith(first_line)
    if name == "arf-yahoo-abuse":
        assert "Complaint about: complainer@yahoo.com" in out.splitlines()


def test_human_output_for_a_bounce_without_readable_recipients() -> None:
    raw = b"From: MAILER-DAEMON@mx.example.com\r\nSubject: failure notice\r\n\r\nSomething went wrong.\r\n"
    out = _run("-", stdin=BytesIO(raw))
    assert out.splitlines() == [
        "Bounce: yes",
        "Original Message-ID: (not found)",
        "No recipient could be read from it; only the bounce+ token of the envelope can attribute it.",
    ]


@pytest.mark.parametrize(
    "name", ["postfix-user-unknown", "exim-delayed", "autoreply-unix-vacation", "broken-not-an-email"]
)
def test_json_output_is_the_report(name: str) -> None:
    out = _run(str(DATA / f"{name}.eml"), "--json")
    assert out.endswith("\n") and out.count("\n") == 1
    assert json.loads(out) == _expected(name)


def test_json_from_stdin() -> None:
    raw = (DATA / "qmail-user-unknown.eml").read_bytes()
    assert json.loads(_run("-", "--json", stdin=BytesIO(raw))) == _expected("qmail-user-unknown")


def test_bad_path_is_a_command_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"Cannot read '.*missing\.eml': No such file or directory"):
        _run(str(tmp_path / "missing.eml"))
    with pytest.raises(CommandError, match="Cannot read"):
        _run(str(tmp_path))  # a directory


def _subprocess(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    # A database nobody can reach: the command must not need one.
    env["DATABASE_URL"] = "postgres://nobody@127.0.0.1:9/unreachable"
    return subprocess.run(
        [sys.executable, "manage.py", "parse_bounce", *args],
        cwd=BASE_DIR,
        env=env,
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_json_stdout_is_exactly_one_object_in_a_real_process() -> None:
    done = _subprocess("--json", str(DATA / "gmail-address-not-found.eml"))
    assert done.returncode == 0, done.stderr.decode()
    stdout = done.stdout.decode()
    assert stdout.count("\n") == 1
    assert json.loads(stdout) == _expected("gmail-address-not-found")


def test_stdin_in_a_real_process() -> None:
    raw = (DATA / "japanese-iso2022jp-notice.eml").read_bytes()
    done = _subprocess("--json", "-", stdin=raw)
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout) == _expected("japanese-iso2022jp-notice")


def test_bad_path_in_a_real_process_exits_non_zero_with_the_reason_on_stderr() -> None:
    done = _subprocess("--json", "/nonexistent/bounce.eml")
    assert done.returncode == 1
    assert done.stdout == b""
    assert b"Cannot read '/nonexistent/bounce.eml': No such file or directory." in done.stderr
