"""Settings for the test suite. DATABASE_URL / CELERY_BROKER_URL switch it to PostgreSQL / Redis."""

from config.settings.base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Tests pick their own free ports for SMTP servers and point MailServer rows at them.
MAILCORE_SMTP_TIMEOUT = 10
# Tests never run collectstatic: WhiteNoise looks files up through the finders on demand instead
# of warning (an error under pytest) that STATIC_ROOT does not exist.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
