"""Choosing and connecting to an outgoing mail server (Odoo ``ir.mail_server``).

:func:`server_find` replicates Odoo's ``_find_mail_server``: the From decides the server through
each server's *from filter*, and when no server may send for the author's address the mail
leaves from the alias domain's notifications address with the author's name kept ("From
encapsulation", Odoo's anti-spoofing scheme). :func:`smtp_connect` opens the session and
:func:`server_test_connection` is the "Test Connection" button with Odoo's messages.
"""

from __future__ import annotations

import functools
import logging
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.utils import getaddresses

from django.utils.translation import gettext as _

from mailcore import conf
from mailcore.addresses import email_normalize, formataddr
from mailcore.exceptions import MailFromInvalidError, MailFromMissingError, SmtpServerMissingError
from mailcore.models import AliasDomain, MailServer, SmtpEncryption

logger = logging.getLogger(__name__)

# Odoo tests relaying with RCPT TO noreply@odoo.com; we use a reserved domain (RFC 2606).
TEST_RECIPIENT = "noreply@example.com"


@dataclass(frozen=True)
class ServerChoice:
    """Where and as whom a mail leaves: the server, its connection parameters and the senders.

    ``server`` is None for the built-in server configured in settings. ``smtp_from`` is the
    address the server may send as (the author's, or the notifications address); ``header_from``
    is the visible From — the author's own, or ``"Author Name" <notifications@domain>`` when it
    had to be encapsulated.
    """

    server: MailServer | None
    host: str
    port: int
    encryption: str
    user: str
    password: str
    timeout: int
    from_filter: str
    smtp_from: str
    header_from: str

    @property
    def server_id(self) -> int | None:
        return self.server.pk if self.server is not None else None

    @property
    def is_builtin(self) -> bool:
        """Mail through the built-in server counts against the daily quota."""
        return self.server is None

    @property
    def key(self) -> tuple[int | None, str]:
        """Mails with the same key share one SMTP session (Odoo groups by server and smtp_from)."""
        return (self.server_id, self.smtp_from)

    def allows(self, address: str) -> bool:
        """Whether this server's from filter lets it send as ``address``."""
        return match_from_filter(address, self.from_filter)


def email_domain(address: str | None) -> str:
    return address.rpartition("@")[2].lower() if address and "@" in address else ""


def match_from_filter(email_from: str, from_filter: str) -> bool:
    """Odoo ``_match_from_filter``: empty filter matches all; parts are full addresses or domains."""
    if not from_filter.strip():
        return True
    normalized = email_normalize(email_from)
    if not normalized:
        return False
    for part in (p.strip().lower() for p in from_filter.split(",")):
        if not part:
            continue
        if "@" in part and email_normalize(part) == normalized:
            return True
        if "@" not in part and part == email_domain(normalized):
            return True
    return False


def encapsulate_email(old_email: str, new_email: str) -> str:
    """Odoo ``encapsulate_email``: the new address under the old display name (or old local part)."""
    old = [pair for pair in getaddresses([old_email]) if pair[1]]
    if not old:
        return new_email
    name, address = old[0]
    return formataddr(name or address.split("@")[0], new_email)


def _filter_parts(server: MailServer) -> list[str]:
    return [p.strip().lower() for p in server.from_filter.split(",") if p.strip()]


def _first_match(servers: list[MailServer], target: str, *, by_domain: bool) -> MailServer | None:
    """The first server whose from filter names ``target`` (a full address, or a domain)."""
    for server in servers:
        for part in _filter_parts(server):
            if by_domain and "@" not in part and part == target:
                return server
            if not by_domain and "@" in part and email_normalize(part) == target:
                return server
    return None


def _choice(server: MailServer | None, smtp_from: str, email_from: str) -> ServerChoice:
    """Build the choice; the visible From is encapsulated when the server sends as another address."""
    if email_normalize(email_from) == email_normalize(smtp_from):
        header_from = email_from
    else:
        header_from = encapsulate_email(email_from, smtp_from) if email_from else smtp_from
    if server is None:
        return ServerChoice(
            server=None,
            host=conf.smtp_host(),
            port=conf.smtp_port(),
            encryption=conf.smtp_encryption(),
            user=conf.smtp_user(),
            password=conf.smtp_password(),
            timeout=conf.smtp_timeout(),
            from_filter=conf.smtp_from_filter(),
            smtp_from=smtp_from,
            header_from=header_from,
        )
    return ServerChoice(
        server=server,
        host=server.smtp_host,
        port=server.smtp_port,
        encryption=server.smtp_encryption,
        user=server.smtp_user,
        password=server.smtp_pass,
        timeout=server.smtp_timeout,
        from_filter=server.from_filter,
        smtp_from=smtp_from,
        header_from=header_from,
    )


def notifications_address(alias_domain: AliasDomain | None) -> str:
    """The alias domain's default From (``notifications@domain``), or "" without alias domain."""
    if alias_domain is None:
        alias_domain = AliasDomain.objects.order_by("sequence", "id").first()
    if alias_domain is None:
        return ""
    return email_normalize(alias_domain.default_from_email) or ""


def server_find(
    email_from: str,
    *,
    alias_domain: AliasDomain | None = None,
    servers: list[MailServer] | None = None,
    forced_server: MailServer | None = None,
) -> ServerChoice:
    """Odoo ``_find_mail_server``: the outgoing server and sender addresses for ``email_from``.

    Over active servers by priority (``sequence``): 1. a server whose from filter names the
    author's address, 2. the author's domain, 3. the notifications address of the alias domain
    (exactly, then by domain) — the mail then leaves as that address with the author's name,
    4. the first server without from filter (it may send as anyone: the author's From is kept),
    5. any server (logged: the mail will probably be refused). With no server at all, the built-in
    server from settings is used with its own from filter (``MAILCORE_SMTP_FROM_FILTER``).

    ``forced_server`` (a mail's own server) skips the search but still picks the sender address
    the way Odoo's ``connect`` does. ``servers`` lets a caller choosing for many mails load the
    candidates once. Raises :class:`MailFromMissingError` when there is no From and no
    notifications address, :class:`MailFromInvalidError` when the From is unusable and there is
    no notifications address to fall back to.
    """
    notifications = notifications_address(alias_domain)
    normalized = email_normalize(email_from)
    if not email_from.strip():
        if not notifications:
            raise MailFromMissingError()
        # Odoo's build_email: no From means the alias domain's notifications address.
        email_from = notifications
        normalized = notifications
    elif not normalized:
        if not notifications:
            raise MailFromInvalidError(email_from)
        logger.warning("From %r is not a valid address; sending as %s", email_from, notifications)

    if forced_server is not None and forced_server.active:
        candidates = [forced_server]
    elif servers is not None:
        # Loaded once by a caller choosing for many mails (the sender).
        candidates = [s for s in servers if s.active]
    else:
        candidates = list(MailServer.objects.filter(active=True).order_by("sequence", "id"))

    if candidates:
        if normalized:
            server = _first_match(candidates, normalized, by_domain=False) or _first_match(
                candidates, email_domain(normalized), by_domain=True
            )
            if server is not None:
                return _choice(server, normalized, email_from)
        if notifications:
            server = _first_match(candidates, notifications, by_domain=False) or _first_match(
                candidates, email_domain(notifications), by_domain=True
            )
            if server is not None:
                return _choice(server, notifications, email_from)
        unfiltered = [s for s in candidates if not s.from_filter.strip()]
        if unfiltered:
            return _choice(unfiltered[0], normalized or notifications, email_from)
        logger.warning("No mail server matches the from_filter, using %s as fallback", candidates[0].name)
        return _choice(candidates[0], notifications or normalized or "", email_from)

    # No MailServer rows: the built-in server from settings, with its own from filter.
    from_filter = conf.smtp_from_filter()
    if normalized and match_from_filter(normalized, from_filter):
        return _choice(None, normalized, email_from)
    if notifications and match_from_filter(notifications, from_filter):
        return _choice(None, notifications, email_from)
    logger.warning(
        "The from filter of the built-in server does not match the notification email or the user email, "
        "using the notification email anyway."
    )
    return _choice(None, notifications or normalized or "", email_from)


def builtin_choice(email_from: str = "") -> ServerChoice:
    """The built-in server's parameters (for tests of the connection, with no sender logic)."""
    return _choice(None, email_normalize(email_from) or "", email_from)


def smtp_connect(choice: ServerChoice) -> smtplib.SMTP:
    """Odoo ``connect``: an open, greeted (and logged-in) SMTP session for ``choice``.

    ``ssl`` opens SMTP over TLS; ``starttls`` upgrades a plain connection. As Odoo's non-strict
    modes, certificates are not verified (self-hosted relays often use self-signed ones). The
    caller quits the session. Raises :class:`SmtpServerMissingError` without a host, and the
    ``smtplib``/``OSError`` errors of the connection otherwise.
    """
    if not choice.host:
        raise SmtpServerMissingError()
    smtp: smtplib.SMTP
    if choice.encryption == SmtpEncryption.SSL:
        smtp = smtplib.SMTP_SSL(choice.host, choice.port, timeout=choice.timeout, context=_tls_context())
    else:
        smtp = smtplib.SMTP(choice.host, choice.port, timeout=choice.timeout)
    try:
        smtp.ehlo_or_helo_if_needed()
        if choice.encryption == SmtpEncryption.STARTTLS:
            smtp.starttls(context=_tls_context())
            smtp.ehlo()
        if choice.user:
            smtp.login(_idna_user(choice.user), choice.password)
    except BaseException:
        _close_quietly(smtp)
        raise
    return smtp


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context per process, made when first needed: making one reads the system's CA
    certificates (tens of milliseconds), and a sender opens a session for every batch."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _idna_user(user: str) -> str:
    """Odoo IDNA-encodes the domain of a login that is an address."""
    local, sep, domain = user.rpartition("@")
    if not sep:
        return user
    return f"{local}@{domain.encode('idna').decode('ascii')}"


def _close_quietly(smtp: smtplib.SMTP) -> None:
    """Quit, tolerating a server that already hung up (as Django's SMTP backend does)."""
    try:
        smtp.quit()
    except (smtplib.SMTPServerDisconnected, OSError):
        smtp.close()
    except smtplib.SMTPException:
        smtp.close()


def smtp_close(smtp: smtplib.SMTP | None) -> None:
    """Close a session opened by :func:`smtp_connect`, whatever state it is in."""
    if smtp is not None:
        _close_quietly(smtp)


def _test_sender(server: MailServer | None) -> str:
    """Odoo ``_get_test_email_from``: the first full address of the filter, else noreply@first domain."""
    from_filter = server.from_filter if server is not None else conf.smtp_from_filter()
    parts = [p.strip() for p in from_filter.split(",") if p.strip()]
    for part in parts:
        if "@" in part:
            return part
    if parts:
        return f"noreply@{parts[0]}"
    return notifications_address(None) or "noreply@example.com"


def server_test_connection(server: MailServer | None) -> tuple[bool, str]:
    """Odoo's "Test Connection": (True, "Connection Test Successful!") or (False, the reason).

    Connects, sends MAIL FROM and RCPT TO and starts DATA without ever sending a message, so
    sender-filter, relaying and deferred rejections show up. Errors are mapped to Odoo's
    messages. ``server`` None tests the built-in server from settings.
    """
    choice = _choice(server, "", "") if server is not None else builtin_choice()
    sender = _test_sender(server)
    smtp: smtplib.SMTP | None = None
    try:
        smtp = smtp_connect(choice)
        code, reply = smtp.mail(sender)
        if code != 250:
            return False, _("The server refused the sender address (%(email_from)s) with error %(repr)s") % {
                "email_from": sender,
                "repr": reply.decode(errors="replace"),
            }
        code, reply = smtp.rcpt(TEST_RECIPIENT)
        if code not in (250, 251):
            return False, _("The server refused the test recipient (%(email_to)s) with error %(repr)s") % {
                "email_to": TEST_RECIPIENT,
                "repr": reply.decode(errors="replace"),
            }
        # Not smtp.data(): that would send a message. 354 means the server would take one.
        smtp.putcmd("data")
        code, reply = smtp.getreply()
        if code != 354:
            return False, _("The server refused the test connection with error %(repr)s") % {
                "repr": reply.decode(errors="replace")
            }
    except SmtpServerMissingError as exc:
        return False, _(str(exc))  # NO_SMTP_HOST, marked with gettext_noop
    except UnicodeError as exc:
        return False, _("Invalid server name!\n %(error)s") % {"error": exc}
    except (socket.gaierror, TimeoutError, ConnectionRefusedError) as exc:
        # Odoo maps only DNS failures and timeouts here; a refused port is the same mistake
        # (wrong address or port), so it gets the same advice instead of the generic text.
        return False, _("No response received. Check server address and port number.\n %(error)s") % {"error": exc}
    except smtplib.SMTPServerDisconnected as exc:
        return False, _(
            "The server has closed the connection unexpectedly. Check configuration served on this port number.\n "
            "%(error)s"
        ) % {"error": exc}
    except smtplib.SMTPResponseException as exc:
        error = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        return False, _("Server replied with following exception:\n %(error)s") % {"error": f"{exc.smtp_code} {error}"}
    except smtplib.SMTPNotSupportedError as exc:
        return False, _("An option is not supported by the server:\n %(error)s") % {"error": exc}
    except smtplib.SMTPException as exc:
        return False, _(
            "An SMTP exception occurred. Check port number and connection security type.\n %(error)s"
        ) % {"error": exc}
    except ssl.SSLError as exc:
        return False, _("An SSL exception occurred. Check connection security type.\n %(error)s") % {"error": exc}
    except Exception as exc:
        logger.warning("Connection test on %s failed", choice.host, exc_info=True)
        return False, _("Connection Test Failed! Here is what we got instead:\n %(error)s") % {"error": exc}
    finally:
        if smtp is not None:
            # Close, do not QUIT: after 354 anything we send is message data. Dropping the
            # connection mid-DATA makes the server discard the unfinished message (Odoo does too).
            smtp.close()
    return True, _("Connection Test Successful!")


def servers_active() -> list[MailServer]:
    """Active outgoing servers by priority, loaded once for choosing servers for many mails."""
    return list(MailServer.objects.filter(active=True).order_by("sequence", "id"))
