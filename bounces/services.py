"""Inbound mail services: receiving at the door, processing later, sweeping and vacuuming.

:func:`inbound_receive` is the end of DATA: decide from the headers, store the raw bytes and the
envelope, commit — only then may the gateway answer 250. :func:`message_process` is Odoo's
``message_process`` for a stored row: parse the MIME message, post it on its record (or create
one through the alias), or apply a bounce. It is idempotent and safe to run twice or late.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import secrets
import traceback
from dataclasses import dataclass, fields, replace
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, Q
from django.utils import timezone

from bounces import conf
from bounces.effects import bounce_process
from bounces.models import InboundDecision, InboundMessage, InboundRefusal, InboundState
from bounces.parsing import HeaderFacts, ParsedMessage, parse_headers, parse_message
from bounces.registry import InboundReply, reply_listeners_notify
from bounces.replies import Reply
from bounces.routing import Decision, Route, lookup_ids, route_decide, route_sender
from bounces.selectors import messages_lookup_many
from chatter.models import Attachment, Message, MessageType
from chatter.services import MT_COMMENT, MT_NOTE, message_post
from chatter.thread import MailThread
from mailcore.addresses import make_message_id
from mailcore.contacts import contact_bounce_reset, contact_find
from mailcore.models import Partner

logger = logging.getLogger(__name__)

INBOUND_PROCESS_TASK = "bounces.tasks.inbound_process"
INBOUND_PROCESS_MANY_TASK = "bounces.tasks.inbound_process_many"
# Publishing happens after the 250 (never delays it); still, give a flaky broker a short chance.
_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


# --- at the door --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reception:
    """What the gateway answers, and whether the row waits for processing."""

    inbound_id: int
    reply: str
    decision: str
    needs_processing: bool


def _queue_id() -> str:
    return secrets.token_hex(6).upper()


@dataclass(frozen=True)
class Incoming:
    """One message at the end of DATA: the raw bytes and the envelope."""

    raw: bytes
    mail_from: str
    rcpt_tos: list[str]
    peer: str = ""
    helo: str = ""


# What no text column takes: PostgreSQL refuses NUL characters in text ("text fields cannot
# contain NUL"), and no database takes the lone surrogates undecodable bytes become in Python.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def text_for_column(value: str) -> str:
    """``value`` as a text column can store it: NUL and undecodable bytes become U+FFFD.

    The raw bytes are stored as they are; only their readable copies in text columns are
    cleaned. Such input is the sender's, and the same every time: failing on it would answer a
    temporary 451 and make the sender retry for days.
    """
    return _UNSTORABLE.sub("\ufffd", value)


def _storable_facts(facts: HeaderFacts) -> HeaderFacts:
    """``facts`` with every value cleaned by :func:`text_for_column` (they are stored and queried)."""
    changes: dict[str, Any] = {}
    for f in fields(facts):
        value = getattr(facts, f.name)
        if isinstance(value, str):
            changes[f.name] = text_for_column(value)
        elif isinstance(value, list):
            changes[f.name] = [text_for_column(v) for v in value]
    return replace(facts, **changes)


def inbound_receive(*, raw: bytes, mail_from: str, rcpt_tos: list[str], peer: str = "", helo: str = "") -> Reception:
    """Decide on and durably store one message at the end of DATA.

    See :func:`inbound_receive_many`, which the gateway calls with every message that reached
    the end of DATA at the same time.
    """
    return inbound_receive_many([Incoming(raw, mail_from, list(rcpt_tos), peer, helo)])[0]


def inbound_receive_many(items: list[Incoming]) -> list[Reception]:
    """Decide on and durably store messages at the end of DATA, with one commit (group commit).

    Reads only the headers; the decisions take one query for the whole batch. The rows — raw
    bytes exactly as received, the envelope, the decision and the exact SMTP reply — are
    committed before this returns, for accepted and refused mail alike: only then may the
    gateway answer. Messages of one batch see each other as if stored one after the other
    (duplicates, the loop counter). A non-bounce mail from an address resets its bounce counter
    (Odoo ``_routing_reset_bounce``): here for refused mail, in processing for accepted mail
    (off the critical path).
    """
    prepared = []
    for item in items:
        mail_from = "" if item.mail_from in ("<>", None) else item.mail_from
        facts = parse_headers(item.raw)
        if b"\x00" in item.raw:  # a search at memory speed; cleaning only when there is a NUL
            facts = _storable_facts(facts)
        prepared.append((item, mail_from, facts, route_sender(mail_from=mail_from, facts=facts)))
    batch = messages_lookup_many(
        ids=[i for _item, _mf, facts, _s in prepared for i in lookup_ids(facts)],
        inbound_message_ids=[facts.message_id for _item, _mf, facts, _s in prepared],
        senders=[sender for *_rest, sender in prepared],
        loop_minutes=conf.loop_minutes(),
    )
    now = timezone.now()
    rows: list[tuple[Any, ...]] = []
    resets: list[str] = []
    receptions: list[Reception] = []
    for item, mail_from, facts, sender in prepared:
        lookup = batch.for_message(message_id=facts.message_id, sender=sender)
        decision = route_decide(mail_from=mail_from, rcpt_tos=item.rcpt_tos, facts=facts, lookup=lookup)
        if decision.decision in (InboundDecision.ACCEPTED, InboundDecision.BOUNCE):
            batch.accepted(
                message_id=facts.message_id,
                sender=sender if decision.decision == InboundDecision.ACCEPTED else "",
                target=decision.loop_target,
            )
        elif facts.sender_email:  # refused or ignored: never a bounce here
            resets.append(facts.sender_email)
        queue_id = _queue_id()
        reply = decision.reply or Reply.QUEUED.format(queue_id=queue_id)
        needs_processing = decision.decision in (InboundDecision.ACCEPTED, InboundDecision.BOUNCE)
        rows.append(_row(queue_id, item, mail_from, facts, sender, decision, reply, needs_processing, now))
        receptions.append(Reception(0, reply, decision.decision, needs_processing))
    if resets:
        with transaction.atomic():
            ids = _insert(rows)
            for email in resets:
                contact_bounce_reset(email=email)
    else:
        ids = _insert(rows)  # one statement in autocommit: committed when it returns
    return [replace(r, inbound_id=pk) for r, pk in zip(receptions, ids, strict=True)]


# The columns the door writes, in the order of :func:`_row`'s values. Every column is written:
# Django keeps defaults in Python, not in the table.
_COLUMNS = (
    "queue_id",
    "received_at",
    "peer",
    "helo",
    "mail_from",
    "rcpt_tos",
    "size",
    "raw",
    "message_id",
    "subject",
    "email_from",
    "sender_email",
    "is_auto_submitted",
    "decision",
    "reason",
    "smtp_reply",
    "routes",
    "loop_target",
    "alias_id",
    "routed_model_id",
    "routed_res_id",
    "chatter_message_id",
    "state",
    "error",
    "attempt_count",
    "lease_until",
    "processed_at",
)
_BY_COLUMN = {f.column: f for f in InboundMessage._meta.concrete_fields if not f.primary_key}
# A column added to the model must be added here too: the INSERT names every column.
assert set(_BY_COLUMN) == set(_COLUMNS), "bounces.services._COLUMNS is out of step with InboundMessage"
_DATETIMES = frozenset(i for i, c in enumerate(_COLUMNS) if isinstance(_BY_COLUMN[c], models.DateTimeField))


def _row(
    queue_id: str,
    item: Incoming,
    mail_from: str,
    facts: HeaderFacts,
    sender: str,
    decision: Decision,
    reply: str,
    needs_processing: bool,
    now: dt.datetime,
) -> tuple[Any, ...]:
    """The values of one row in ``_COLUMNS`` order, as the database takes them (JSON as text).

    Plain values, not a model instance: at the door, building the instance and preparing its
    fields cost as much CPU as the INSERT itself.
    """
    routes: list[dict[str, Any]] = [r.to_json() for r in decision.routes]
    if decision.bounce_token_recipient is not None:
        routes.append({"kind": "bounce", "recipient": decision.bounce_token_recipient})
    first: Route | None = decision.routes[0] if decision.routes else None
    return (
        queue_id,
        now,
        item.peer[:255],
        item.helo[:255],
        mail_from[:998],
        json.dumps(list(item.rcpt_tos)),
        len(item.raw),
        item.raw,
        facts.message_id[:998],
        facts.subject,
        facts.email_from,
        sender[:255],
        facts.is_auto_submitted,
        decision.decision,
        decision.reason,
        reply,
        json.dumps(routes),
        decision.loop_target,
        decision.alias_id,
        first.model_id if first else None,
        first.res_id if first else None,
        None,
        InboundState.RECEIVED if needs_processing else InboundState.DONE,
        "",
        0,
        None,
        None if needs_processing else now,
    )


# (vendor, rows) -> the INSERT statement, built once per batch size.
_INSERT_SQL: dict[tuple[str, int], str] = {}


def _insert_sql(db: BaseDatabaseWrapper, rows: int) -> str:
    # ``VALUES (…), (…)`` rather than one array per column (``unnest``), which would be a single
    # statement for every batch size: PostgreSQL spends more CPU per row on the arrays (figures in
    # docs/measurements.md).
    key = (db.vendor, rows)
    sql = _INSERT_SQL.get(key)
    if sql is None:
        q = db.ops.quote_name
        width = len(_COLUMNS)
        if db.vendor == "postgresql":  # PostgreSQL's own placeholders: see selectors._rows(native=True)
            values = ", ".join(f"({', '.join(f'${r * width + c + 1}' for c in range(width))})" for r in range(rows))
        else:
            values = ", ".join([f"({', '.join(['%s'] * width)})"] * rows)
        sql = (
            f"INSERT INTO {q(InboundMessage._meta.db_table)} ({', '.join(q(c) for c in _COLUMNS)}) "
            f"VALUES {values} RETURNING {q('id')}, {q('queue_id')}"
        )
        _INSERT_SQL[key] = sql
    return sql


def _insert(rows: list[tuple[Any, ...]]) -> list[int]:
    """INSERT the rows in one statement of plain SQL; returns their ids, in order.

    The ORM's compiler costs a third of the CPU of a reply at the door, and one statement for
    the batch is one round trip. The thread's connection is looked up once: every attribute
    read through ``django.db.connection`` goes through a thread-local proxy.
    """
    from bounces.selectors import _rows

    db = connections[DEFAULT_DB_ALIAS]
    native = db.vendor == "postgresql"
    if not native:  # psycopg takes aware datetimes as they are
        adapt = db.ops.adapt_datetimefield_value
        rows = [tuple(adapt(v) if i in _DATETIMES else v for i, v in enumerate(row)) for row in rows]
    params = [value for row in rows for value in row]
    ids = {queue_id: int(pk) for pk, queue_id in _rows(_insert_sql(db, len(rows)), params, native=native)}
    return [ids[row[0]] for row in rows]


# --- refusals in the SMTP dialogue ----------------------------------------------------------------
@dataclass(frozen=True)
class Refusal:
    """A command the gateway refused before any message was stored (see :class:`InboundRefusal`)."""

    at: float  # seconds since the epoch
    remote_address: str
    reply: str
    reason: str = ""
    command: str = ""
    helo: str = ""
    mail_from: str = ""
    recipient: str = ""


@dataclass
class RefusalBatch:
    """Refusals to record together; ``more`` counts those not recorded one by one, per client
    address and minute (seconds since the epoch // 60)."""

    refusals: list[Refusal]
    more: dict[tuple[str, int], int]

    def merge(self, other: RefusalBatch) -> None:
        self.refusals.extend(other.refusals)
        for key, count in other.more.items():
            self.more[key] = self.more.get(key, 0) + count


def inbound_refusals_record(*, batch: RefusalBatch) -> None:
    """Record refusals of the SMTP dialogue, with one commit.

    The further refusals of a flood are added to the newest row of their address in their
    minute (the gateway sends them only after that address's rows of the minute).
    """
    rows = [
        InboundRefusal(
            refused_at=dt.datetime.fromtimestamp(r.at, tz=dt.UTC),
            remote_address=text_for_column(r.remote_address)[:64],
            helo=text_for_column(r.helo)[:255],
            mail_from=text_for_column(r.mail_from)[:998],
            recipient=text_for_column(r.recipient)[:998],
            command=text_for_column(r.command)[:998],
            reply=text_for_column(r.reply),
            reason=text_for_column(r.reason),
        )
        for r in batch.refusals
    ]
    with transaction.atomic():
        InboundRefusal.objects.bulk_create(rows)
        for (address, minute), count in batch.more.items():
            start = dt.datetime.fromtimestamp(minute * 60, tz=dt.UTC)
            newest = (
                InboundRefusal.objects.filter(
                    remote_address=address, refused_at__gte=start, refused_at__lt=start + dt.timedelta(minutes=1)
                )
                .order_by("-refused_at", "-id")
                .values("pk")[:1]
            )
            InboundRefusal.objects.filter(pk__in=newest).update(more=F("more") + count)


def inbound_enqueue(inbound_id: int) -> bool:
    """Ring Celery's doorbell for one stored row. Never raises: the sweep rings again later."""
    return inbound_enqueue_many([inbound_id])


def inbound_enqueue_many(inbound_ids: list[int]) -> bool:
    """Ring once for rows stored together (one task per call). Never raises."""
    from celery import current_app

    if not inbound_ids:
        return True
    args: list[Any]
    if len(inbound_ids) == 1:
        name, args = INBOUND_PROCESS_TASK, [inbound_ids[0]]
    else:
        name, args = INBOUND_PROCESS_MANY_TASK, [list(inbound_ids)]
    try:
        current_app.send_task(name, args=args, retry=True, retry_policy=_PUBLISH_RETRY_POLICY)
    except Exception:
        logger.warning("Could not enqueue inbound messages %s; the sweep will process them", inbound_ids, exc_info=True)
        return False
    return True


# --- processing ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProcessOutcome:
    status: str  # "done" | "skipped" | "error" | "retry"
    detail: str = ""


def _claim(inbound_id: int) -> int | None:
    """Take a row for processing with a conditional update; returns the attempt number (the fence)."""
    now = timezone.now()
    lease_until = now + dt.timedelta(seconds=conf.processing_lease_seconds())
    claimable = InboundMessage.objects.filter(pk=inbound_id).filter(
        Q(state=InboundState.RECEIVED) | Q(state=InboundState.PROCESSING, lease_until__lt=now)
    )
    if not claimable.update(
        state=InboundState.PROCESSING, lease_until=lease_until, attempt_count=F("attempt_count") + 1
    ):
        return None
    return InboundMessage.objects.filter(pk=inbound_id).values_list("attempt_count", flat=True).first()


def message_process(*, inbound_id: int) -> ProcessOutcome:
    """Odoo ``message_process`` for a stored inbound row: parse, route, post or apply a bounce.

    Idempotent: the row is claimed with a conditional update and a lease, the work and the
    ``done`` mark commit together (a crash leaves nothing half-done; the sweep retries after the
    lease), and a row already done is skipped. A failure is recorded on the row, never lost.
    """
    attempt = _claim(inbound_id)
    if attempt is None:
        return ProcessOutcome("skipped", "not claimable (done, or being processed)")
    row = InboundMessage.objects.get(pk=inbound_id)
    raw = bytes(row.raw)
    try:
        # Parse outside the transaction: on SQLite a transaction holds the one write lock.
        parsed = parse_message(raw) if row.decision == InboundDecision.ACCEPTED else None
        with transaction.atomic():
            locked = (
                InboundMessage.objects.select_for_update()
                .filter(pk=inbound_id, state=InboundState.PROCESSING, attempt_count=attempt)
                .first()
            )
            if locked is None:  # the lease expired and another worker took the row over
                return ProcessOutcome("skipped", "taken over by another worker")
            updates = _process(locked, raw, parsed)
            InboundMessage.objects.filter(pk=inbound_id).update(
                state=InboundState.DONE, processed_at=timezone.now(), lease_until=None, error="", **updates
            )
    except (OperationalError, InterfaceError) as exc:
        # The database went away or a lock timed out: temporary, the sweep retries.
        logger.warning("Inbound message %s: database error, will retry: %s", inbound_id, exc)
        _fail(inbound_id, attempt, exc, temporary=True)
        return ProcessOutcome("retry", str(exc))
    except Exception as exc:
        logger.exception("Inbound message %s could not be processed", inbound_id)
        _fail(inbound_id, attempt, exc, temporary=False)
        return ProcessOutcome("error", f"{type(exc).__name__}: {exc}")
    return ProcessOutcome("done")


def _fail(inbound_id: int, attempt: int, exc: BaseException, *, temporary: bool) -> None:
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    state = InboundState.ERROR
    if temporary and attempt < conf.max_processing_attempts():
        state = InboundState.RECEIVED
    try:
        InboundMessage.objects.filter(pk=inbound_id, attempt_count=attempt).update(
            state=state, error=text[:10000], lease_until=None
        )
    except Exception:  # the database is gone: the lease expires and the sweep takes the row back
        logger.exception("Could not record the failure of inbound message %s", inbound_id)


def _process(row: InboundMessage, raw: bytes, parsed: ParsedMessage | None) -> dict[str, Any]:
    if row.decision == InboundDecision.BOUNCE:
        token = next((r.get("recipient") for r in row.routes if r.get("kind") == "bounce"), None)
        summary = bounce_process(inbound=row, raw=raw, token_recipient_id=token)
        return {"reason": f"{row.reason} {summary}".strip()}
    if row.decision != InboundDecision.ACCEPTED or parsed is None:
        return {}
    if row.sender_email:
        contact_bounce_reset(email=row.sender_email)
    # Checked again here: two copies may both have passed the door before either was processed.
    if parsed.message_id and Message.objects.filter(message_id=parsed.message_id).exists():
        return {
            "decision": InboundDecision.IGNORED,
            "reason": f"Duplicate Message-Id {parsed.message_id}: already posted.",
        }
    first: Message | None = None
    for data in row.routes:
        if data.get("kind") not in ("update", "create"):
            continue
        message = _route_post(Route.from_json(data), parsed, row)
        first = first or message
    # Odoo mass mailing's ``_message_route_process``: a reply marks the mail it answers replied.
    replied = reply_listeners_notify(
        InboundReply(message_ids=tuple(parse_headers(raw).reference_ids), email=row.sender_email)
    )
    if first is None:
        if replied:
            return {"reason": f"{row.reason} {' '.join(replied)}".strip()}
        return {"decision": InboundDecision.IGNORED, "reason": f"{row.reason} No route left to post on."}
    return {"chatter_message": first, "routed_model_id": first.model_id, "routed_res_id": first.res_id}


def _concrete_fields(model_class: type[models.Model]) -> dict[str, models.Field[Any, Any]]:
    fields: dict[str, models.Field[Any, Any]] = {}
    for f in model_class._meta.concrete_fields:
        fields[f.name] = f
        fields[f.attname] = f
    return fields


def message_new(*, model_class: type[MailThread], parsed: ParsedMessage, defaults: dict[str, Any]) -> MailThread:
    """Odoo ``message_new``: a record from an incoming mail and the alias's defaults.

    A model may define ``message_new(parsed=..., defaults=...)`` as a classmethod to take over.
    Otherwise: the alias defaults (unknown keys ignored), the name from the subject, the model's
    primary e-mail field (``mail_primary_email``, default ``email_from``) from the sender, and
    its contact field (``mail_partner_field``, default ``customer``) from the author.
    """
    custom = getattr(model_class, "message_new", None)
    if callable(custom):
        record: MailThread = custom(parsed=parsed, defaults=defaults)
        return record
    fields = _concrete_fields(model_class)
    values = {k: v for k, v in defaults.items() if k in fields}
    record = model_class(**values)
    name_field = getattr(model_class, "mail_rec_name", "name")
    if name_field in fields and not getattr(record, name_field, None):
        max_length = fields[name_field].max_length or 255
        setattr(record, name_field, (parsed.subject or "(no subject)")[:max_length])
    email_field = getattr(model_class, "mail_primary_email", "email_from")
    if email_field in fields and not getattr(record, email_field, None):
        setattr(record, email_field, parsed.email_from[: fields[email_field].max_length or 255])
    partner_field = getattr(model_class, "mail_partner_field", "customer")
    field = fields.get(partner_field)
    if field is not None and field.is_relation and field.related_model is Partner:
        if getattr(record, field.attname, None) is None and parsed.sender_email:
            author = contact_find(email=parsed.sender_email)
            if author is not None:
                setattr(record, field.attname, author.pk)
    # Odoo creates gateway records with mail_create_nolog: the e-mail itself says it was created.
    setattr(record, "mail_log_creation", False)  # noqa: B010 - shadows the class default on this instance
    record.save()
    return record


def _route_post(route: Route, parsed: ParsedMessage, row: InboundMessage) -> Message:
    """Odoo ``_message_route_process`` for one route: update the record or create one, then post."""
    ct = ContentType.objects.get_for_id(route.model_id)
    model_class = ct.model_class()
    if model_class is None or not issubclass(model_class, MailThread):
        raise ValueError(f"Mailbox unavailable - unknown target model {ct.app_label}.{ct.model}")
    record: MailThread | None = None
    if route.kind == "update" and route.res_id is not None:
        record = model_class._default_manager.filter(pk=route.res_id).first()
    if record is None:
        # Creation route, or Odoo's "reply to missing document … fall back on document creation".
        record = message_new(model_class=model_class, parsed=parsed, defaults=route.defaults)
    parent = Message.objects.filter(pk=route.parent_id).first() if route.parent_id else None
    partner_ids: list[int] = []
    if route.internal and parent is not None and parent.author_id:
        # Odoo: a reply to an internal note stays a note, and the note's author is told.
        partner_ids.append(parent.author_id)
    message = message_post(
        record=record,
        body=parsed.body_html,
        subject=parsed.subject,
        message_type=MessageType.EMAIL,
        subtype=MT_NOTE if route.internal else MT_COMMENT,
        email_from=parsed.email_from or row.mail_from,
        parent=parent,
        message_id=parsed.message_id or make_message_id("inbound"),
        attachments=[(a.name, a.content, a.mimetype) for a in parsed.attachments],
        partner_ids=partner_ids,
        is_internal=True if route.internal else None,
    )
    inline = [a.content_id for a in parsed.attachments]
    if any(inline):
        # message_post creates attachments in order; give inline images their Content-ID back.
        created = list(message.attachments.order_by("id"))
        for attachment, content_id in zip(created, inline, strict=False):
            if content_id:
                attachment.content_id = content_id[:255]
        Attachment.objects.bulk_update(created, ["content_id"])
    return message


# --- sweep and vacuum ---------------------------------------------------------------------------
def inbound_rows_left_behind(*, now: dt.datetime | None = None, limit: int = 500) -> list[int]:
    """Rows whose doorbell was lost (still ``received`` after the grace period) or whose worker died."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=conf.sweep_grace_seconds())
    return list(
        InboundMessage.objects.filter(
            Q(state=InboundState.RECEIVED, received_at__lte=cutoff)
            | Q(state=InboundState.PROCESSING, lease_until__lt=now)
        )
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )


def inbound_sweep(*, time_budget: float | None = None) -> dict[str, int]:
    """The beat sweep: process rows a lost doorbell or a dead worker left behind, within a budget."""
    import time

    budget = conf.sweep_time_budget_seconds() if time_budget is None else time_budget
    deadline = time.monotonic() + budget
    counts = {"done": 0, "skipped": 0, "error": 0, "retry": 0}
    for inbound_id in inbound_rows_left_behind():
        if time.monotonic() > deadline:
            break
        outcome = message_process(inbound_id=inbound_id)
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return counts


def inbound_vacuum(*, now: dt.datetime | None = None) -> int:
    """Delete processed and refused inbound mail older than the retention period (admin setting).

    Rows in ``error`` stay until a person looked at them; bounce events survive (SET NULL), as
    the blacklist rule counts them over 13 weeks.
    """
    from mailqueue.vacuum import delete_in_batches

    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=conf.retention_days())
    old = InboundMessage.objects.filter(received_at__lt=cutoff, state=InboundState.DONE)
    deleted = delete_in_batches(old, batch=500)
    return deleted + delete_in_batches(InboundRefusal.objects.filter(refused_at__lt=cutoff), batch=500)


def inbound_reprocess(*, inbound_ids: list[int]) -> int:
    """Put rows in ``error`` back in the queue (admin action); returns how many."""
    count = InboundMessage.objects.filter(pk__in=inbound_ids, state=InboundState.ERROR).update(
        state=InboundState.RECEIVED, error="", lease_until=None
    )
    for inbound_id in inbound_ids:
        transaction.on_commit(lambda i=inbound_id: inbound_enqueue(i))  # type: ignore[misc]
    return count
