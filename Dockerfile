# The production image: one image for web, worker, beat and gateway (docker-compose.yml picks the
# command). Configured only by environment variables (config/settings/prod.py).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings.prod

WORKDIR /app
RUN useradd --system --create-home --uid 10001 mailcore

# Dependencies first, so a code change does not reinstall them (the project itself has no
# installable packages: it runs from /app).
COPY pyproject.toml ./
RUN pip install '.[prod]'

COPY . .
# Static files are collected at build time and served by WhiteNoise; this step needs no secret
# and writes no log file.
RUN DJANGO_SECRET_KEY=collectstatic-only MAILCORE_LOG_FILE= python manage.py collectstatic --no-input -v 0 \
    && mkdir -p var/log \
    && chown -R mailcore:mailcore var

USER mailcore
EXPOSE 8000 8025
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
