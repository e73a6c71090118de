"""Outgoing server selection (Odoo ``_find_mail_server``), connection and "Test Connection"."""

from __future__ import annotations

from typing import Any

import pytest

from mailcore.exceptions import NO_FOUND_FROM, MailFromInvalidError, MailFromMissingError, SmtpServerMissingError
from mailcore.models import AliasDomain, MailServer
from mailcore.servers import (
    builtin_choice,
    encapsulate_email,
    match_from_filter,
    server_find,
    server_test_connection,
    smtp_connect,
)
from mailcore.testing.smtp import SmtpSink, free_port

NOTIFICATIONS = "notifications@mailcore.localhost"  # the default alias domain's default From


@pytest.mark.parametrize(
    ("email", "from_filter", "expected"),
    [
        ("ann@example.com", "", True),
        ("ann@example.com", "  ", True),
        ("Ann <Ann@Example.com>", "example.com", True),
        ("ann@example.com", "other.com, example.com", True),
        ("ann@example.com", "ann@example.com", True),
        ("ann@example.com", "bob@example.com", False),
        ("ann@sub.example.com", "example.com", False),
        ("ann@example.com", "EXAMPLE.COM", True),
        ("not an address", "example.com", False),
    ],
)
def test_match_from_filter(email: str, from_filter: str, expected: bool) -> None:
    assert match_from_filter(email, from_filter) is expected


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('"Ann Smith" <ann@example.com>', "notifications@x.com", "Ann Smith <notifications@x.com>"),
        ("Ann <ann@example.com>", "notifications@x.com", "Ann <notifications@x.com>"),
        ("ann@example.com", "notifications@x.com", "ann <notifications@x.com>"),
    ],
)
def test_encapsulate_email(old: str, new: str, expected: str) -> None:
    assert encapsulate_email(old, new) == expected


def _server(name: str, from_filter: str = "", sequence: int = 10, **kwargs: Any) -> MailServer:
    return MailServer.objects.create(
        name=name, smtp_host=f"{name}.test", smtp_port=25, from_filter=from_filter, sequence=sequence, **kwargs
    )


@pytest.mark.django_db
class TestServerFind:
    def test_exact_address_beats_domain(self) -> None:
        _server("domain", "example.com", sequence=1)
        exact = _server("exact", "other.com, ann@example.com", sequence=5)
        choice = server_find("Ann <ann@example.com>")
        assert (choice.server, choice.smtp_from, choice.header_from) == (
            exact,
            "ann@example.com",
            "Ann <ann@example.com>",
        )

    def test_domain_match_keeps_the_author(self) -> None:
        _server("any")  # no filter, but a matching filter wins
        domain = _server("domain", "example.com", sequence=20)
        choice = server_find("Ann <ann@example.com>")
        assert (choice.server, choice.smtp_from, choice.header_from) == (
            domain,
            "ann@example.com",
            "Ann <ann@example.com>",
        )

    def test_priority_among_equal_matches(self) -> None:
        _server("second", "example.com", sequence=20)
        first = _server("first", "example.com", sequence=3)
        assert server_find("ann@example.com").server == first

    def test_notifications_address_encapsulates_the_from(self) -> None:
        exact = _server("notif", NOTIFICATIONS, sequence=30)
        _server("domain", "mailcore.localhost", sequence=1)
        choice = server_find("Ann <ann@gmail.com>")
        # The exact notifications address beats its domain (Odoo's order).
        assert (choice.server, choice.smtp_from) == (exact, NOTIFICATIONS)
        assert choice.header_from == "Ann <notifications@mailcore.localhost>"

    def test_notifications_domain(self) -> None:
        domain = _server("domain", "mailcore.localhost")
        choice = server_find('"Ann Smith" <ann@gmail.com>')
        assert (choice.server, choice.smtp_from, choice.header_from) == (
            domain,
            NOTIFICATIONS,
            "Ann Smith <notifications@mailcore.localhost>",
        )

    def test_alias_domain_of_the_record_gives_the_notifications_address(self) -> None:
        other = AliasDomain.objects.create(name="sales.test", default_from="hello")
        server = _server("sales", "sales.test")
        choice = server_find("ann@gmail.com", alias_domain=other)
        assert (choice.server, choice.smtp_from, choice.header_from) == (
            server,
            "hello@sales.test",
            "ann <hello@sales.test>",
        )

    def test_server_without_filter_sends_as_the_author(self) -> None:
        _server("restricted", "other.com", sequence=1)
        open_relay = _server("open", sequence=50)
        choice = server_find("Ann <ann@gmail.com>")
        assert (choice.server, choice.smtp_from, choice.header_from) == (
            open_relay,
            "ann@gmail.com",
            "Ann <ann@gmail.com>",
        )

    def test_last_resort_is_the_first_server_with_the_notifications_address(self) -> None:
        first = _server("first", "other.com", sequence=1)
        _server("second", "third.com", sequence=2)
        choice = server_find("Ann <ann@gmail.com>")
        assert (choice.server, choice.smtp_from) == (first, NOTIFICATIONS)

    def test_inactive_servers_are_ignored(self) -> None:
        _server("off", "example.com", active=False)
        choice = server_find("ann@example.com")
        assert choice.server is None and choice.is_builtin

    def test_forced_server(self) -> None:
        _server("domain", "example.com")
        forced = _server("forced", "mailcore.localhost", sequence=99)
        choice = server_find("Ann <ann@example.com>", forced_server=forced)
        assert (choice.server, choice.smtp_from, choice.header_from) == (
            forced,
            NOTIFICATIONS,
            "Ann <notifications@mailcore.localhost>",
        )

    def test_builtin_server_with_its_from_filter(self, settings: Any) -> None:
        settings.MAILCORE_SMTP_HOST = "relay.test"
        settings.MAILCORE_SMTP_PORT = 2525
        settings.MAILCORE_SMTP_FROM_FILTER = "mailcore.localhost"
        choice = server_find("Ann <ann@gmail.com>")
        assert choice.server is None
        assert (choice.host, choice.port, choice.smtp_from) == ("relay.test", 2525, NOTIFICATIONS)
        assert choice.header_from == "Ann <notifications@mailcore.localhost>"
        settings.MAILCORE_SMTP_FROM_FILTER = ""
        choice = server_find("Ann <ann@gmail.com>")
        assert (choice.smtp_from, choice.header_from) == ("ann@gmail.com", "Ann <ann@gmail.com>")

    def test_builtin_filter_matching_nothing_still_uses_the_notifications_address(self, settings: Any) -> None:
        settings.MAILCORE_SMTP_FROM_FILTER = "elsewhere.test"
        assert server_find("ann@gmail.com").smtp_from == NOTIFICATIONS

    def test_no_from_uses_the_notifications_address(self) -> None:
        choice = server_find("")
        assert (choice.smtp_from, choice.header_from) == (NOTIFICATIONS, NOTIFICATIONS)

    def test_unusable_from_falls_back_to_the_notifications_address(self) -> None:
        choice = server_find("Ann <not-an-address>")
        assert choice.smtp_from == NOTIFICATIONS
        assert choice.header_from.endswith(f"<{NOTIFICATIONS}>")

    def test_no_from_and_no_alias_domain(self) -> None:
        AliasDomain.objects.all().delete()
        with pytest.raises(MailFromMissingError) as excinfo:
            server_find("")
        assert str(excinfo.value) == NO_FOUND_FROM
        assert excinfo.value.failure_type == "mail_from_missing"
        with pytest.raises(MailFromInvalidError) as invalid:
            server_find("Ann <nowhere>")
        assert invalid.value.failure_type == "mail_from_invalid"
        assert str(invalid.value).startswith("Malformed 'Return-Path' or 'From' address.")


# --- connecting and testing ---------------------------------------------------------------------
def test_smtp_connect_greets_the_server(smtp_sink: SmtpSink) -> None:
    smtp = smtp_connect(builtin_choice())
    try:
        assert smtp.noop()[0] == 250
    finally:
        smtp.quit()
    assert smtp_sink.handler.sessions == 1


def test_smtp_connect_without_host(settings: Any) -> None:
    settings.MAILCORE_SMTP_HOST = ""
    with pytest.raises(SmtpServerMissingError) as excinfo:
        smtp_connect(builtin_choice())
    assert str(excinfo.value).startswith("Missing SMTP Server\n")


@pytest.mark.django_db
def test_connection_test_success_sends_nothing(smtp_sink: SmtpSink) -> None:
    server = MailServer.objects.create(
        name="Sink", smtp_host=smtp_sink.host, smtp_port=smtp_sink.port, from_filter="example.com"
    )
    assert server_test_connection(server) == (True, "Connection Test Successful!")
    assert server_test_connection(None) == (True, "Connection Test Successful!")  # the built-in server
    assert smtp_sink.messages == []


@pytest.mark.django_db
def test_connection_test_refused_port() -> None:
    server = MailServer.objects.create(name="Nothing", smtp_host="127.0.0.1", smtp_port=free_port())
    ok, message = server_test_connection(server)
    assert not ok
    assert message.startswith("No response received. Check server address and port number.\n ")
    assert "Connection refused" in message


@pytest.mark.django_db
def test_connection_test_sender_refused(smtp_sink: SmtpSink) -> None:
    smtp_sink.fail("MAIL", "550 5.7.1 Sender not allowed")
    server = MailServer.objects.create(
        name="Sink", smtp_host=smtp_sink.host, smtp_port=smtp_sink.port, from_filter="example.com"
    )
    assert server_test_connection(server) == (
        False,
        "The server refused the sender address (noreply@example.com) with error 5.7.1 Sender not allowed",
    )


@pytest.mark.django_db
def test_connection_test_recipient_refused(smtp_sink: SmtpSink) -> None:
    smtp_sink.fail("RCPT", "554 5.7.1 Relaying denied")
    server = MailServer.objects.create(
        name="Sink", smtp_host=smtp_sink.host, smtp_port=smtp_sink.port, from_filter="ann@example.com"
    )
    assert server_test_connection(server) == (
        False,
        "The server refused the test recipient (noreply@example.com) with error 5.7.1 Relaying denied",
    )


@pytest.mark.django_db
def test_connection_test_server_hangs_up(smtp_sink: SmtpSink) -> None:
    smtp_sink.fail("MAIL", "DROP")
    server = MailServer.objects.create(name="Sink", smtp_host=smtp_sink.host, smtp_port=smtp_sink.port)
    ok, message = server_test_connection(server)
    assert not ok
    assert message.startswith(
        "The server has closed the connection unexpectedly. Check configuration served on this port number."
    )


@pytest.mark.django_db
def test_connection_test_invalid_server_name() -> None:
    # A DNS label longer than 63 characters cannot be IDNA-encoded: refused before any network use.
    server = MailServer.objects.create(name="Bad", smtp_host="a" * 64 + ".example.com", smtp_port=25)
    ok, message = server_test_connection(server)
    assert not ok
    assert message.startswith("Invalid server name!\n ")


@pytest.mark.django_db
def test_connection_test_missing_host(settings: Any) -> None:
    settings.MAILCORE_SMTP_HOST = ""
    ok, message = server_test_connection(None)
    assert (ok, message.splitlines()[0]) == (False, "Missing SMTP Server")


# --- admin ---------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_admin_test_connection_action(admin_client: Any, smtp_sink: SmtpSink) -> None:
    good = MailServer.objects.create(name="Sink", smtp_host=smtp_sink.host, smtp_port=smtp_sink.port)
    bad = MailServer.objects.create(name="Down", smtp_host="127.0.0.1", smtp_port=free_port())
    response = admin_client.post(
        "/admin/mailcore/mailserver/",
        {"action": "test_connection", "_selected_action": [str(good.pk), str(bad.pk)]},
        follow=True,
    )
    texts = sorted(str(m) for m in response.context["messages"])
    assert texts[1] == "Sink: Connection Test Successful!"
    assert texts[0].startswith("Down: No response received. Check server address and port number.")


@pytest.mark.django_db
def test_admin_quota_page_is_read_only(admin_client: Any, settings: Any) -> None:
    settings.MAILCORE_DAILY_LIMIT = 50
    response = admin_client.get("/admin/mailcore/quotaday/")
    assert response.status_code == 200
    assert any(str(m).startswith("Today: 0 of 50 sent") for m in response.context["messages"])
    assert admin_client.get("/admin/mailcore/quotaday/add/").status_code == 403
    for url in ("/admin/mailcore/partner/", "/admin/mailcore/aliasdomain/", "/admin/mailcore/alias/"):
        assert admin_client.get(url).status_code == 200
