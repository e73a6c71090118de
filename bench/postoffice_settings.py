"""Bench-only settings: the project plus the peers django-post-office and django-mailer.

``bench/outgoing.py`` uses them for the peers' sides (and to create their tables); mailcore's side
runs on ``config.settings.base``. Their mail goes to the built-in server's address
(``MAILCORE_SMTP_HOST``/``MAILCORE_SMTP_PORT``), so every sender talks to the very same smtp-sink.
"""

import os

from config.settings.base import *  # noqa: F403
from config.settings.base import INSTALLED_APPS, MAILCORE_SMTP_HOST, MAILCORE_SMTP_PORT

INSTALLED_APPS = [*INSTALLED_APPS, "post_office", "mailer"]

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = MAILCORE_SMTP_HOST
EMAIL_PORT = MAILCORE_SMTP_PORT
EMAIL_USE_TLS = False
EMAIL_TIMEOUT = 60

# django-post-office in its DEFAULT setup: nothing is set, so it uses its own defaults (a batch
# of 100, 5 threads per process, every delivery logged) and Django's EMAIL_BACKEND above.
# django-mailer too: its defaults, with its lock file in the run's scratch folder.
MAILER_LOCK_PATH = os.environ.get("MAILER_LOCK_PATH") or None
