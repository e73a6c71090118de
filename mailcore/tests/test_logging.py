"""Daily log files: mailcore.log, mailcore.log.1, then dated .gz files that zgrep reads."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from mailcore.logging import DailyRotatingFileHandler


class Clock:
    def __init__(self, when: dt.datetime) -> None:
        self.now = when.timestamp()

    def __call__(self) -> float:
        return self.now

    def set(self, when: dt.datetime) -> None:
        self.now = when.timestamp()


def utc(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=dt.UTC)


def make_logger(name: str, handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"test.rotation.{name}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def write(logger: logging.Logger, clock: Clock, when: dt.datetime, text: str, path: Path) -> None:
    """Log ``text`` at ``when`` and give the file that time as mtime, as a real write would."""
    clock.set(when)
    logger.info(text)
    os.utime(path, (when.timestamp(), when.timestamp()))


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "log" / "mailcore.log"


def test_rotates_at_five_utc_then_dates_and_gzips(log_path: Path) -> None:
    clock = Clock(utc(20, 4, 0))
    handler = DailyRotatingFileHandler(log_path, clock=clock)
    logger = make_logger("single", handler)
    try:
        write(logger, clock, utc(20, 4, 30), "before the first boundary", log_path)
        write(logger, clock, utc(20, 4, 59), "still the same day", log_path)
        assert sorted(p.name for p in log_path.parent.iterdir()) == ["mailcore.log"]

        write(logger, clock, utc(20, 5, 1), "after five", log_path)
        assert "before the first boundary" in (log_path.parent / "mailcore.log.1").read_text()
        assert "after five" in log_path.read_text()
        assert "before" not in log_path.read_text()

        write(logger, clock, utc(21, 5, 2), "next day", log_path)
        names = sorted(p.name for p in log_path.parent.iterdir() if not p.name.endswith(".lock"))
        # The file covering 2026-11-19 05:00 → 2026-11-20 05:00 is named after the 19th.
        assert names == ["mailcore.log", "mailcore.log.1", "mailcore.log.2026-11-19.gz"]
        assert "after five" in (log_path.parent / "mailcore.log.1").read_text()
        assert "next day" in log_path.read_text()
    finally:
        handler.close()

    zgrep = shutil.which("zgrep")
    assert zgrep is not None, "zgrep (package gzip) is part of every Debian system"
    found = subprocess.run(
        [zgrep, "-h", "first boundary", str(log_path.parent / "mailcore.log.2026-11-19.gz")],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    assert "before the first boundary" in found.stdout


def test_two_processes_rotate_once_and_lose_no_line(log_path: Path) -> None:
    """Two handlers on one file (web and worker): one rotation, every line kept."""
    clock = Clock(utc(20, 4, 0))
    web = DailyRotatingFileHandler(log_path, clock=clock)
    worker = DailyRotatingFileHandler(log_path, clock=clock)
    web_log, worker_log = make_logger("web", web), make_logger("worker", worker)
    try:
        write(web_log, clock, utc(20, 4, 10), "web line 1", log_path)
        write(worker_log, clock, utc(20, 4, 20), "worker line 1", log_path)
        write(web_log, clock, utc(20, 5, 10), "web line 2", log_path)
        write(worker_log, clock, utc(20, 5, 20), "worker line 2", log_path)
        write(web_log, clock, utc(20, 6, 0), "web line 3", log_path)
    finally:
        web.close()
        worker.close()

    rotated = (log_path.parent / "mailcore.log.1").read_text()
    current = log_path.read_text()
    assert "web line 1" in rotated and "worker line 1" in rotated
    assert all(line in current for line in ("web line 2", "worker line 2", "web line 3"))
    assert "line 1" not in current
    assert not list(log_path.parent.glob("*.gz"))


def test_process_started_after_a_quiet_night_rotates_yesterdays_file(log_path: Path) -> None:
    log_path.parent.mkdir(parents=True)
    log_path.write_text("written yesterday\n")
    yesterday = utc(20, 23).timestamp()
    os.utime(log_path, (yesterday, yesterday))
    clock = Clock(utc(21, 9))
    handler = DailyRotatingFileHandler(log_path, clock=clock)
    logger = make_logger("late", handler)
    try:
        logger.info("this morning")
    finally:
        handler.close()
    assert (log_path.parent / "mailcore.log.1").read_text() == "written yesterday\n"
    assert "this morning" in log_path.read_text()


def test_old_dated_files_are_pruned(log_path: Path) -> None:
    clock = Clock(utc(1, 6))
    handler = DailyRotatingFileHandler(log_path, backup_days=2, clock=clock)
    logger = make_logger("prune", handler)
    try:
        for day in range(1, 7):
            write(logger, clock, utc(day, 6), f"day {day}", log_path)
    finally:
        handler.close()
    dated = sorted(p.name for p in log_path.parent.glob("*.gz"))
    assert dated == ["mailcore.log.2026-11-03.gz", "mailcore.log.2026-11-04.gz"]


def test_settings_wire_the_daily_file_into_the_app_loggers() -> None:
    handler = settings.LOGGING["handlers"]["file"]
    assert handler["class"] == "mailcore.logging.DailyRotatingFileHandler"
    assert handler["at_hour_utc"] == 5
    assert Path(handler["filename"]).name == "mailcore.log"
    for name in ("mailcore", "chatter", "mailqueue", "bounces"):
        assert "file" in settings.LOGGING["loggers"][name]["handlers"]
        assert any(isinstance(h, DailyRotatingFileHandler) for h in logging.getLogger(name).handlers)
