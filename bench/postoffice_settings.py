"""Bench-only settings: the project plus django-post-office, its mail going to the same sink.

``bench/outgoing.py`` uses them for the peer's side (and to create its tables); our side runs on
``config.settings.base``. The sink's port is the built-in server's (``MAILCORE_SMTP_PORT``), so
both senders talk to the very same smtp-sink.
"""

from config.settings.base import *  # noqa: F403
from config.settings.base import INSTALLED_APPS, MAILCORE_SMTP_HOST, MAILCORE_SMTP_PORT

INSTALLED_APPS = [*INSTALLED_APPS, "post_office"]

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = MAILCORE_SMTP_HOST
EMAIL_PORT = MAILCORE_SMTP_PORT
EMAIL_USE_TLS = False
EMAIL_TIMEOUT = 60

# post_office's defaults (batch of 100, 5 threads per process, log every delivery), stated here
# so the comparison is explicit.
POST_OFFICE = {
    "BACKENDS": {"default": "django.core.mail.backends.smtp.EmailBackend"},
    "DEFAULT_PRIORITY": "medium",
    "BATCH_SIZE": 100,
    "THREADS_PER_PROCESS": 5,
    "LOG_LEVEL": 2,
    "MESSAGE_ID_ENABLED": True,
}
