"""Browser tests: pytest-playwright driving Debian's chromium against a live server.

Debian's ``/usr/bin/chromium`` is used (``apt-get install -y chromium`` in the test command when
it is missing); ``playwright install`` is never run. Playwright's sync API runs an event loop in
the test thread, so Django's "no ORM calls from async code" guard is switched off for these
tests only (the ORM calls are the test's own, made between page actions).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent.parent.parent / "docs" / "screenshots"
PASSWORD = "correct horse battery staple"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    for item in items:
        if Path(str(item.fspath)).resolve().parent == here:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not CHROMIUM.exists():
        reason = "needs Debian's chromium: apt-get install -y chromium"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
            "--disable-quic",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1366, "height": 860}, "locale": "en-US"}


@pytest.fixture
def app_url(live_server: Any) -> str:
    """The live server's URL (post_migrate re-creates the default rows after each flush)."""
    return str(live_server.url)


@dataclass
class Login:
    username: str
    partner_id: int


@pytest.fixture
def make_user(app_url: str) -> Callable[..., Login]:
    """Create a user (and its contact) that can log in with :data:`PASSWORD`."""
    from django.contrib.auth import get_user_model

    from chatter.ui_services import partner_for_user
    from mailcore.models import NotificationType

    def make(username: str, *, email: str = "", name: str = "", staff: bool = False, inbox: bool = False) -> Login:
        model = get_user_model()
        user = model.objects.create_user(
            username, email=email or f"{username}@example.com", password=PASSWORD, first_name=name or username.title()
        )
        if staff:
            user.is_staff = user.is_superuser = True
            user.save()
        partner = partner_for_user(user)
        if inbox:
            partner.notification_type = NotificationType.INBOX
            partner.save()
        return Login(username=username, partner_id=partner.pk)

    return make


@pytest.fixture
def login(app_url: str) -> Callable[[Any, str], None]:
    """Log ``page`` in through the login form."""

    def do(page: Any, username: str) -> None:
        page.goto(f"{app_url}/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{app_url}/")

    return do


@pytest.fixture
def screenshot() -> Iterator[Callable[[Any, str], Path]]:
    """Save a PNG of the page (or a locator) under docs/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(target: Any, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        target.screenshot(path=str(path))
        return path

    yield take
