"""SMTP sessions and error classification (temporary 4xx / lost connections vs permanent 5xx)."""

from __future__ import annotations

import logging
import re
import smtplib

from chatter.models import FailureType
from mailcore.servers import ServerChoice, smtp_close, smtp_connect
from mailcore.smtp_replies import delivery_failure_reason
from mailqueue.exceptions import MailDeliveryError, PermanentDeliveryError, TemporaryDeliveryError

logger = logging.getLogger(__name__)


# --- SMTP ---------------------------------------------------------------------------------------
def _decode(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def classify(exc: BaseException, host: str) -> MailDeliveryError:
    """Turn an exception of one SMTP attempt into a temporary or permanent delivery error.

    The reason keeps Odoo's form and adds what Odoo loses: the code and enhanced status.
    Recipient refusals with an address status (5.1.x: no such user, bad domain, bad syntax) are
    ``mail_email_invalid`` so the resend dialog offers to fix the address; other refusals stay
    ``unknown``. A server refusing our sender or the content is a ``mail_smtp`` problem of the
    outgoing server configuration. What users read is not the failure type's label but the
    summary :mod:`mailcore.smtp_replies` reads from the answer kept in the reason.
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()), (0, b""))
        detail = _decode(text)
        reason = delivery_failure_reason(host, "SMTPRecipientsRefused", f"{code} {detail}")
        if 400 <= code < 500 or code <= 0:
            return TemporaryDeliveryError(reason, failure_type=FailureType.MAIL_SMTP)
        failure = FailureType.MAIL_EMAIL_INVALID if detail.startswith("5.1.") else FailureType.UNKNOWN
        return PermanentDeliveryError(reason, failure_type=failure)
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        reason = delivery_failure_reason(host, type(exc).__name__, f"{code} {_decode(exc.smtp_error)}")
        if 500 <= code < 600:
            return PermanentDeliveryError(reason, failure_type=FailureType.MAIL_SMTP)
        return TemporaryDeliveryError(reason, failure_type=FailureType.MAIL_SMTP)
    reason = delivery_failure_reason(host, type(exc).__name__, str(exc))
    if isinstance(exc, smtplib.SMTPException | OSError):
        # Lost or refused connections, timeouts, TLS problems: the server may be back later.
        return TemporaryDeliveryError(reason, failure_type=FailureType.MAIL_SMTP)
    if isinstance(exc, UnicodeError):
        return PermanentDeliveryError(reason, failure_type=FailureType.MAIL_EMAIL_INVALID)
    return TemporaryDeliveryError(reason, failure_type=FailureType.UNKNOWN)


def connect_error(exc: BaseException, host: str) -> TemporaryDeliveryError:
    """Any failure to open a session (refused, timeout, greeting 554, login 535, no host) retries.

    The server may be down or misconfigured; once an admin fixes it the mail goes by itself.
    After the last attempt it fails as ``mail_smtp`` with this reason.
    """
    error = classify(exc, host)
    return TemporaryDeliveryError(error.reason, failure_type=FailureType.MAIL_SMTP)


class Session:
    """One SMTP session for a group, opened lazily and reopened once after the server hung up.

    A reconnect that delivers at least one message earns another, so a server that drops now and
    then does not fail a long batch, while one that drops every time stops the group quickly.
    """

    def __init__(self, choice: ServerChoice) -> None:
        self.choice = choice
        self.channel: Channel | None = None
        self.opened = False
        self.reconnect_allowed = True
        self.broken: MailDeliveryError | None = None

    def get(self) -> Channel:
        if self.channel is not None and not self.channel.closed:
            return self.channel
        if self.broken is not None:
            raise self.broken
        if self.opened:
            if not self.reconnect_allowed:
                raise self.broken or TemporaryDeliveryError(
                    delivery_failure_reason(self.choice.host, "SMTPServerDisconnected"),
                    failure_type=FailureType.MAIL_SMTP,
                )
            self.reconnect_allowed = False
        try:
            self.channel = Channel(smtp_connect(self.choice))
        except Exception as exc:
            logger.warning("Cannot connect to SMTP server %s:%s: %s", self.choice.host, self.choice.port, exc)
            self.broken = connect_error(exc, self.choice.host)
            raise self.broken from exc
        self.opened = True
        return self.channel

    def delivered(self) -> None:
        self.reconnect_allowed = True

    def lost(self, error: MailDeliveryError) -> None:
        """The server hung up: drop the session; the next message may reconnect once."""
        if self.channel is not None:
            self.channel.smtp.close()
        self.channel = None
        if not self.reconnect_allowed:
            self.broken = error

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()
        self.channel = None

    def new_batch(self) -> None:
        """Odoo opens a fresh session per ``mail.session.batch.size`` mails."""
        self.close()
        self.opened = False
        self.reconnect_allowed = True


Announced = tuple[str, str]  # (envelope sender, recipient) whose MAIL/RCPT/DATA are on the wire


class Channel:
    """The sending side of one SMTP connection, pipelining when the server offers it (RFC 2920).

    Without PIPELINING a message costs MAIL, RCPT, DATA and the content: four round trips. With
    it, MAIL/RCPT/DATA go in one write, and the next message's MAIL/RCPT/DATA ride along with
    this message's content ("announced"), so a message costs one round trip. Spelled out instead
    of ``sendmail`` to keep the final reply for the delivery log.
    """

    def __init__(self, smtp: smtplib.SMTP) -> None:
        self.smtp = smtp
        self.pipelining = smtp.has_extn("pipelining")
        self.announced: Announced | None = None

    @property
    def closed(self) -> bool:
        return self.smtp.sock is None

    def close(self) -> None:
        if self.announced is not None:
            # The server may be waiting for our content after a 354: QUIT would be taken as
            # message text. Dropping the connection makes it discard the open transaction.
            self.smtp.close()
        else:
            smtp_close(self.smtp)
        self.announced = None

    def send(
        self,
        envelope_from: str,
        address: str,
        data: bytes,
        *,
        then: Announced | None = None,
    ) -> str:
        """Send one message; returns the server's final answer ("250 2.0.0 OK …").

        ``then`` is the next message's (envelope sender, recipient), announced with this one's
        content when the server pipelines; the next call must send exactly that message.
        Refusals raise smtplib's exceptions.
        """
        if not self.pipelining:
            return self._send_plain(envelope_from, address, data)
        if self.announced is None:
            self.smtp.send(_commands(envelope_from, address))
        elif self.announced != (envelope_from, address):
            self.smtp.close()  # a message was announced and not sent: never let it go out by mistake
            raise smtplib.SMTPServerDisconnected("pipelined transaction out of order; connection dropped")
        self.announced = None
        (mail_code, mail_reply), (rcpt_code, rcpt_reply), (data_code, data_reply) = (
            self.smtp.getreply() for _ in range(3)
        )
        failure: smtplib.SMTPException | None = None
        if mail_code != 250:
            failure = smtplib.SMTPSenderRefused(mail_code, mail_reply, envelope_from)
        elif rcpt_code not in (250, 251):
            failure = smtplib.SMTPRecipientsRefused({address: (rcpt_code, rcpt_reply)})
        elif data_code != 354:
            failure = smtplib.SMTPDataError(data_code, data_reply)
        if failure is not None:
            if data_code == 354 or 421 in (mail_code, rcpt_code, data_code):
                # A server that opened DATA anyway would deliver whatever we send: hang up instead.
                self.smtp.close()
            else:
                self._reset()
            raise failure
        # Dot-stuffing and the terminating "." as smtplib.SMTP.data does (RFC 5321 §4.5.2).
        content = _DOT_LINE.sub(b"..", data)
        if not content.endswith(b"\r\n"):
            content += b"\r\n"
        content += b".\r\n"
        if then is not None:
            content += _commands(*then)
            self.announced = then
        self.smtp.send(content)
        code, reply = self.smtp.getreply()
        if code != 250:
            if code == 421:
                self.smtp.close()
                self.announced = None
            # Otherwise the transaction is over and the announced one is on its way: no RSET.
            raise smtplib.SMTPDataError(code, reply)
        return f"{code} {_decode(reply)}"

    def _send_plain(self, envelope_from: str, address: str, data: bytes) -> str:
        smtp = self.smtp
        code, reply = smtp.mail(envelope_from)
        if code != 250:
            self._after_refusal(code)
            raise smtplib.SMTPSenderRefused(code, reply, envelope_from)
        code, reply = smtp.rcpt(address)
        if code not in (250, 251):
            self._after_refusal(code)
            raise smtplib.SMTPRecipientsRefused({address: (code, reply)})
        try:
            code, reply = smtp.data(data)
        except smtplib.SMTPDataError as exc:  # the server refused to start DATA
            self._after_refusal(exc.smtp_code)
            raise
        if code != 250:
            self._after_refusal(code)
            raise smtplib.SMTPDataError(code, reply)
        return f"{code} {_decode(reply)}"

    def _after_refusal(self, code: int) -> None:
        """Leave the session usable after a refused command, as ``smtplib.sendmail`` does."""
        if code == 421:  # the server is closing the channel (RFC 5321 §4.2.2)
            self.smtp.close()
            return
        self._reset()

    def _reset(self) -> None:
        try:
            self.smtp.rset()
        except (smtplib.SMTPException, OSError):
            self.smtp.close()


_DOT_LINE = re.compile(rb"(?m)^\.")


def _commands(envelope_from: str, address: str) -> bytes:
    # Our own normalised ASCII addresses: bracketed as they are (smtplib.quoteaddr re-parses them).
    return f"MAIL FROM:<{envelope_from}>\r\nRCPT TO:<{address}>\r\nDATA\r\n".encode("ascii")
