"""Daily log files that support can ``zgrep``.

``var/log/mailcore.log`` is today's file. Every day at 05:00 UTC it becomes ``mailcore.log.1``
and the previous ``mailcore.log.1`` is compressed to ``mailcore.log.<YYYY-MM-DD>.gz``, named
after the UTC day its period started — the layout logrotate gives with ``dateext`` and
``delaycompress``, which is what Odoo's troubleshooting page's instructions expect.

Several processes (web, Celery worker and its pool, beat, gateway) write the same file, so the
rotation is done under an exclusive ``flock`` and a process that finds the file already rotated by
another one only reopens it. The stdlib ``TimedRotatingFileHandler`` would rotate once per
process and lose lines.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import gzip
import logging
import logging.handlers
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

DAY = dt.timedelta(days=1)


class DailyRotatingFileHandler(logging.handlers.BaseRotatingHandler):
    """A file handler rotating daily at ``at_hour_utc``, safe with several writer processes."""

    def __init__(
        self,
        filename: str | os.PathLike[str],
        at_hour_utc: int = 5,
        backup_days: int = 30,
        encoding: str = "utf-8",
        clock: Callable[[], float] = time.time,
    ) -> None:
        path = Path(filename)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.at_hour_utc = at_hour_utc
        self.backup_days = backup_days
        self.clock = clock
        super().__init__(str(path), "a", encoding=encoding, delay=False)
        # A file last written before the latest boundary is rotated on the first record, so a
        # process started after a quiet night still rotates yesterday's file.
        self.rollover_at = self.next_rollover(min(os.stat(self.baseFilename).st_mtime, clock()))

    # --- schedule ---------------------------------------------------------------------------
    def next_rollover(self, timestamp: float) -> float:
        """The first ``at_hour_utc`` boundary strictly after ``timestamp``."""
        moment = dt.datetime.fromtimestamp(timestamp, dt.UTC)
        boundary = moment.replace(hour=self.at_hour_utc, minute=0, second=0, microsecond=0)
        if boundary <= moment:
            boundary += DAY
        return boundary.timestamp()

    def period_day(self, timestamp: float) -> dt.date:
        """The UTC day whose period (``at_hour_utc`` to ``at_hour_utc`` next day) holds ``timestamp``."""
        moment = dt.datetime.fromtimestamp(timestamp, dt.UTC) - dt.timedelta(hours=self.at_hour_utc)
        return moment.date()

    def shouldRollover(self, record: logging.LogRecord) -> bool:
        return self.clock() >= self.rollover_at

    # --- rotation ---------------------------------------------------------------------------
    def doRollover(self) -> None:
        lock_path = self.baseFilename + ".lock"
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if not self._rotated_elsewhere():
                    self._rotate()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        if self.stream:
            self.stream.close()
        self.stream = self._open()
        self.rollover_at = self.next_rollover(self.clock())

    def _rotated_elsewhere(self) -> bool:
        """True when another process already moved the file our stream points at."""
        try:
            on_disk = os.stat(self.baseFilename)
        except FileNotFoundError:
            return True
        if self.stream is None:
            return False
        mine = os.fstat(self.stream.fileno())
        if (on_disk.st_dev, on_disk.st_ino) != (mine.st_dev, mine.st_ino):
            return True
        # Same file, but already started after the boundary we are late for: nothing to rotate.
        return on_disk.st_size == 0

    def _rotate(self) -> None:
        if self.stream:
            self.stream.flush()
        previous = Path(self.baseFilename + ".1")
        if previous.exists():
            self._compress(previous)
        os.replace(self.baseFilename, previous)
        self._prune()

    def _compress(self, path: Path) -> None:
        day = self.period_day(path.stat().st_mtime)
        target = Path(f"{self.baseFilename}.{day.isoformat()}.gz")
        # Appending a gzip member keeps an existing file of the same day readable by zcat/zgrep.
        with path.open("rb") as source, gzip.open(target, "ab") as sink:
            shutil.copyfileobj(source, sink)
        path.unlink()

    def _prune(self) -> None:
        pattern = re.compile(re.escape(Path(self.baseFilename).name) + r"\.\d{4}-\d{2}-\d{2}\.gz")
        dated = sorted(p for p in Path(self.baseFilename).parent.iterdir() if pattern.fullmatch(p.name))
        for old in dated[: max(0, len(dated) - self.backup_days)]:
            old.unlink(missing_ok=True)
