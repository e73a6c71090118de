"""Production shape: PostgreSQL via DATABASE_URL, Redis broker, secrets from the environment.

The production entry points (``config.wsgi``, ``config.asgi``, the Celery app) use these settings
unless DJANGO_SETTINGS_MODULE says otherwise; ``manage.py`` (and so ``make run``) uses the
development settings.
"""

import os

from django.core.exceptions import ImproperlyConfigured

from config.settings.base import *  # noqa: F403
from config.settings.base import env_bool, env_int


def env_required(name: str, what: str) -> str:
    """A secret or a setting with no safe default: refuse to start without it."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise ImproperlyConfigured(
            f"{name} is not set. The production settings (config.settings.prod) need {what}; "
            "for local development use config.settings.dev (manage.py's default)."
        )
    return value


DEBUG = False
SECRET_KEY = env_required("DJANGO_SECRET_KEY", "a long random string in DJANGO_SECRET_KEY")
SESSION_COOKIE_SECURE = os.environ.get("DJANGO_SECURE_COOKIES", "1") == "1"
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# HSTS (RFC 6797): browsers that reached us over HTTPS keep using HTTPS for a year. Sent only on
# requests Django sees as secure; behind a TLS-terminating proxy set DJANGO_SECURE_PROXY_SSL_HEADER=1
# (and make sure the proxy sets X-Forwarded-Proto itself).
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The captured-mail viewer belongs to the embedded default's local SMTP sink: not mounted here.
MAILCORE_SINK_ENABLED = False
# The login and API throttles count failures in the cache: share it between the web workers.
_cache_url = os.environ.get("DJANGO_CACHE_URL", "")
if _cache_url:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _cache_url}}
