"""A raw SMTP client for transcript tests: send exact lines, read exact replies."""

from __future__ import annotations

import re
import socket
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

_REPLY_LINE = re.compile(rb"^(\d{3})([ -])(.*)$")
_ENHANCED = re.compile(r"^\d{3}[ -]([245])\.\d{1,3}\.\d{1,3} ")


class SmtpTalk:
    """One SMTP session over a real socket. ``cmd()`` returns the whole reply, lines joined by CRLF."""

    def __init__(self, host: str, port: int, timeout: float = 15.0, source: str | None = None) -> None:
        # ``source``: the client address to connect from (127.0.0.2 is loopback too).
        bind = (source, 0) if source else None
        self.sock = socket.create_connection((host, port), timeout=timeout, source_address=bind)
        self.file = self.sock.makefile("rb")
        self.greeting = self.read_reply()

    def read_reply(self) -> str:
        lines: list[bytes] = []
        while True:
            line = self.file.readline()
            if not line:
                raise ConnectionError("connection closed; got " + repr(b"\r\n".join(lines)))
            line = line.rstrip(b"\r\n")
            lines.append(line)
            match = _REPLY_LINE.match(line)
            if match is None or match.group(2) == b" ":
                break
        return b"\r\n".join(lines).decode("utf-8", "replace")

    def send_line(self, line: str | bytes) -> None:
        data = line.encode("utf-8") if isinstance(line, str) else line
        self.sock.sendall(data + b"\r\n")

    def cmd(self, line: str | bytes) -> str:
        self.send_line(line)
        return self.read_reply()

    def data(self, message: bytes) -> str:
        """Send DATA, the dot-stuffed message, the final dot; return the reply to the message."""
        reply = self.cmd("DATA")
        assert reply.startswith("354"), reply
        body = message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        stuffed = b"\r\n".join(b"." + line if line.startswith(b".") else line for line in body.split(b"\r\n"))
        self.sock.sendall(stuffed + b".\r\n")
        return self.read_reply()

    def starttls(self, context: ssl.SSLContext, server_hostname: str) -> None:
        self.file.close()
        self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname)
        self.file = self.sock.makefile("rb")

    def close(self) -> None:
        try:
            self.file.close()
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> SmtpTalk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def assert_codes_agree(reply: str) -> None:
    """Every line's enhanced status class equals its basic code's first digit (RFC 3463)."""
    for line in reply.split("\r\n"):
        match = _ENHANCED.match(line)
        if match:
            assert match.group(1) == line[0], f"basic and enhanced codes disagree: {line!r}"


def make_mail(
    *,
    sender: str = "Alice <alice@example.com>",
    to: str = "catchall@mailcore.localhost",
    subject: str = "Hello",
    body: str = "Hello there.",
    headers: dict[str, str] | None = None,
    message_id: str | None = None,
) -> bytes:
    """A simple RFC 5322 message with CRLF line ends."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or make_msgid(domain="example.com")
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def transaction_reply(host: str, port: int, *, mail_from: str, rcpt: list[str], message: bytes) -> str:
    """A whole transaction; returns the DATA reply (or the first refused RCPT reply)."""
    with SmtpTalk(host, port) as talk:
        talk.cmd("EHLO client.example.com")
        reply = talk.cmd(f"MAIL FROM:<{mail_from}>")
        assert reply.startswith("250"), reply
        for address in rcpt:
            reply = talk.cmd(f"RCPT TO:<{address}>")
            if not reply.startswith("250"):
                return reply
        reply = talk.data(message)
        talk.cmd("QUIT")
        return reply


def reply_text(reply: str, code: str, enhanced: str) -> str:
    """The text of a (multi-line) reply, after checking each line's codes and RFC 5321 length cap."""
    lines = reply.split("\r\n")
    texts: list[str] = []
    for index, line in enumerate(lines):
        separator = " " if index == len(lines) - 1 else "-"
        prefix = f"{code}{separator}{enhanced} "
        assert line.startswith(prefix), f"line {index} of {reply!r} does not start with {prefix!r}"
        assert len(line.encode()) + 2 <= 512, "RFC 5321 §4.5.3.1.5: reply lines are at most 512 octets"
        texts.append(line[len(prefix) :])
    return " ".join(texts)
