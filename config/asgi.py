"""The ASGI application: production settings unless DJANGO_SETTINGS_MODULE says otherwise.
``manage.py`` (``make run``) uses the development settings."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.prod")
application = get_asgi_application()
