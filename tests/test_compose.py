"""docker-compose.yml: valid against the Compose Specification, and the production shape we promise.

No Docker engine runs here, so the file is checked with the official Compose Specification JSON
schema that check-jsonschema ships (``vendor.compose-spec``), then for its structure.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
APP_SERVICES = ("web", "worker", "beat", "gateway")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def compose_schema() -> dict[str, Any]:
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((vendor / "compose-spec.json").read_text())
    assert schema["title"] == "Compose Specification"
    return schema


def test_validates_with_check_jsonschema_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def test_validates_against_the_compose_spec_schema(compose: dict[str, Any], compose_schema: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(compose_schema)
    assert list(validator.iter_errors(compose)) == []
    # The schema is strict: a misspelt key or a wrong type is caught (so the check above can fail).
    broken = copy.deepcopy(compose)
    broken["services"]["web"]["healthcheck"]["intervall"] = "30s"
    broken["services"]["worker"]["depends_on"] = 42
    messages = [error.message for error in validator.iter_errors(broken)]
    assert any("intervall" in message for message in messages)
    assert len(messages) >= 2


def test_all_services_are_present_with_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "redis", *APP_SERVICES} <= set(services)
    assert services["postgres"]["image"] == "postgres:15"
    assert services["redis"]["image"] == "redis:7"
    for name in ("postgres", "redis", *APP_SERVICES):
        healthcheck = services[name]["healthcheck"]
        assert healthcheck["test"], name
        assert healthcheck["interval"] and healthcheck["retries"] >= 1, name


def test_app_services_wait_for_healthy_services_and_migrations(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--no-input"]
    for name in APP_SERVICES:
        depends_on = services[name]["depends_on"]
        assert depends_on["postgres"]["condition"] == "service_healthy", name
        assert depends_on["redis"]["condition"] == "service_healthy", name
        assert depends_on["migrate"]["condition"] == "service_completed_successfully", name


def test_commands(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["gateway"]["command"] == [
        "python",
        "manage.py",
        "run_gateway",
        "--host",
        "0.0.0.0",
        "--port",
        "8025",
    ]
    assert services["web"]["command"][:2] == ["gunicorn", "config.wsgi"]
    assert services["worker"]["command"][:4] == ["celery", "-A", "config", "worker"]
    assert "-B" not in services["worker"]["command"]  # beat runs once, in its own service
    assert services["beat"]["command"][:4] == ["celery", "-A", "config", "beat"]
    # The management commands the file names exist.
    assert {"run_gateway", "migrate", "check"} <= set(get_commands())
    # gunicorn comes from the `prod` extra the Dockerfile installs.
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(req.startswith("gunicorn==") for req in extras["prod"])
    assert "pip install '.[prod]'" in (ROOT / "Dockerfile").read_text()


def settings_environment_variables() -> set[str]:
    """Every variable config/settings reads (they are read nowhere else)."""
    names: set[str] = set()
    for path in (ROOT / "config" / "settings").glob("*.py"):
        text = path.read_text()
        names |= set(re.findall(r"""os\.environ(?:\.get)?[\[(]\s*["']([A-Z0-9_]+)["']""", text))
        names |= set(re.findall(r"""env_(?:bool|int)\(\s*["']([A-Z0-9_]+)["']""", text))
    return names


def test_configured_by_environment_variables_the_settings_read(compose: dict[str, Any]) -> None:
    read = settings_environment_variables()
    assert {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SECRET_KEY", "MAILCORE_SMTP_HOST"} <= read
    for name in (*APP_SERVICES, "migrate"):
        environment = compose["services"][name]["environment"]
        assert environment["DJANGO_SETTINGS_MODULE"] == "config.settings.prod", name
        assert (
            environment["DATABASE_URL"].startswith("postgres://mailcore:")
            and "@postgres:5432/" in environment["DATABASE_URL"]
        )
        assert environment["CELERY_BROKER_URL"] == "redis://redis:6379/0"
        # Secrets come from the operator's environment, never from the file.
        assert environment["DJANGO_SECRET_KEY"].startswith("${DJANGO_SECRET_KEY:?")
        unknown = {key for key in environment if key != "DJANGO_SETTINGS_MODULE"} - read
        assert not unknown, f"{name} sets variables no setting reads: {sorted(unknown)}"


def test_no_secret_has_a_default(compose: dict[str, Any]) -> None:
    """The database password, like the secret key, must come from the operator (``${VAR:?…}``)."""
    text = COMPOSE.read_text()
    assert "${POSTGRES_PASSWORD:?" in compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    for name in (*APP_SERVICES, "migrate"):
        environment = compose["services"][name]["environment"]
        assert "${POSTGRES_PASSWORD:?" in environment["DATABASE_URL"], name
        assert environment["DJANGO_CACHE_URL"].startswith("redis://redis:6379/"), name
    assert not re.search(r"\$\{(POSTGRES_PASSWORD|DJANGO_SECRET_KEY|MAILCORE_SMTP_PASSWORD):-[^}]", text)
