"""The WSGI application (gunicorn ``config.wsgi``): production settings unless DJANGO_SETTINGS_MODULE
says otherwise. ``manage.py`` (``make run``) uses the development settings."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.prod")
application = get_wsgi_application()
