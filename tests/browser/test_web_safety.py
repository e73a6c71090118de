"""Inbound HTML and the Content-Security-Policy in a real browser.

A mail whose body tries to cover the page with a fixed overlay and to load a remote (tracking)
image is shown without the overlay, and the browser asks the remote host for nothing until the
reader clicks "Show images". Requests to that host are intercepted by Playwright, so nothing
leaves the machine either way. Then the pages people use — the chatter with htmx, the admin,
Swagger UI — work under the policy without a single violation.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from playwright.sync_api import ConsoleMessage, Page, Route, expect

from chatter.models import MessageType
from demo.models import Lead
from mailcore.models import Partner

TRACKER = "http://tracker.example/open.gif?recipient=alice"
# A 1×1 transparent GIF.
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
OVERLAY = (
    '<div id="phish" style="position:fixed;top:0;left:0;width:100vw;height:100vh;z-index:2147483647;'
    'background-color:#fff;color:#b00">Your session expired. Log in again at evil.example</div>'
    f'<p>Hello, please find our offer.</p><img src="{TRACKER}" alt="tracker" width="40" height="40">'
)


def _csp_violations(page: Page) -> list[str]:
    violations: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            violations.append(message.text)

    page.on("console", on_console)
    return violations


def test_incoming_mail_shows_no_overlay_and_loads_no_remote_image_until_asked(
    page: Page, app_url: str, make_user: Callable[..., Any], login: Callable[[Page, str], None]
) -> None:
    make_user("alice", staff=True)
    lead = Lead.objects.create(name="Office chairs for Globex")
    mallory = Partner.objects.create(name="Mallory", email="mallory@evil.example")
    lead.message_post(
        body=OVERLAY,
        message_type=MessageType.EMAIL,
        subtype="mt_comment",
        author=mallory,
        email_from="mallory@evil.example",
        subject="Offer",
    )
    requested: list[str] = []

    def tracker(route: Route) -> None:
        requested.append(route.request.url)
        route.fulfill(status=200, content_type="image/gif", body=GIF)

    page.route("http://tracker.example/**", tracker)
    violations = _csp_violations(page)
    login(page, "alice")
    page.goto(f"{app_url}/leads/{lead.pk}/")

    message = page.locator("#messages .msg").first
    expect(message).to_contain_text("Your session expired")
    # The overlay is an ordinary block inside the message, not a layer over the page.
    phish = message.locator(".msg-body div").first
    assert phish.evaluate("el => getComputedStyle(el).position") == "static"
    assert page.evaluate("() => document.elementFromPoint(innerWidth / 2, 40).closest('.msg') === null")
    # The composer (under where the overlay would be) still takes clicks.
    page.click("#btn-send-message")
    expect(page.locator("form.composer")).to_be_visible()

    # No request to the remote host; the image waits behind the bar.
    image = message.locator("img[alt=tracker]")
    expect(image).not_to_have_attribute("src", TRACKER)
    bar = message.get_by_text("Remote images are hidden")
    expect(bar).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert requested == []

    with page.expect_request("http://tracker.example/**"):
        message.get_by_role("button", name="Show images").click()
    expect(image).to_have_attribute("src", TRACKER)
    expect(bar).to_have_count(0)
    assert requested == [TRACKER]
    assert image.evaluate("img => img.complete && img.naturalWidth") == 1
    assert violations == []


def test_pages_work_under_the_content_security_policy(
    page: Page, app_url: str, make_user: Callable[..., Any], login: Callable[[Page, str], None]
) -> None:
    make_user("alice", staff=True)
    lead = Lead.objects.create(name="Office chairs for Globex")
    violations = _csp_violations(page)
    login(page, "alice")

    # The chatter: htmx posts a note and swaps it in.
    page.goto(f"{app_url}/leads/{lead.pk}/")
    page.click("#btn-log-note")
    page.fill(".composer textarea", "Called the customer back.")
    page.click("#composer-log")
    expect(page.locator("#messages .msg").first).to_contain_text("Called the customer back.")

    # The list's "Delivery failures only" box submits its form (a listener in app.js, no inline handler).
    page.goto(f"{app_url}/leads/")
    page.get_by_label("Delivery failures only").check()
    page.wait_for_url("**/leads/?*failures=1*")

    # Swagger UI renders the API from its own static files.
    page.goto(f"{app_url}/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("mailcore API")
    expect(page.locator(".opblock").first).to_be_visible()

    # The admin.
    page.goto(f"{app_url}/admin/")
    expect(page.locator("#site-name")).to_be_visible()
    page.goto(f"{app_url}/admin/auth/user/")
    expect(page.locator("#result_list")).to_contain_text("alice")

    assert violations == []
