"""The local outgoing SMTP sink of ``make run`` and its web viewer (/sink/).

A newcomer's mail must go somewhere visible without a real mail server: ``manage.py run_sink``
accepts every message on 127.0.0.1:1025 (the built-in outgoing server's default) and writes it
as ``var/sink/<timestamp>-<n>.eml``; the pages below list and show those files. Like a final
delivery agent (RFC 5321 §4.4) the sink adds ``Return-Path`` with the envelope sender and one
``X-Original-To`` per envelope recipient (Postfix's header), so the envelope stays visible.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
import os
import re
import signal
import threading
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import nh3
from aiosmtpd.smtp import SMTP, Envelope, Session
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from mailcore import conf
from mailcore.permissions import staff_required

logger = logging.getLogger(__name__)

NAME_RE = re.compile(r"\d{8}T\d{12}-\d{6}\.eml")
_counter = itertools.count(1)
_counter_lock = threading.Lock()


# --- storage ------------------------------------------------------------------------------------
def sink_store(*, mail_from: str, rcpt_tos: list[str], data: bytes, directory: Path | None = None) -> Path:
    """Write one received message as ``<timestamp>-<n>.eml``, envelope headers first.

    The file appears whole or not at all (written aside, then linked into place), so the viewer
    never shows half a message.
    """
    directory = directory or conf.sink_dir()
    directory.mkdir(parents=True, exist_ok=True)
    newline = b"\r\n" if b"\r\n" in data[:4096] else b"\n"
    envelope = f"Return-Path: <{mail_from}>".encode() + newline
    envelope += b"".join(f"X-Original-To: {rcpt}".encode() + newline for rcpt in rcpt_tos)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    temporary = directory / f".tmp-{os.getpid()}-{threading.get_ident()}"
    temporary.write_bytes(envelope + data)
    try:
        while True:
            with _counter_lock:
                number = next(_counter)
            target = directory / f"{stamp}-{number % 1_000_000:06d}.eml"
            try:
                os.link(temporary, target)
                return target
            except FileExistsError:
                continue
    finally:
        temporary.unlink(missing_ok=True)


@dataclass
class SinkEntry:
    """One captured message: enough for the list page."""

    name: str
    received: dt.datetime
    size: int
    mail_from: str = ""
    recipients: list[str] = field(default_factory=list)
    subject: str = ""
    header_from: str = ""


@dataclass
class SinkMessage:
    """One captured message, parsed for the detail page."""

    entry: SinkEntry
    headers: list[tuple[str, str]]
    text: str
    html: str
    attachments: list[tuple[str, str, int]]


def _received(name: str) -> dt.datetime:
    return dt.datetime.strptime(name[:21], "%Y%m%dT%H%M%S%f").replace(tzinfo=dt.UTC)


def _path(name: str, directory: Path | None = None) -> Path:
    if not NAME_RE.fullmatch(name):
        raise FileNotFoundError(name)
    path = (directory or conf.sink_dir()) / name
    if not path.is_file():
        raise FileNotFoundError(name)
    return path


def _parse(path: Path, *, headers_only: bool) -> tuple[SinkEntry, EmailMessage]:
    with path.open("rb") as handle:
        message = BytesParser(policy=policy.default).parse(handle, headersonly=headers_only)
    assert isinstance(message, EmailMessage)  # policy.default builds EmailMessage objects
    entry = SinkEntry(
        name=path.name,
        received=_received(path.name),
        size=path.stat().st_size,
        mail_from=str(message.get("Return-Path", "")).strip("<>"),
        recipients=[str(value) for value in message.get_all("X-Original-To", [])],
        subject=str(message.get("Subject", "")),
        header_from=str(message.get("From", "")),
    )
    return entry, message


def sink_names(directory: Path | None = None) -> list[str]:
    """Names of the captured messages, newest first."""
    directory = directory or conf.sink_dir()
    if not directory.is_dir():
        return []
    return sorted((name for name in os.listdir(directory) if NAME_RE.fullmatch(name)), reverse=True)


def sink_entries(names: list[str], directory: Path | None = None) -> list[SinkEntry]:
    """Headers of the named messages (a page of the list); vanished files are skipped."""
    entries = []
    for name in names:
        try:
            entries.append(_parse(_path(name, directory), headers_only=True)[0])
        except FileNotFoundError:
            continue
    return entries


def sink_message(name: str, directory: Path | None = None) -> SinkMessage:
    """The parsed message ``name``; raises FileNotFoundError for an unknown or invalid name."""
    entry, message = _parse(_path(name, directory), headers_only=False)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    attachments = []
    for part in message.iter_attachments():
        payload = part.get_payload(decode=True)
        attachments.append(
            (
                part.get_filename() or "(no name)",
                part.get_content_type(),
                len(payload) if isinstance(payload, bytes) else 0,
            )
        )
    html = ""
    if html_part is not None:
        # Shown in a sandboxed iframe as well; no images, so opening a mail never fetches anything.
        html = nh3.clean(str(html_part.get_content()), tags=set(nh3.ALLOWED_TAGS) - {"img"})
    return SinkMessage(
        entry=entry,
        headers=[(key, str(value)) for key, value in message.items()],
        text=str(text_part.get_content()) if text_part is not None else "",
        html=html,
        attachments=attachments,
    )


def sink_clear(directory: Path | None = None) -> int:
    """Delete every captured message; returns how many were deleted."""
    directory = directory or conf.sink_dir()
    count = 0
    for name in sink_names(directory):
        (directory / name).unlink(missing_ok=True)
        count += 1
    return count


# --- the SMTP server ------------------------------------------------------------------------------
class SinkHandler:
    """aiosmtpd handler: accept everything, store it, answer 250 once it is on disk."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Store the message exactly as received, then answer 250."""
        data = envelope.original_content or envelope.content or b""
        path = await asyncio.to_thread(
            sink_store,
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            data=bytes(data) if isinstance(data, bytes | bytearray) else str(data).encode(),
            directory=self.directory,
        )
        logger.info("sink: %s from <%s> to %s", path.name, envelope.mail_from, ", ".join(envelope.rcpt_tos))
        return "250 2.0.0 OK: captured by the local sink"


async def sink_listen(*, host: str, port: int, directory: Path) -> asyncio.Server:
    """Start the sink's SMTP server on the running event loop (``close()`` it to stop)."""
    handler = SinkHandler(directory)
    return await asyncio.get_running_loop().create_server(
        lambda: SMTP(handler, hostname="mailcore-sink", decode_data=False, data_size_limit=0),
        host=host,
        port=port,
    )


def sink_serve(*, host: str, port: int, directory: Path, ready: threading.Event | None = None) -> None:
    """Run the sink until SIGINT or SIGTERM (``make run`` stops it with Ctrl-C)."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        server = await sink_listen(host=host, port=port, directory=directory)
        if ready is not None:
            ready.set()
        try:
            await stop.wait()
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(main())


# --- the viewer -----------------------------------------------------------------------------------
@require_GET
@staff_required
def sink_list_view(request: HttpRequest) -> HttpResponse:
    names = sink_names()
    page = Paginator(names, 50).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "entries": sink_entries(list(page.object_list)),
        "total": len(names),
        "sink_address": f"{conf.sink_host()}:{conf.sink_port()}",
        "sink_dir": conf.sink_dir(),
    }
    return render(request, "sink/list.html", context)


@require_GET
@staff_required
def sink_detail_view(request: HttpRequest, name: str) -> HttpResponse:
    try:
        message = sink_message(name)
    except FileNotFoundError as exc:
        raise Http404("No such captured message.") from exc
    return render(request, "sink/detail.html", {"message": message})


@require_GET
@staff_required
def sink_raw_view(request: HttpRequest, name: str) -> FileResponse:
    try:
        path = _path(name)
    except FileNotFoundError as exc:
        raise Http404("No such captured message.") from exc
    return FileResponse(path.open("rb"), as_attachment=True, filename=name, content_type="message/rfc822")


@require_POST
@staff_required
def sink_clear_view(request: HttpRequest) -> HttpResponse:
    count = sink_clear()
    messages.success(
        request,
        ngettext("Deleted %(count)d captured message.", "Deleted %(count)d captured messages.", count)
        % {"count": count},
    )
    return HttpResponseRedirect(reverse("sink:list"))
