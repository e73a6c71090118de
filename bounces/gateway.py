"""The inbound SMTP gateway: an aiosmtpd server that refuses in the dialogue and loses nothing.

``handle_RCPT`` accepts only addresses of our alias domains that mean something. ``handle_DATA``
decides from the headers, stores the raw bytes and the envelope, commits, and only then answers
250 (product.md item 7). ``handle_exception`` answers ``451 4.3.0``: aiosmtpd's default 500
would make the sender drop the mail. Every reply carries an enhanced status code whose class
agrees with the basic code (RFC 3463), including aiosmtpd's own built-in answers, which
:meth:`GatewaySMTP.push` completes.

Database work runs off the event loop: the end of DATA in a storing process (or thread) that
stores whatever waits in one batch (:mod:`bounces.storing`), an RCPT the alias cache cannot
answer in a one-thread executor (``sync_to_async``).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import re
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from asgiref.sync import sync_to_async
from django.db import connection

from bounces import conf, services
from bounces.exceptions import GatewayConfigurationError
from bounces.routing import rcpt_check, rcpt_check_cached
from bounces.storing import StoringProcess, StoringThread, connection_check

logger = logging.getLogger(__name__)

T = TypeVar("T")

INTERNAL_ERROR_REPLY = "451 4.3.0 Error: internal server error, please try again later"
TOO_MANY_RECIPIENTS_REPLY = "452 4.5.3 Too many recipients"
TOO_MANY_CONNECTIONS_REPLY = "421 4.3.2 {host} Error: too many connections, try again later"
IDLE_TIMEOUT_REPLY = "421 4.4.2 {host} Error: timeout exceeded"

# aiosmtpd's built-in answers carry no enhanced status code (RFC 2034) or a vague one: ours do.
_EXACT_REPLIES = {
    "250 OK": "250 2.0.0 OK",
    "221 Bye": "221 2.0.0 Bye",
    "552 Error: Too much mail data": "552 5.3.4 Message too big",
    "552 Error: message size exceeds fixed maximum message size": "552 5.3.4 Message too big",
    "500 Line too long (see RFC5321 4.5.3.1.6)": "500 5.5.2 Error: line too long",
}
_DEFAULT_ENHANCED = {
    "421": "4.3.0",
    "451": "4.3.0",
    "452": "4.3.1",
    "454": "4.7.0",
    "500": "5.5.2",
    "501": "5.5.4",
    "502": "5.5.1",
    "503": "5.5.1",
    "504": "5.5.4",
    "530": "5.7.0",
    "550": "5.0.0",
    "552": "5.3.4",
    "553": "5.1.3",
    "554": "5.7.0",
    "555": "5.5.4",
}
_HAS_ENHANCED = re.compile(r"^\d{3}[ -][245]\.\d{1,3}\.\d{1,3}(?: |$)")


def with_enhanced_code(reply: str) -> str:
    """``reply`` with an enhanced status code whose class agrees with the basic code."""
    if reply in _EXACT_REPLIES:
        return _EXACT_REPLIES[reply]
    lines = reply.split("\r\n")
    fixed: list[str] = []
    for line in lines:
        code = line[:3]
        if code in _DEFAULT_ENHANCED and not _HAS_ENHANCED.match(line) and len(line) > 3 and line[3] in " -":
            line = f"{code}{line[3]}{_DEFAULT_ENHANCED[code]} {line[4:]}"
        fixed.append(line)
    return "\r\n".join(fixed)


class Doorbell:
    """Rings Celery for stored rows from one thread, off the event loop, one task per batch.

    A slow or dead broker never delays a 250. Publishing a Celery message costs about as much
    CPU as storing the row, so rows stored within ``window`` seconds of the first one waiting go
    out together (about ``max_batch`` at most): under load a ring serves many rows, when idle a row
    waits at most ``window`` for its ring. A lost ring is made up by the sweep.
    """

    def __init__(self, ring: Callable[[list[int]], bool], *, window: float = 0.05, max_batch: int = 100) -> None:
        self._ring = ring
        self._window = window
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[list[int] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="gateway-doorbell", daemon=True)
        self._thread.start()

    def ring_many(self, inbound_ids: list[int]) -> None:
        """Rows stored together: one hand-over to this thread instead of one per row."""
        if inbound_ids:
            self._queue.put(list(inbound_ids))

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            ids = list(first)
            deadline = time.monotonic() + self._window
            while len(ids) < self._max_batch:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                ids.extend(item)
            try:
                self._ring(ids)
            except Exception:  # pragma: no cover - the ring function never raises; belt and braces
                logger.exception("Doorbell failed for %s", ids)

    def close(self, timeout: float = 30) -> None:
        self._queue.put(None)
        self._thread.join(timeout)


# ``<dot-atom@dot-atom>`` then spaces, as nearly every MAIL FROM and RCPT TO is written: for it
# the address and the parameters are plain slices of the argument.
_ATEXT = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+"
_SIMPLE_PATH = re.compile(rf"[ \t]*<({_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>[ \t]*")


class GatewaySMTP(SMTP):
    """aiosmtpd's SMTP protocol with our limits: long lines, connection cap, 421 on idle."""

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's address parsing, with a fast path for the common ``<local@domain>``.

        aiosmtpd builds the stdlib's RFC 5322 token tree (and a class) for every path: about a
        third of the event loop's time at the door (py-spy). The fast path gives the same answer
        (a test compares them on any input); anything else (quoted local parts, comments, address
        literals, UTF-8, ``<>``) goes to aiosmtpd, whose crashes (on a lone ``<``, say) become a
        malformed address.
        """
        match = _SIMPLE_PATH.match(arg)
        if match is None or arg.startswith("(", match.end()):
            try:
                return super()._getaddr(arg)
            except Exception:
                # The stdlib's parser crashes on some paths ("<", '"', "a@["): a malformed
                # address (553), not our failure (451, "try again").
                return None, None
        address = match.group(1)
        if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, arg[match.end() :]

    def __init__(self, handler: GatewayHandler, *, line_length_limit: int, **kwargs: Any) -> None:
        # aiosmtpd sizes its stream buffer from this attribute in __init__ (default 1001 bytes:
        # real HTML mail has far longer lines).
        self.line_length_limit = line_length_limit
        self._counted = False
        super().__init__(handler, **kwargs)

    async def push(self, status: str | bytes) -> None:
        if isinstance(status, str):
            status = with_enhanced_code(status)
        await super().push(status)  # type: ignore[type-var]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        handler: GatewayHandler = self.event_handler
        if self._original_transport is not None or self._counted:
            # STARTTLS calls this again with the TLS transport: the same connection.
            super().connection_made(transport)
            return
        if not handler.connection_open():
            # Over the cap: say goodbye with a temporary code (the sender retries later).
            reply = TOO_MANY_CONNECTIONS_REPLY.format(host=self.hostname)
            if isinstance(transport, asyncio.WriteTransport):
                transport.write(f"{reply}\r\n".encode())
            transport.close()
            self.transport = None
            return
        self._counted = True
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted:
            self._counted = False
            self.event_handler.connection_closed()
            super().connection_lost(error)

    def _timeout_cb(self) -> None:
        # aiosmtpd closes an idle connection silently; RFC 5321 §4.2 / Postfix say goodbye first.
        if isinstance(self.transport, asyncio.WriteTransport):
            try:
                self.transport.write(f"{IDLE_TIMEOUT_REPLY.format(host=self.hostname)}\r\n".encode())
            except Exception:  # pragma: no cover - the peer is gone already
                pass
        super()._timeout_cb()


class GatewayHandler:
    """The aiosmtpd hooks. Each hook parses the input, calls one service, formats the reply."""

    def __init__(self, *, max_recipients: int, max_connections: int) -> None:
        self.max_recipients = max_recipients
        self.max_connections = max_connections
        self._connections = 0
        self._lock = threading.Lock()
        # Checked before any thread or process starts: a refusal leaves nothing running.
        mode = conf.storing()
        if mode == "process" and connection.vendor == "sqlite" and connection.is_in_memory_db():  # type: ignore[attr-defined]
            raise GatewayConfigurationError(
                "An in-memory SQLite database cannot be shared with the gateway's storing process: "
                "set MAILCORE_GATEWAY_STORING=thread."
            )
        # For the RCPTs the alias cache cannot answer: rare, one thread is plenty.
        self.db_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gateway-db")
        self.doorbell = Doorbell(services.inbound_enqueue_many)
        self.storer: StoringProcess | StoringThread
        if mode == "thread":
            self.storer = StoringThread(on_stored=self.doorbell.ring_many)
        else:
            self.storer = StoringProcess(on_stored=self.doorbell.ring_many)
        self.received = 0
        self._closed = False

    # --- connections -----------------------------------------------------------------------------
    def connection_open(self) -> bool:
        with self._lock:
            if self._connections >= self.max_connections:
                return False
            self._connections += 1
            return True

    def connection_closed(self) -> None:
        with self._lock:
            self._connections = max(self._connections - 1, 0)

    @property
    def connections(self) -> int:
        with self._lock:
            return self._connections

    # --- database access --------------------------------------------------------------------------
    async def _db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        def call() -> T:
            connection_check()
            return fn(*args, **kwargs)

        runner: Callable[[], Awaitable[T]] = sync_to_async(call, thread_sensitive=False, executor=self.db_executor)
        return await runner()

    def close(self) -> None:
        """Close the RCPT thread's connection, stop the storer (it finishes what it has), then the doorbell."""
        if self._closed:
            return
        self._closed = True

        def close_connection() -> None:
            connection.close()  # the executor thread's own connection, looked up there

        self.db_executor.submit(close_connection).result(timeout=30)
        self.db_executor.shutdown(wait=True, cancel_futures=False)
        self.storer.close()
        self.doorbell.close()

    # --- SMTP hooks --------------------------------------------------------------------------------
    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        """Any sender, the null sender ``<>`` (bounces) included."""
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        """Only our domains' addresses that mean something; refused ones never reach DATA."""
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return TOO_MANY_RECIPIENTS_REPLY
        # Aliases and alias domains are cached: most RCPTs are answered without a thread hop.
        verdict = rcpt_check_cached(address)
        if verdict is None:
            verdict = await self._db(rcpt_check, address)
        if verdict.accepted:
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        return verdict.reply

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Decide, store the raw bytes and the envelope, commit — then answer."""
        raw = envelope.original_content or b""
        mail_from = envelope.mail_from or ""
        peer = session.peer
        peer_text = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else str(peer or "")
        reception = await self.storer.submit(
            services.Incoming(
                raw=bytes(raw),
                mail_from=mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                peer=peer_text,
                helo=session.host_name or "",
            )
        )
        self.received += 1
        logger.info(
            "inbound %s from=%s to=%s decision=%s reply=%r",
            reception.inbound_id,
            mail_from or "<>",
            ",".join(envelope.rcpt_tos),
            reception.decision,
            " ".join(reception.reply.split("\r\n")),
        )
        # The storer has rung the doorbell for this row already (after the commit).
        return reception.reply

    async def handle_exception(self, error: Exception) -> str:
        """Log and answer 451: the message is not stored, so the sender must keep and retry it."""
        logger.error("SMTP session error: %s", error, exc_info=error)
        return INTERNAL_ERROR_REPLY


def tls_context() -> ssl.SSLContext | None:
    """The STARTTLS context from the configured certificate, or None when none is configured."""
    cert, key = conf.tls_cert_file(), conf.tls_key_file()
    if not cert and not key:
        return None
    if not cert or not key:
        raise GatewayConfigurationError("STARTTLS needs both MAILCORE_GATEWAY_TLS_CERT and MAILCORE_GATEWAY_TLS_KEY.")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise GatewayConfigurationError(f"Cannot load the gateway TLS certificate {cert}: {exc}") from exc
    return context


class GatewayController(Controller):
    """aiosmtpd's threaded Controller building :class:`GatewaySMTP` sessions."""

    handler: GatewayHandler

    def __init__(
        self, handler: GatewayHandler, *, line_length_limit: int, reuse_port: bool = False, **kwargs: Any
    ) -> None:
        self.line_length_limit = line_length_limit
        self.reuse_port = reuse_port
        super().__init__(handler, **kwargs)

    def factory(self) -> GatewaySMTP:
        return GatewaySMTP(self.handler, line_length_limit=self.line_length_limit, **self.SMTP_kwargs)

    def _create_server(self) -> Any:
        # SO_REUSEPORT lets several gateway processes listen on one port; the kernel spreads the
        # connections (``run_gateway --processes N``).
        return self.loop.create_server(
            self._factory_invoker,
            host=self.hostname,
            port=self.port,
            ssl=self.ssl_context,
            reuse_port=self.reuse_port or None,
        )

    def stop(self, no_assert: bool = False) -> None:
        """Stop serving, then close the handler (its storing process finishes what it has). Twice is once."""
        if self._thread is not None:
            super().stop(no_assert=no_assert)
        self.handler.close()


def make_controller(*, host: str | None = None, port: int | None = None, reuse_port: bool = False) -> GatewayController:
    """A gateway Controller configured from settings (``start()`` it, ``stop()`` it)."""
    context = tls_context()  # before the handler starts its storing process: this may refuse
    handler = GatewayHandler(
        max_recipients=conf.max_recipients(),
        max_connections=conf.max_connections(),
    )
    return GatewayController(
        handler,
        hostname=host or conf.gateway_host(),
        port=port or conf.gateway_port(),
        line_length_limit=conf.max_line_length(),
        reuse_port=reuse_port,
        server_hostname=conf.gateway_hostname(),
        ident="mailcore ESMTP",
        data_size_limit=conf.max_message_size(),
        enable_SMTPUTF8=True,
        decode_data=False,
        timeout=conf.idle_timeout(),
        tls_context=context,
        require_starttls=False,
    )
