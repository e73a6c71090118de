"""Settings shared by every environment.

Environment variables are read only in this package. Apps read their own
settings through their ``conf.py`` getters, which supply the defaults.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("MAILCORE_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-insecure-change-me-0123456789abcdefghijklmnopqrstuvwxyz")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    # Our apps first: of two catalogues translating one word, the app listed first wins, and our
    # pages must show our words (django_celery_beat says 任务名 "task name" for "Name" in Chinese,
    # django.contrib.admin keeps "None" in English in Japanese). None of them overrides a template,
    # static file or command of the apps below.
    "mailcore",
    "chatter",
    "mailqueue",
    "bounces",
    "marketing",
    "demo",
    "console",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI assets served locally: no CDN (the API docs work offline)
    "django_htmx",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "chatter.middleware.ActingPartnerMiddleware",
]

ROOT_URLCONF = "config.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "console.context_processors.page_facts",
            ],
        },
    },
]
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

# SQLite under var/ is the embedded default; DATABASE_URL points at PostgreSQL in production.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'mailcore.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Several processes (web, worker, beat, gateway) share the file: wait for locks instead of
    # failing at once, and use WAL so readers never block the writer.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS: list[dict[str, str]] = []
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
# The languages of the people who use the product; each has a complete catalogue (tests check it).
LANGUAGES = [
    ("en", "English"),
    ("fr", "Français"),
    ("ja", "日本語"),
    ("ro", "Română"),
    ("zh-hans", "简体中文"),
]
# Top-level templates/ and config/; each app's strings live in its own <app>/locale/.
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# --- Celery: the database row is the queue, Celery is the doorbell -------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
_broker_dir = VAR_DIR / "broker"
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = (
    {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    else {}
)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = False
# django-celery-beat's DatabaseScheduler plus a heartbeat the diagnostics read.
CELERY_BEAT_SCHEDULER = "mailqueue.beat:HeartbeatScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Basic first: DRF answers 401 with its WWW-Authenticate challenge only when the first class
    # has one (session authentication has none, which made every refusal a 403).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "mailcore.authentication.ThrottledBasicAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["mailcore.authentication.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": os.environ.get("MAILCORE_API_USER_RATE", "1200/minute")},
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "mailcore.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "mailcore API",
    "DESCRIPTION": "Chatter, followers, notifications and the outgoing mail queue.",
    "VERSION": "0.1.0",
    # Like every /api/ route, the schema and its UI need a logged-in user.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a "state"/"stage" field with different choices: name each enum.
    "ENUM_NAME_OVERRIDES": {
        "MailStateEnum": "mailqueue.models.MailState",
        "MailRecipientStateEnum": "mailqueue.models.RecipientState",
        "QuotationStateEnum": "demo.models.Quotation.State",
        "LeadStageEnum": "demo.models.Lead.Stage",
        "TicketStageEnum": "demo.models.Ticket.Stage",
    },
}

# --- web security ----------------------------------------------------------------------------
# Content-Security-Policy of every page: scripts, styles and fonts from our own static files only
# (htmx, app.js, the admin's and Swagger UI's assets), no plugins, no framing. Images may come from
# anywhere because a reader may choose "Show images" on a mail; until then the chatter keeps
# remote image URLs out of ``src``. Inline style attributes stay allowed: our templates use them,
# and message bodies keep only harmless text properties.
MAILCORE_CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:", "https:", "http:"],
    "font-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
# Failed password checks (login page, API Basic authentication) per username and client address
# before further attempts wait for the window to pass.
MAILCORE_LOGIN_FAILURE_LIMIT = env_int("MAILCORE_LOGIN_FAILURE_LIMIT", 5)
MAILCORE_LOGIN_FAILURE_WINDOW = env_int("MAILCORE_LOGIN_FAILURE_WINDOW", 900)

# --- mailcore -------------------------------------------------------------------------------
# Public URL of the web UI, used in links inside outgoing mail.
MAILCORE_BASE_URL = os.environ.get("MAILCORE_BASE_URL", "http://127.0.0.1:8000")
# The built-in ("default") outgoing server, used when no MailServer record matches (as in Odoo).
MAILCORE_SMTP_HOST = os.environ.get("MAILCORE_SMTP_HOST", "127.0.0.1")
MAILCORE_SMTP_PORT = env_int("MAILCORE_SMTP_PORT", 1025)
MAILCORE_SMTP_USER = os.environ.get("MAILCORE_SMTP_USER", "")
MAILCORE_SMTP_PASSWORD = os.environ.get("MAILCORE_SMTP_PASSWORD", "")
MAILCORE_SMTP_ENCRYPTION = os.environ.get("MAILCORE_SMTP_ENCRYPTION", "none")
MAILCORE_SMTP_TIMEOUT = env_int("MAILCORE_SMTP_TIMEOUT", 60)
MAILCORE_SMTP_FROM_FILTER = os.environ.get("MAILCORE_SMTP_FROM_FILTER", "")
# Daily quota of the built-in server: an explicit number, or derived from the plan.
MAILCORE_DAILY_LIMIT = env_int("MAILCORE_DAILY_LIMIT", 0) or None
MAILCORE_PLAN = os.environ.get("MAILCORE_PLAN", "paying")
MAILCORE_PLAN_MIGRATING = env_bool("MAILCORE_PLAN_MIGRATING", False)
MAILCORE_QUOTA_RESET_HOUR_UTC = env_int("MAILCORE_QUOTA_RESET_HOUR_UTC", 23)
MAILCORE_QUOTA_AUTO_RESUME = env_bool("MAILCORE_QUOTA_AUTO_RESUME", True)
# The alias domain created for a fresh database.
MAILCORE_DEFAULT_ALIAS_DOMAIN = os.environ.get("MAILCORE_ALIAS_DOMAIN", "mailcore.localhost")
# Diagnostics (SPF / DKIM / DMARC checks): the DNS server to ask (an IP; empty = the system
# resolver), its port, the per-lookup timeout in seconds, and the DKIM selector to look up.
MAILCORE_DNS_NAMESERVER = os.environ.get("MAILCORE_DNS_NAMESERVER", "")
MAILCORE_DNS_PORT = env_int("MAILCORE_DNS_PORT", 53)
MAILCORE_DNS_TIMEOUT = float(os.environ.get("MAILCORE_DNS_TIMEOUT", "3"))
MAILCORE_DKIM_SELECTOR = os.environ.get("MAILCORE_DKIM_SELECTOR", "mailcore")
# Inbound gateway.
MAILCORE_GATEWAY_HOST = os.environ.get("MAILCORE_GATEWAY_HOST", "127.0.0.1")
MAILCORE_GATEWAY_PORT = env_int("MAILCORE_GATEWAY_PORT", 8025)
# Defaults live in bounces/conf.py; these only let the environment override them.
MAILCORE_GATEWAY_PROCESSES = env_int("MAILCORE_GATEWAY_PROCESSES", 1)
MAILCORE_GATEWAY_HOSTNAME = os.environ.get("MAILCORE_GATEWAY_HOSTNAME", "")
MAILCORE_GATEWAY_MAX_MESSAGE_SIZE = env_int("MAILCORE_GATEWAY_MAX_MESSAGE_SIZE", 25 * 1024 * 1024)
MAILCORE_GATEWAY_MAX_RECIPIENTS = env_int("MAILCORE_GATEWAY_MAX_RECIPIENTS", 50)
MAILCORE_GATEWAY_MAX_CONNECTIONS = env_int("MAILCORE_GATEWAY_MAX_CONNECTIONS", 100)
MAILCORE_GATEWAY_IDLE_TIMEOUT = env_int("MAILCORE_GATEWAY_IDLE_TIMEOUT", 300)
MAILCORE_GATEWAY_MAX_CONNECTIONS_PER_ADDRESS = os.environ.get("MAILCORE_GATEWAY_MAX_CONNECTIONS_PER_ADDRESS", "")
MAILCORE_GATEWAY_SESSION_TIMEOUT = os.environ.get("MAILCORE_GATEWAY_SESSION_TIMEOUT", "")
MAILCORE_GATEWAY_JUNK_COMMAND_LIMIT = os.environ.get("MAILCORE_GATEWAY_JUNK_COMMAND_LIMIT", "")
MAILCORE_GATEWAY_REFUSALS_PER_MINUTE = os.environ.get("MAILCORE_GATEWAY_REFUSALS_PER_MINUTE", "")
MAILCORE_GATEWAY_TLS_CERT = os.environ.get("MAILCORE_GATEWAY_TLS_CERT", "")
MAILCORE_GATEWAY_TLS_KEY = os.environ.get("MAILCORE_GATEWAY_TLS_KEY", "")
MAILCORE_GATEWAY_LOOP_THRESHOLD = env_int("MAILCORE_GATEWAY_LOOP_THRESHOLD", 20)
MAILCORE_GATEWAY_LOOP_MINUTES = env_int("MAILCORE_GATEWAY_LOOP_MINUTES", 120)
# Refused and processed inbound mail is kept this long (the inbound log, .eml downloads).
MAILCORE_INBOUND_RETENTION_DAYS = env_int("MAILCORE_INBOUND_RETENTION_DAYS", 30)
# The exact bytes of each sent message (Download .eml, the support bundle) are kept this long.
MAILQUEUE_SENT_EML_RETENTION_DAYS = env_int("MAILQUEUE_SENT_EML_RETENTION_DAYS", 30)
# Local outgoing sink started by `make run`.
MAILCORE_SINK_HOST = os.environ.get("MAILCORE_SINK_HOST", "127.0.0.1")
MAILCORE_SINK_PORT = env_int("MAILCORE_SINK_PORT", 1025)
MAILCORE_SINK_DIR = Path(os.environ.get("MAILCORE_SINK_DIR", VAR_DIR / "sink"))
# Mount the captured-mail viewer at /sink/ (production settings turn it off).
MAILCORE_SINK_ENABLED = True

# --- mailqueue ------------------------------------------------------------------------------
# Defaults live in mailqueue/conf.py; this only lets the environment override it. "0"/"false"
# make the sender's "sent" marks wait for the disk (synchronous commits).
MAILQUEUE_ASYNCHRONOUS_COMMIT = env_bool("MAILQUEUE_ASYNCHRONOUS_COMMIT", True)
# Temporary failures (4xx, refused connections, timeouts) retry with a doubling delay from
# MAILQUEUE_RETRY_BASE_SECONDS up to MAILQUEUE_RETRY_MAX_DELAY_SECONDS, for
# MAILQUEUE_RETRY_WINDOW_SECONDS after the first one; then the mail fails.
MAILQUEUE_RETRY_BASE_SECONDS = env_int("MAILQUEUE_RETRY_BASE_SECONDS", 60)
MAILQUEUE_RETRY_MAX_DELAY_SECONDS = env_int("MAILQUEUE_RETRY_MAX_DELAY_SECONDS", 1800)
MAILQUEUE_RETRY_WINDOW_SECONDS = env_int("MAILQUEUE_RETRY_WINDOW_SECONDS", 86400)

# Daily files under var/log rotating at 05:00 UTC (mailcore.log, .1, then dated .gz, so support can
# zgrep them all). MAILCORE_LOG_FILE="" turns the file off (console only).
MAILCORE_LOG_FILE = os.environ.get("MAILCORE_LOG_FILE", str(VAR_DIR / "log" / "mailcore.log"))
MAILCORE_LOG_BACKUP_DAYS = env_int("MAILCORE_LOG_BACKUP_DAYS", 30)
_log_handlers = ["console", "file"] if MAILCORE_LOG_FILE else ["console"]
_log_level = os.environ.get("MAILCORE_LOG_LEVEL", "INFO")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        **(
            {
                "file": {
                    "class": "mailcore.logging.DailyRotatingFileHandler",
                    "formatter": "plain",
                    "filename": MAILCORE_LOG_FILE,
                    "at_hour_utc": 5,
                    "backup_days": MAILCORE_LOG_BACKUP_DAYS,
                }
            }
            if MAILCORE_LOG_FILE
            else {}
        ),
    },
    "loggers": {
        name: {"handlers": _log_handlers, "level": _log_level}
        for name in ("mailcore", "chatter", "mailqueue", "bounces", "demo")
    },
}
