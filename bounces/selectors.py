"""Reads of the gateway's hot path, and the alias-domain cache.

The end of DATA is answered only after the row is committed, so every query there is on the
critical path of the sender. These few reads use plain SQL on indexed columns (an ORM query
costs about four times the CPU of the same SQL here, and the gateway is CPU-bound); everything
else in the app uses the ORM.

Aliases and alias domains are read on every RCPT: they are cached in the process for
``MAILCORE_GATEWAY_CACHE_SECONDS`` (10 s by default) and dropped at once when a row changes in
this process (signals); another process (the web app) changes them for the gateway within the TTL.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.db import connection

from bounces import conf
from bounces.dsn import notice_excerpt
from bounces.dsn.types import UNREADABLE_DIAGNOSTIC
from bounces.models import BounceAction, BounceEvent, InboundDecision, InboundMessage
from chatter.models import Message, MessageSubtype
from chatter.registry import BounceNotice
from mailcore.models import Alias, AliasDomain


# --- alias domains and aliases ------------------------------------------------------------------
@dataclass(frozen=True)
class _DomainEntry:
    domain: AliasDomain
    aliases: dict[str, Alias]  # lower-cased local part -> active alias


# The alias cache's content: alias domains by lower-cased name, content types with a chatter.
CacheView = tuple[dict[str, _DomainEntry], frozenset[int]]


class _AliasCache:
    """Alias domains, their active aliases, and the content types of models with a chatter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # When the copy stops being trusted: the TTL setting is read once per load, not on every
        # RCPT (a change of the setting applies from the next load).
        self._expires_at = 0.0
        self._domains: dict[str, _DomainEntry] = {}
        self._thread_models: frozenset[int] = frozenset()

    def clear(self, **kwargs: Any) -> None:
        with self._lock:
            self._expires_at = 0.0
            self._domains = {}

    def _load(self) -> CacheView:
        from django.apps import apps
        from django.contrib.contenttypes.models import ContentType

        from chatter.thread import MailThread

        domains = {d.pk: d for d in AliasDomain.objects.all()}
        aliases: dict[int, dict[str, Alias]] = {pk: {} for pk in domains}
        for alias in Alias.objects.filter(active=True).select_related("alias_domain", "alias_model"):
            aliases.setdefault(alias.alias_domain_id, {})[alias.alias_name.lower()] = alias
        models = [m for m in apps.get_models() if issubclass(m, MailThread)]
        thread_models = frozenset(ct.pk for ct in ContentType.objects.get_for_models(*models).values())
        return {d.name.lower(): _DomainEntry(d, aliases.get(pk, {})) for pk, d in domains.items()}, thread_models

    def cached(self) -> CacheView | None:
        """What :meth:`current` returns, but only from the cache (never the database), or None."""
        with self._lock:
            if self._domains and time.monotonic() < self._expires_at:
                return self._domains, self._thread_models
        return None

    def current(self) -> CacheView:
        """The alias domains (by lower-cased name) and the chatter models, loaded when stale."""
        cached = self.cached()
        if cached is not None:
            return cached
        ttl = conf.gateway_cache_seconds()
        domains, thread_models = self._load()
        with self._lock:
            self._domains, self._thread_models = domains, thread_models
            self._expires_at = time.monotonic() + ttl if ttl > 0 else 0.0
        return domains, thread_models


alias_cache = _AliasCache()


# --- messages the gateway looks up --------------------------------------------------------------
@dataclass(frozen=True)
class KnownMessage:
    """A chatter message found by Message-ID (for the duplicate guard and the parent lookup)."""

    id: int
    message_id: str
    model_id: int | None
    res_id: int | None
    internal: bool


@dataclass(frozen=True)
class Lookup:
    """What the door knows about one message."""

    messages: dict[str, KnownMessage]
    inbound_duplicate: bool
    # Accepted mails from the sender per loop target within the loop window (as in Odoo).
    loop_counts: dict[str, int]


@dataclass
class BatchLookup:
    """What the door knows about several messages stored together (one round trip)."""

    messages: dict[str, KnownMessage]
    inbound_message_ids: set[str]
    loop_counts: dict[tuple[str, str], int]  # (sender, target) -> accepted mails in the window

    def for_message(self, *, message_id: str, sender: str) -> Lookup:
        return Lookup(
            messages=self.messages,
            inbound_duplicate=bool(message_id) and message_id in self.inbound_message_ids,
            loop_counts={t: n for (s, t), n in self.loop_counts.items() if s == sender},
        )

    def accepted(self, *, message_id: str, sender: str, target: str) -> None:
        """Count a message accepted earlier in the same batch, as if it were stored already."""
        if message_id:
            self.inbound_message_ids.add(message_id)
        if sender and target:
            self.loop_counts[(sender, target)] = self.loop_counts.get((sender, target), 0) + 1


def _rows(sql: str, params: list[Any], *, native: bool = False) -> list[tuple[Any, ...]]:
    """Run one hot-path query. On PostgreSQL with server-side binding (no Python-side quoting).

    ``native``: ``sql`` is written with PostgreSQL's own ``$1`` placeholders, which psycopg sends
    as they are. For a statement with many parameters (a multi-row INSERT) psycopg would
    otherwise parse the ``%s`` text again on every call, uncached: a quarter of the INSERT's time.
    """
    if connection.vendor == "postgresql":
        # Only PostgreSQL needs psycopg, and its backend has imported it already; SQLite processes
        # (the embedded default) do not load it.
        import psycopg
        from psycopg.pq import ExecStatus

        connection.ensure_connection()
        raw = connection.connection
        with connection.wrap_database_errors, (psycopg.RawCursor if native else psycopg.Cursor)(raw) as cursor:
            cursor.execute(sql, params)
            # The result's status, not ``cursor.description``: that builds a column object per
            # column on every call, a tenth of the CPU of the end of DATA.
            result = cursor.pgresult
            ok = result is not None and result.status == ExecStatus.TUPLES_OK
            return cursor.fetchall() if ok else []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def _in(column: str, values: list[Any], params: list[Any]) -> str:
    if connection.vendor == "postgresql":
        params.append(list(values))
        return f"{column} = ANY(%s)"
    params.extend(values)
    return f"{column} IN ({', '.join(['%s'] * len(values))})"


def messages_lookup_many(
    *, ids: list[str], inbound_message_ids: list[str], senders: list[str], loop_minutes: int
) -> BatchLookup:
    """Everything the end of DATA reads, for one or several messages, in one round trip.

    Chatter messages with any of ``ids`` (Odoo's duplicate guard and parent lookup), which of
    ``inbound_message_ids`` were already accepted at the door, and how many
    mails each of ``senders`` had accepted per target in the last ``loop_minutes`` (the loop
    counter).
    """
    from django.utils import timezone

    ids = [i for i in dict.fromkeys(ids) if i]
    inbound_ids = [i for i in dict.fromkeys(inbound_message_ids) if i]
    senders = [s for s in dict.fromkeys(senders) if s]
    message_table = Message._meta.db_table
    subtype_table = MessageSubtype._meta.db_table
    inbound_table = InboundMessage._meta.db_table
    parts: list[str] = []
    params: list[Any] = []
    if ids:
        parts.append(
            "SELECT 0, m.id, m.message_id, m.model_id, m.res_id, "
            "CASE WHEN m.is_internal OR s.internal THEN 1 ELSE 0 END "
            f"FROM {message_table} m LEFT JOIN {subtype_table} s ON s.id = m.subtype_id "
            f"WHERE {_in('m.message_id', ids, params)}"
        )
    if inbound_ids:
        where = _in("i.message_id", inbound_ids, params)
        parts.append(
            f"SELECT 1, i.id, i.message_id, NULL, NULL, 0 FROM {inbound_table} i "
            f"WHERE {where} AND i.decision IN ('{InboundDecision.ACCEPTED}', '{InboundDecision.BOUNCE}')"
        )
    if senders:
        since = timezone.now() - dt.timedelta(minutes=loop_minutes)
        received_at = InboundMessage._meta.get_field("received_at")
        where = _in("l.sender_email", senders, params)
        parts.append(
            # Sender and target travel in one text column (neither contains a space).
            f"SELECT 2, COUNT(*), l.sender_email || ' ' || l.loop_target, NULL, NULL, 0 FROM {inbound_table} l "
            # The decision is a literal, not a parameter: the planner can then match the partial
            # index on accepted mail.
            f"WHERE {where} AND l.received_at >= %s AND l.decision = '{InboundDecision.ACCEPTED}' "
            "AND l.loop_target <> '' GROUP BY l.sender_email, l.loop_target"
        )
        params.append(received_at.get_db_prep_value(since, connection))
    result = BatchLookup({}, set(), {})
    if not parts:
        return result
    # Oldest first, so the newest message with an id wins below (Odoo: newest first, limit 1).
    for kind, pk, text, model_id, res_id, internal in _rows(" UNION ALL ".join(parts) + " ORDER BY 1, 2", params):
        if kind == 0:
            result.messages[text] = KnownMessage(pk, text, model_id, res_id, bool(internal))
        elif kind == 1:
            result.inbound_message_ids.add(text)
        else:
            sender, _, target = text.partition(" ")
            result.loop_counts[(sender, target)] = int(pk)
    return result


def messages_lookup(*, ids: list[str], inbound_message_id: str, sender: str, loop_minutes: int) -> Lookup:
    """:func:`messages_lookup_many` for one message."""
    batch = messages_lookup_many(
        ids=ids, inbound_message_ids=[inbound_message_id], senders=[sender], loop_minutes=loop_minutes
    )
    return batch.for_message(message_id=inbound_message_id, sender=sender)


def bounce_notice_for_notification(*, notification_id: int) -> BounceNotice | None:
    """The bounce notice that failed one notification (the latest), for its failure details:
    whether a reason could be read from it, and its readable text. None when no bounce did."""
    event = (
        BounceEvent.objects.filter(notification_id=notification_id, action=BounceAction.FAILED)
        .select_related("inbound")
        .only("diagnostic", "inbound__raw")
        .order_by("-date", "-id")
        .first()
    )
    if event is None:
        return None
    diagnostic = event.diagnostic.strip()
    raw = bytes(event.inbound.raw) if event.inbound is not None else b""
    return BounceNotice(
        explained=bool(diagnostic) and diagnostic != UNREADABLE_DIAGNOSTIC,
        excerpt=notice_excerpt(raw) if raw else "",
        inbound_id=event.inbound_id,
    )
