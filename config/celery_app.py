"""The Celery application. Tasks live in each app's ``tasks.py`` and take ids.

Like the WSGI application, the Celery app uses the production settings unless
DJANGO_SETTINGS_MODULE says otherwise (``make run`` starts its worker from ``manage.py``, which
picks the development settings). A worker with the beat (crons from django-celery-beat's tables)
on the embedded filesystem broker (``filesystem://``, made safe for several processes in
:mod:`config.broker`)::

    DJANGO_SETTINGS_MODULE=config.settings.dev .venv/bin/celery -A config worker -B -l INFO

(``make run`` passes ``--beat-thread`` instead of ``-B``: the same beat, in a thread.)
Production runs the beat as its own process (``celery -A config beat``) and workers without -B.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
from celery import Celery, bootsteps
from celery.beat import EmbeddedService

from config.broker import use_for_filesystem_urls

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.prod")

use_for_filesystem_urls()
app = Celery("mailcore")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class BeatThread(bootsteps.StartStopStep):
    """``worker --beat-thread``: the beat as a thread of the worker's main process.

    ``-B`` forks the beat as a process of its own, a copy of the worker at rest; ``make run``'s one
    worker on the embedded default saves that process. Like ``-B``, only for a single worker:
    two would send every cron twice.
    """

    label = "BeatThread"
    conditional = True
    # After the pool: its processes are forked before the beat's thread exists.
    requires = ("celery.worker.components:Pool",)

    def __init__(self, parent: Any, beat_thread: bool = False, **kwargs: Any) -> None:
        self.enabled = beat_thread
        super().__init__(parent, **kwargs)

    def create(self, parent: Any) -> Any:
        return EmbeddedService(
            parent.app, thread=True, schedule_filename=parent.schedule_filename, scheduler_cls=parent.scheduler
        )


app.steps["worker"].add(BeatThread)
app.user_options["worker"].add(
    click.Option(["--beat-thread"], is_flag=True, default=False, help="Run the beat as a thread of this worker.")
)


def prepare_filesystem_broker(celery_app: Celery) -> None:
    """Create the folders of kombu's ``filesystem://`` transport (it does not create them itself).

    Messages are written to ``data_folder_out`` and read from ``data_folder_in`` (the same folder
    here); ``control_folder`` holds the exchange tables and defaults to ``./control`` relative to
    the working directory, so we pin it beside the data folder.
    """
    if not str(celery_app.conf.broker_url or "").startswith("filesystem"):
        return
    options = dict(celery_app.conf.broker_transport_options or {})
    data_in = Path(options.setdefault("data_folder_in", "var/broker/out"))
    options.setdefault("data_folder_out", str(data_in))
    options.setdefault("control_folder", str(data_in.parent / "control"))
    for key in ("data_folder_in", "data_folder_out", "control_folder", "processed_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)
    celery_app.conf.broker_transport_options = options


@app.on_after_configure.connect
def _on_after_configure(sender: Celery, **kwargs: Any) -> None:
    prepare_filesystem_broker(sender)
