"""Embedded default for a newcomer: SQLite, filesystem broker, local SMTP sink (`make run`)."""

from config.settings.base import *  # noqa: F403
from config.settings.base import env_bool

DEBUG = env_bool("DJANGO_DEBUG", True)
