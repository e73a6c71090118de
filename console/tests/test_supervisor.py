"""The supervisor behind ``run_all`` stays small: it imports the standard library only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from django.conf import settings


def test_the_supervisor_imports_neither_django_nor_celery_nor_the_project() -> None:
    script = (
        "import sys, console.supervisor\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'django', 'celery', 'kombu', 'config', 'mailcore'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=Path(settings.BASE_DIR), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
