"""The inbound SMTP gateway: an aiosmtpd server that refuses in the dialogue and loses nothing.

``handle_RCPT`` accepts only addresses of our alias domains that mean something. ``handle_DATA``
decides from the headers, stores the raw bytes and the envelope, commits, and only then answers
250. ``handle_exception`` answers ``451 4.3.0``: aiosmtpd's default 500
would make the sender drop the mail. Every reply comes from :mod:`bounces.replies`; aiosmtpd's
own answers get their enhanced status code in :meth:`GatewaySMTP.push`.

Database work runs off the event loop: the end of DATA in a storing thread that stores whatever
waits in one batch (:mod:`bounces.storing`), an RCPT the alias cache cannot answer in a
one-thread executor (``sync_to_async``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import signal
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
from bounces.replies import Reply, with_enhanced_code
from bounces.routing import rcpt_check, rcpt_check_cached
from bounces.storing import StoringThread, connection_check

logger = logging.getLogger(__name__)

T = TypeVar("T")
_Method = Callable[[str | None], Awaitable[None]]

# Commands that move no mail: a session may send a few between two messages (Postfix's "junk
# commands"); a client that sends nothing else would otherwise keep a connection forever.
_JUNK_COMMANDS = frozenset(("NOOP", "RSET", "VRFY", "HELP", "EXPN"))
# Commands whose refusals the inbound log records.
_RECORDED_COMMANDS = frozenset(("HELO", "EHLO", "MAIL", "RCPT", "DATA"))
# Why aiosmtpd refused, for its own replies (the original text, before our enhanced code).
_BUILTIN_REASONS = {
    "552 Error: message size exceeds fixed maximum message size": (
        "The size announced with SIZE= is over the limit of {size} bytes (MAILCORE_GATEWAY_MAX_MESSAGE_SIZE)."
    ),
    "552 Error: Too much mail data": (
        "The message is over the limit of {size} bytes (MAILCORE_GATEWAY_MAX_MESSAGE_SIZE); it was not stored."
    ),
    "500 Line too long (see RFC5321 4.5.3.1.6)": (
        "A line of the message is over {line} bytes (MAILCORE_GATEWAY_MAX_LINE_LENGTH); it was not stored."
    ),
    Reply.MALFORMED_ADDRESS: "The address cannot be parsed.",
    Reply.INVALID_UTF8: "Invalid UTF-8 in the command.",
    Reply.NUL: "A NUL character in the command.",
}


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


class RefusalLog:
    """The refusals of one gateway process, on their way to the inbound log.

    Runs on the event loop and costs no database round trip there: refusals are handed to the
    storer in batches (within ``delay`` seconds of the first waiting one), which writes them
    after the messages waiting with them. A client refused over and over gets at most
    ``per_minute`` rows per minute; the others are only counted, on the last of those rows.
    """

    def __init__(
        self, write: Callable[[services.RefusalBatch], Awaitable[None]], *, per_minute: int, delay: float = 0.05
    ) -> None:
        self._write = write
        self._per_minute = per_minute
        self._delay = delay
        self._minute = -1
        self._counts: dict[str, int] = {}  # refusals per address in the current minute
        self._batch = services.RefusalBatch([], {})
        self._flush_handle: asyncio.TimerHandle | None = None
        self._writing: set[asyncio.Task[None]] = set()

    def record(self, refusal: services.Refusal) -> None:
        minute = int(refusal.at // 60)
        if minute != self._minute:
            self._minute = minute
            self._counts.clear()
        count = self._counts.get(refusal.remote_address, 0) + 1
        self._counts[refusal.remote_address] = count
        if count <= self._per_minute:
            self._batch.refusals.append(refusal)
        else:
            key = (refusal.remote_address, minute)
            self._batch.more[key] = self._batch.more.get(key, 0) + 1
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_later(self._delay, self.flush)

    def flush(self) -> None:
        self._flush_handle = None
        batch, self._batch = self._batch, services.RefusalBatch([], {})
        if batch.refusals or batch.more:
            task = asyncio.get_running_loop().create_task(self._hand_over(batch))
            self._writing.add(task)
            task.add_done_callback(self._writing.discard)

    async def _hand_over(self, batch: services.RefusalBatch) -> None:
        try:
            await self._write(batch)
        except Exception:
            logger.warning("Could not record %s refusals of the SMTP dialogue", len(batch.refusals), exc_info=True)

    async def drain(self) -> None:
        """Hand over what waits now (the gateway is stopping)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        self.flush()
        if self._writing:
            await asyncio.gather(*self._writing)


def _command_problem(arg: str) -> str | None:
    """The reply for a command argument no address or name can be made of, else None."""
    if arg.isascii():
        return Reply.NUL if "\x00" in arg else None
    try:
        arg.encode("utf-8")  # lone surrogates: the bytes were not UTF-8
    except UnicodeEncodeError:
        return Reply.INVALID_UTF8
    return Reply.NUL if "\x00" in arg else None


class GatewaySMTP(SMTP):
    """aiosmtpd's SMTP protocol with our limits and the refusals recorded.

    Limits: long lines, connections in all and per client address, a session's time and its
    junk commands, 421 on idle. Every 4xx/5xx answered to HELO, EHLO, MAIL, RCPT or DATA (but
    the end of DATA, whose message is stored with its reply) goes to the handler's
    :class:`RefusalLog`.
    """

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's address parsing, whose crashes (the stdlib's parser on "<", '"', "a@[") are
        a malformed address (553), not our failure (451, "try again"): aiosmtpd has no hook for it."""
        try:
            return super()._getaddr(arg)
        except Exception:
            return None, None

    def __init__(self, handler: GatewayHandler, *, line_length_limit: int, **kwargs: Any) -> None:
        # aiosmtpd sizes its stream buffer from this attribute in __init__ (default 1001 bytes:
        # real HTML mail has far longer lines).
        self.line_length_limit = line_length_limit
        self._counted = False
        self._address = ""
        self._started = 0.0
        self._junk = 0
        # The command being answered, while its refusal would be recorded: (name, argument).
        self._answering: tuple[str, str] | None = None
        # Set by the handler when it refuses, for the inbound log.
        self.refusal_reason = ""
        super().__init__(handler, **kwargs)
        self._smtp_methods = {name: self._guarded(name, method) for name, method in self._smtp_methods.items()}

    def _guarded(self, name: str, method: _Method) -> _Method:
        async def guarded(arg: str | None) -> None:
            await self._run_command(name, method, arg)

        return guarded

    async def _run_command(self, name: str, method: _Method, arg: str | None) -> None:
        """Every command: the session's limits, then the argument's encoding, then aiosmtpd's method."""
        if name != "QUIT" and self.loop.time() - self._started > self.event_handler.session_timeout:
            await self._goodbye(Reply.SESSION_TIMEOUT.format(host=self.hostname), name, arg, "Session time limit.")
            return
        if name in _JUNK_COMMANDS:
            self._junk += 1
            if self._junk > self.event_handler.junk_command_limit:
                await self._goodbye(
                    Reply.JUNK_COMMANDS.format(host=self.hostname), name, arg, "Too many commands without mail."
                )
                return
        elif name == "DATA":
            self._junk = 0
        self.refusal_reason = ""
        self._answering = (name, arg or "") if name in _RECORDED_COMMANDS else None
        try:
            problem = _command_problem(arg) if arg else None
            if problem is not None:
                await self.push(problem)
                return
            await method(arg)
        finally:
            self._answering = None

    async def _goodbye(self, reply: str, name: str, arg: str | None, reason: str) -> None:
        self._record(reply, reason, name, arg or "")
        await super().push(reply)  # type: ignore[type-var]
        if self.transport is not None:
            self.transport.close()

    def message_stored(self) -> None:
        """The end of DATA was answered by a stored message: its row records the reply."""
        self._answering = None

    async def push(self, status: str | bytes) -> None:
        if isinstance(status, str):
            if self._answering is not None and status[:1] in ("4", "5"):
                name, arg = self._answering
                self._answering = None
                reason = self.refusal_reason or _BUILTIN_REASONS.get(status, "").format(
                    size=self.data_size_limit, line=self.line_length_limit
                )
                status = with_enhanced_code(status)
                self._record(status, reason, name, arg)
            else:
                status = with_enhanced_code(status)
        await super().push(status)  # type: ignore[type-var]

    def _record(self, reply: str, reason: str, name: str, arg: str) -> None:
        """Hand one refusal to the refusal log (on the event loop; no database here)."""
        session, envelope = self.session, self.envelope
        helo = (session.host_name if session is not None else None) or ""
        mail_from = (envelope.mail_from if envelope is not None else None) or ""
        recipient = ""
        if name in ("MAIL", "RCPT"):
            path = self._strip_command_keyword("FROM:" if name == "MAIL" else "TO:", arg)
            address = (self._getaddr(path)[0] or "") if path and _command_problem(path) is None else ""
            if name == "MAIL":
                mail_from = address
            else:
                recipient = address
        elif name in ("HELO", "EHLO") and not helo:
            helo = arg
        self.event_handler.refusals.record(
            services.Refusal(
                at=time.time(),
                remote_address=self._address,
                reply=reply,
                reason=reason,
                command=f"{name} {arg}".strip(),
                helo=helo,
                mail_from=mail_from,
                recipient=recipient,
            )
        )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        handler: GatewayHandler = self.event_handler
        if self._original_transport is not None or self._counted:
            # STARTTLS calls this again with the TLS transport: the same connection.
            super().connection_made(transport)
            return
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else str(peer or "")
        refusal = handler.connection_open(address)
        if refusal is not None:
            # Over a limit: say goodbye with a temporary code (the sender retries later).
            reply = refusal.format(host=self.hostname, address=address)
            if isinstance(transport, asyncio.WriteTransport):
                transport.write(f"{reply}\r\n".encode())
            transport.close()
            self.transport = None
            handler.refusals.record(
                services.Refusal(
                    at=time.time(), remote_address=address, reply=reply, reason="Connection limit.", command="(connect)"
                )
            )
            return
        self._counted = True
        self._address = address
        self._started = self.loop.time()
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted:
            self._counted = False
            self.event_handler.connection_closed(self._address)
            super().connection_lost(error)

    def _timeout_cb(self) -> None:
        # aiosmtpd closes an idle connection silently; RFC 5321 §4.2 / Postfix say goodbye first.
        if isinstance(self.transport, asyncio.WriteTransport):
            try:
                self.transport.write(f"{Reply.IDLE_TIMEOUT.format(host=self.hostname)}\r\n".encode())
            except Exception:  # pragma: no cover - the peer is gone already
                pass
        super()._timeout_cb()


class GatewayHandler:
    """The aiosmtpd hooks. Each hook parses the input, calls one service, formats the reply."""

    def __init__(
        self,
        *,
        max_recipients: int,
        max_connections: int,
        max_connections_per_address: int,
        session_timeout: float,
        junk_command_limit: int,
        refusals_per_minute: int,
    ) -> None:
        self.max_recipients = max_recipients
        self.max_connections = max_connections
        self.max_connections_per_address = max_connections_per_address
        self.session_timeout = session_timeout
        self.junk_command_limit = junk_command_limit
        self._connections = 0
        self._by_address: dict[str, int] = {}
        self._lock = threading.Lock()
        # For the RCPTs the alias cache cannot answer: rare, one thread is plenty.
        self.db_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gateway-db")
        self.doorbell = Doorbell(services.inbound_enqueue_many)
        self.storer = StoringThread(on_stored=self.doorbell.ring_many)
        self.refusals = RefusalLog(self.storer.record_refusals, per_minute=refusals_per_minute)
        self.received = 0
        self._closed = False

    # --- connections -----------------------------------------------------------------------------
    def connection_open(self, address: str) -> str | None:
        """Count a new connection from ``address``; over a limit, the reply to say goodbye with."""
        with self._lock:
            if self._connections >= self.max_connections:
                return Reply.TOO_MANY_CONNECTIONS
            from_address = self._by_address.get(address, 0)
            if from_address >= self.max_connections_per_address:
                return Reply.TOO_MANY_FROM_ADDRESS
            self._connections += 1
            self._by_address[address] = from_address + 1
            return None

    def connection_closed(self, address: str) -> None:
        with self._lock:
            self._connections = max(self._connections - 1, 0)
            left = self._by_address.get(address, 0) - 1
            if left > 0:
                self._by_address[address] = left
            else:
                self._by_address.pop(address, None)

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
        return Reply.MAIL_OK

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        """Only our domains' addresses that mean something; refused ones never reach DATA.

        A recipient given twice is accepted once: the message goes to it once (and a flood of
        the same alias cannot fill the recipient limit with copies).
        """
        if address in envelope.rcpt_tos:
            return Reply.RCPT_OK
        if len(envelope.rcpt_tos) >= self.max_recipients:
            if isinstance(server, GatewaySMTP):
                server.refusal_reason = (
                    f"More than {self.max_recipients} recipients in one message (MAILCORE_GATEWAY_MAX_RECIPIENTS)."
                )
            return Reply.TOO_MANY_RECIPIENTS
        # Aliases and alias domains are cached: most RCPTs are answered without a thread hop.
        verdict = rcpt_check_cached(address)
        if verdict is None:
            verdict = await self._db(rcpt_check, address)
        if verdict.accepted:
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        elif isinstance(server, GatewaySMTP):
            server.refusal_reason = verdict.reason
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
        if isinstance(server, GatewaySMTP):
            server.message_stored()
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
        return Reply.INTERNAL_ERROR


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
        """Stop serving, then close the handler (its storing thread finishes what it has). Twice is once."""
        if self._thread is not None:
            with contextlib.suppress(Exception):  # refusals still waiting: handed over, or logged as lost
                asyncio.run_coroutine_threadsafe(self.handler.refusals.drain(), self.loop).result(timeout=10)
            super().stop(no_assert=no_assert)
        self.handler.close()


def make_controller(*, host: str | None = None, port: int | None = None, reuse_port: bool = False) -> GatewayController:
    """A gateway Controller configured from settings (``start()`` it, ``stop()`` it)."""
    context = tls_context()  # before the handler starts its threads: this may refuse
    handler = GatewayHandler(
        max_recipients=conf.max_recipients(),
        max_connections=conf.max_connections(),
        max_connections_per_address=conf.max_connections_per_address(),
        session_timeout=conf.session_timeout(),
        junk_command_limit=conf.junk_command_limit(),
        refusals_per_minute=conf.refusals_per_minute(),
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


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT (Ctrl-C): a serving command waits on it, then stops cleanly."""
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop
