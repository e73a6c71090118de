"""A real aiosmtpd SMTP server on a free loopback port that can be told to fail (tests only).

``make run``'s sink is :mod:`mailcore.sink` (it writes .eml files). This one records every
message it accepts in memory with its envelope, and can be told to answer the next MAIL, RCPT
or DATA with a chosen code, to refuse chosen recipients, or to drop the connection.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now (aiosmtpd's threaded Controller cannot take port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> Message:
        return message_from_bytes(self.data)


@dataclass
class FailureRule:
    """Answer ``reply`` at ``stage`` ("MAIL", "RCPT", "DATA") — ``times`` times, or always (-1).

    ``address`` limits a RCPT rule to one recipient. ``reply == "DROP"`` closes the connection.
    """

    stage: str
    reply: str
    times: int = -1
    address: str | None = None


@dataclass
class SinkHandler:
    messages: list[ReceivedMail] = field(default_factory=list)
    rules: list[FailureRule] = field(default_factory=list)
    sessions: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _match(self, stage: str, address: str | None = None) -> str | None:
        with self.lock:
            for rule in self.rules:
                if rule.stage != stage or rule.times == 0:
                    continue
                if rule.address is not None and (address or "").lower() != rule.address.lower():
                    continue
                if rule.times > 0:
                    rule.times -= 1
                return rule.reply
        return None

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        with self.lock:
            self.sessions += 1
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        reply = self._match("MAIL", address)
        if reply == "DROP":
            server.transport.close()  # type: ignore[union-attr]
            return "421 4.4.2 connection dropped"
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self._match("RCPT", address)
        if reply == "DROP":
            server.transport.close()  # type: ignore[union-attr]
            return "421 4.4.2 connection dropped"
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = self._match("DATA", envelope.rcpt_tos[0] if envelope.rcpt_tos else None)
        if reply == "DROP":
            server.transport.close()  # type: ignore[union-attr]
            return "421 4.4.2 connection dropped"
        if reply:
            return reply
        with self.lock:
            self.messages.append(
                ReceivedMail(
                    mail_from=envelope.mail_from or "",
                    rcpt_tos=list(envelope.rcpt_tos),
                    data=bytes(envelope.original_content or envelope.content or b""),  # type: ignore[arg-type]
                )
            )
        return "250 2.0.0 OK queued"


class SmtpSink:
    """A running sink: ``sink.port``, ``sink.messages``, ``sink.fail(...)``, ``sink.stop()``."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.handler = SinkHandler()
        self.controller = Controller(self.handler, hostname=host, port=self.port, decode_data=False, data_size_limit=0)

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def messages(self) -> list[ReceivedMail]:
        with self.handler.lock:
            return list(self.handler.messages)

    def fail(self, stage: str, reply: str, *, times: int = -1, address: str | None = None) -> None:
        with self.handler.lock:
            self.handler.rules.append(FailureRule(stage=stage.upper(), reply=reply, times=times, address=address))

    def reset(self) -> None:
        with self.handler.lock:
            self.handler.rules.clear()
            self.handler.messages.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        """Wait until ``count`` messages arrived (or the timeout); returns what arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                break
            time.sleep(0.02)
        return self.messages
