"""Routing inbound mail: which recipients we accept, and where an accepted message goes.

Odoo decides after the fact and mails a bounce back (``message_route``). We decide in
the SMTP dialogue instead: :func:`rcpt_check` answers each RCPT, and
:func:`route_decide` — headers only, a handful of indexed queries — answers the end of DATA with
250 or a 5xx carrying the text Odoo would have mailed. The heavy work happens later, in
:mod:`bounces.services`, from the routes decided here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType

from bounces import conf
from bounces.models import InboundDecision
from bounces.parsing import HeaderFacts
from bounces.registry import reply_known_elsewhere
from bounces.replies import Policy, Reply, policy_reply
from bounces.selectors import CacheView, KnownMessage, Lookup, alias_cache, messages_lookup
from chatter.models import Follower
from chatter.sanitize import html_to_plaintext
from chatter.thread import MailThread
from mailcore.addresses import email_normalize
from mailcore.contacts import contact_find
from mailcore.models import Alias, AliasContact, AliasDomain, Partner
from mailcore.signed_addresses import ForgedToken, SignedBounce, SignedReply, signed_address_read


# --- addresses ----------------------------------------------------------------------------------
class AddressKind:
    ALIAS = "alias"
    CATCHALL = "catchall"
    REPLY_TOKEN = "reply_token"
    BOUNCE = "bounce"
    BOUNCE_TOKEN = "bounce_token"
    UNKNOWN = "unknown"  # one of our domains, but nothing lives there
    FOREIGN = "foreign"  # not one of our domains


@dataclass
class AddressInfo:
    address: str
    kind: str
    domain: AliasDomain | None = None
    alias: Alias | None = None
    # Reply token: (content type id, record id). Bounce token: the MailRecipient id.
    thread: tuple[int, int] | None = None
    recipient_id: int | None = None
    problem: str = ""


def _split(address: str) -> tuple[str, str]:
    local, _, domain = address.strip().strip("<>").rpartition("@")
    return local, domain.lower()


def address_classify(address: str, cache: CacheView | None = None) -> AddressInfo:
    """What an envelope recipient means to us (an alias, the catchall, a signed token…).

    ``cache``: the alias cache's content to decide from (default: the current one, loaded if stale).
    """
    local, domain_name = _split(address)
    # One look at the cache for the domains and the chatter models together.
    domains, thread_models = cache if cache is not None else alias_cache.current()
    entry = domains.get(domain_name) if domain_name else None
    if entry is None or not local:
        return AddressInfo(address, AddressKind.FOREIGN)
    domain = entry.domain
    lower = local.lower()
    bounce, catchall = domain.bounce_alias.lower(), domain.catchall_alias.lower()
    if lower == bounce:
        return AddressInfo(address, AddressKind.BOUNCE, domain)
    if lower == catchall:
        return AddressInfo(address, AddressKind.CATCHALL, domain)
    signed = signed_address_read(local_part=local, alias_domain=domain)
    if isinstance(signed, SignedBounce):
        return AddressInfo(address, AddressKind.BOUNCE_TOKEN, domain, recipient_id=signed.recipient_id)
    if isinstance(signed, SignedReply) and signed.model_id in thread_models:
        return AddressInfo(address, AddressKind.REPLY_TOKEN, domain, thread=(signed.model_id, signed.res_id))
    if signed is not None:
        kind = signed.purpose if isinstance(signed, ForgedToken) else "reply"
        return AddressInfo(address, AddressKind.UNKNOWN, domain, problem=f"bad {kind} token")
    alias = entry.aliases.get(lower)
    if alias is None:
        return AddressInfo(address, AddressKind.UNKNOWN, domain)
    if alias.alias_model_id not in thread_models:
        return AddressInfo(address, AddressKind.UNKNOWN, domain, alias=alias, problem="unknown target model")
    return AddressInfo(address, AddressKind.ALIAS, domain, alias=alias)


def _content_type(ct_id: int) -> ContentType | None:
    try:
        return ContentType.objects.get_for_id(ct_id)
    except ContentType.DoesNotExist:
        return None


def _is_thread_model(ct: ContentType | None) -> bool:
    model_class = ct.model_class() if ct is not None else None
    return model_class is not None and issubclass(model_class, MailThread)


@dataclass(frozen=True)
class RcptVerdict:
    accepted: bool
    reply: str
    kind: str
    # Why a recipient is refused, for the inbound log (the reply says less).
    reason: str = ""


def rcpt_check_cached(address: str) -> RcptVerdict | None:
    """:func:`rcpt_check` from the cache alone (no database: safe on the event loop), or None."""
    # One atomic look: a cache expiring between a freshness check and its use would otherwise
    # reload it from the database on the event loop.
    cache = alias_cache.cached()
    if cache is None:
        return None
    return rcpt_check(address, cache)


def rcpt_check(address: str, cache: CacheView | None = None) -> RcptVerdict:
    """The answer to ``RCPT TO:<address>``: only addresses of our domains that mean something."""
    info = address_classify(address, cache)
    if info.kind == AddressKind.FOREIGN:
        return RcptVerdict(
            False,
            Reply.RELAYING_DENIED.format(address=address),
            info.kind,
            "Not an address of our alias domains: the gateway does not relay.",
        )
    if info.kind == AddressKind.UNKNOWN:
        detail = " - unknown target model" if info.problem == "unknown target model" else ""
        domain = info.domain.name if info.domain is not None else ""
        why = f" ({info.problem})" if info.problem else ""
        return RcptVerdict(
            False,
            Reply.MAILBOX_UNAVAILABLE.format(address=address, detail=detail),
            info.kind,
            f"No active alias, catchall, bounce address or valid signed address by that name in {domain}{why}.",
        )
    return RcptVerdict(True, Reply.RCPT_OK, info.kind)


# --- routes -------------------------------------------------------------------------------------
@dataclass
class Route:
    """Where (part of) a message goes: an existing record, or a new record of a model."""

    kind: str  # "update" | "create"
    model_id: int
    res_id: int | None = None
    alias_id: int | None = None
    parent_id: int | None = None
    internal: bool = False
    defaults: dict[str, Any] = field(default_factory=dict)

    @property
    def loop_target(self) -> str:
        if self.kind == "update":
            return f"{self.model_id}.{self.res_id}"
        return f"alias.{self.alias_id}" if self.alias_id else f"{self.model_id}.new"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": self.model_id,
            "res_id": self.res_id,
            "alias": self.alias_id,
            "parent": self.parent_id,
            "internal": self.internal,
            "defaults": self.defaults,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Route:
        return cls(
            kind=data["kind"],
            model_id=data["model"],
            res_id=data.get("res_id"),
            alias_id=data.get("alias"),
            parent_id=data.get("parent"),
            internal=bool(data.get("internal")),
            defaults=dict(data.get("defaults") or {}),
        )


@dataclass
class Decision:
    """The verdict at the end of DATA."""

    decision: str
    reason: str = ""
    routes: list[Route] = field(default_factory=list)
    # The SMTP reply for a refusal ("550 5.7.1 …"); accepted mail gets "250 … queued as …".
    reply: str = ""
    alias_id: int | None = None
    bounce_token_recipient: int | None = None

    @property
    def accepted(self) -> bool:
        return not self.reply

    @property
    def loop_target(self) -> str:
        return self.routes[0].loop_target if self.routes else ""


@dataclass
class _PolicyError:
    text: str
    config_error: bool


def _contact_email(domain: AliasDomain | None) -> str:
    if conf.contact_email():
        return conf.contact_email()
    return domain.default_from_email if domain is not None else ""


def _alias_bounce_text(alias: Alias, error: _PolicyError) -> str:
    """Odoo ``_get_alias_bounced_body``: the alias's own text, else the default one."""
    contact = _contact_email(alias.alias_domain)
    if error.config_error:
        return (
            f"The message below could not be accepted by the address {alias.display_email}. "
            f"Please try again later or contact {contact} instead."
        )
    if alias.alias_bounced_content.strip():
        return html_to_plaintext(alias.alias_bounced_content)
    described = (
        "addresses linked to registered partners"
        if alias.alias_contact == AliasContact.PARTNERS
        else "some specific addresses"
    )
    return (
        f"The message below could not be accepted by the address {alias.display_email}. "
        f"Only {described} are allowed to contact it. "
        f"Please make sure you are using the correct address or contact us at {contact} instead."
    )


def _author(sender_email: str) -> Partner | None:
    if not sender_email:
        return None
    return contact_find(email=sender_email)


def _alias_policy_error(alias: Alias, *, author: Partner | None, record: tuple[int, int] | None) -> _PolicyError | None:
    """Odoo ``_alias_get_error``: everyone / known contacts / followers only."""
    if alias.alias_contact == AliasContact.PARTNERS and author is None:
        return _PolicyError("restricted to known authors", False)
    if alias.alias_contact == AliasContact.FOLLOWERS:
        target = record
        if target is None and alias.alias_force_thread_id:
            target = (alias.alias_model_id, alias.alias_force_thread_id)
        if target is None and alias.alias_parent_model_id and alias.alias_parent_thread_id:
            target = (alias.alias_parent_model_id, alias.alias_parent_thread_id)
        if target is None:
            return _PolicyError("incorrectly configured alias (unknown reference record)", True)
        if not _is_thread_model(_content_type(target[0])):
            return _PolicyError("incorrectly configured alias", True)
        if author is None or not Follower.objects.filter(model_id=target[0], res_id=target[1], partner=author).exists():
            return _PolicyError("restricted to followers", False)
    return None


def _record_exists(model_id: int, res_id: int) -> bool:
    ct = _content_type(model_id)
    model_class = ct.model_class() if ct is not None else None
    return model_class is not None and model_class._default_manager.filter(pk=res_id).exists()


def _alias_route(alias: Alias) -> Route:
    if alias.alias_force_thread_id and _record_exists(alias.alias_model_id, alias.alias_force_thread_id):
        return Route("update", alias.alias_model_id, alias.alias_force_thread_id, alias_id=alias.pk)
    return Route("create", alias.alias_model_id, alias_id=alias.pk, defaults=dict(alias.alias_defaults or {}))


def _parent_pick(facts: HeaderFacts, known: dict[str, KnownMessage]) -> KnownMessage | None:
    """Odoo's parent lookup: In-Reply-To first, then the newest of the last 32 References."""
    for message_id in facts.reference_ids:
        if message_id in known:
            return known[message_id]
    return None


def _is_bounce(facts: HeaderFacts, infos: list[AddressInfo]) -> bool:
    """Odoo ``_detect_is_bounce``: to a bounce address, from MAILER-DAEMON, or a delivery report."""
    if any(i.kind in (AddressKind.BOUNCE, AddressKind.BOUNCE_TOKEN) for i in infos):
        return True
    if facts.sender_email.partition("@")[0] == "mailer-daemon":
        return True
    return facts.content_type == "multipart/report"


def route_decide(*, mail_from: str, rcpt_tos: list[str], facts: HeaderFacts, lookup: Lookup | None = None) -> Decision:
    """Odoo ``message_route``, decided at the end of DATA from the headers alone.

    Order: duplicate → bounce → reply (In-Reply-To, References, signed token; an alias of
    another model makes it a forward) → aliases (contact policy) → catchall-only → loop guard.
    Refusals of automatic mail (null sender, ``Auto-Submitted``) are accepted and ignored
    instead, so we never cause a bounce to an auto-responder (RFC 3834).

    A reply costs two queries: one for the duplicate guard and the parent together, one for the
    loop counter. Whether the record still exists is left to processing (which falls back to
    creating one, as Odoo does).
    """
    decision = _route_decide(mail_from=mail_from, rcpt_tos=rcpt_tos, facts=facts, lookup=lookup)
    if not decision.accepted and (not mail_from or facts.is_auto_submitted):
        who = "a null sender" if not mail_from else f"Auto-Submitted: {facts.auto_submitted.strip()}"
        return Decision(
            InboundDecision.IGNORED,
            reason=f"{decision.reason} Not refused in the SMTP dialogue: automatic mail ({who}) is never answered.",
            routes=decision.routes,
            alias_id=decision.alias_id,
        )
    return decision


def route_sender(*, mail_from: str, facts: HeaderFacts) -> str:
    """The address the loop counter counts: From, else the envelope sender."""
    return facts.sender_email or (email_normalize(mail_from) or "")


def lookup_ids(facts: HeaderFacts) -> list[str]:
    """The Message-IDs the door looks up for ``facts``: its own ones, then its references."""
    return [i for i in (facts.message_id, facts.x_mailcore_message_id) if i] + facts.reference_ids


def _route_decide(*, mail_from: str, rcpt_tos: list[str], facts: HeaderFacts, lookup: Lookup | None) -> Decision:
    own_ids = [i for i in (facts.message_id, facts.x_mailcore_message_id) if i]
    sender = route_sender(mail_from=mail_from, facts=facts)
    if lookup is None:
        lookup = messages_lookup(
            ids=lookup_ids(facts), inbound_message_id=facts.message_id, sender=sender, loop_minutes=conf.loop_minutes()
        )
    # 1. Duplicate (Odoo's guard), or a copy already accepted at the door.
    if any(i in lookup.messages for i in own_ids) or lookup.inbound_duplicate:
        return Decision(InboundDecision.IGNORED, reason=f"Duplicate Message-Id {facts.message_id}: already received.")

    infos = [address_classify(address) for address in rcpt_tos]
    # 2. Bounces.
    if _is_bounce(facts, infos):
        token = next((i.recipient_id for i in infos if i.kind == AddressKind.BOUNCE_TOKEN), None)
        return Decision(
            InboundDecision.BOUNCE,
            reason="Delivery report or mail to the bounce address.",
            bounce_token_recipient=token,
        )

    author_cache: list[Partner | None] = []

    def author() -> Partner | None:
        # Only contact policies need the author: most mail (replies) never looks it up.
        if not author_cache:
            author_cache.append(_author(sender))
        return author_cache[0]

    # One alias named several times (case, repeated RCPT) is one target: a message creates one
    # record per alias, whatever the number of recipients naming it.
    aliases = list({i.alias.pk: i.alias for i in infos if i.kind == AddressKind.ALIAS and i.alias is not None}.values())

    # 3. Replies: In-Reply-To, the last 32 References, then the signed token in the recipient.
    parent = _parent_pick(facts, lookup.messages)
    thread: tuple[int, int] | None = None
    if parent is not None and parent.model_id and parent.res_id:
        thread = (parent.model_id, parent.res_id)
    else:
        parent = None
        thread = next((i.thread for i in infos if i.kind == AddressKind.REPLY_TOKEN and i.thread), None)
    if thread is not None:
        forwards = [a for a in aliases if a.alias_model_id != thread[0]]
        if forwards:
            # A recipient that is an alias of another model: a forward to that alias (Odoo).
            aliases = forwards
        else:
            same_model = next((a for a in aliases if a.alias_model_id == thread[0]), None)
            if same_model is not None:
                error = _alias_policy_error(same_model, author=author(), record=thread)
                if error is not None:
                    return _refusal(same_model, error)
            route = Route(
                "update",
                thread[0],
                thread[1],
                alias_id=same_model.pk if same_model else None,
                parent_id=parent.id if parent else None,
                internal=bool(parent and parent.internal),
                # Used if the record is gone by processing time (Odoo falls back to creation).
                defaults=dict(same_model.alias_defaults or {}) if same_model else {},
            )
            return _loop_guard(
                Decision(InboundDecision.ACCEPTED, "Reply to an existing thread.", [route]), sender, lookup.loop_counts
            )

    # 4. Aliases: create a record of the alias's model, or post on its forced record.
    routes: list[Route] = []
    refusals: list[tuple[Alias, _PolicyError]] = []
    for alias in aliases:
        error = _alias_policy_error(alias, author=author(), record=None)
        if error is not None:
            refusals.append((alias, error))
            continue
        route = _alias_route(alias)
        # Two aliases forced onto the same record post there once.
        if all(r.loop_target != route.loop_target for r in routes):
            routes.append(route)
    if routes:
        reason = "Routed by alias."
        if refusals:
            reason += " Refused by " + ", ".join(f"{a.display_email} ({e.text})" for a, e in refusals) + "."
        decision = Decision(InboundDecision.ACCEPTED, reason, routes, alias_id=routes[0].alias_id)
        return _loop_guard(decision, sender, lookup.loop_counts)
    if refusals:
        return _refusal(refusals[0][0], refusals[0][1])

    # 5. A reply to mail the chatter does not know but an app above sent (a campaign): accepted,
    # so the app records the reply; there is no thread to post it on. One query, only here.
    if facts.reference_ids and reply_known_elsewhere(facts.reference_ids):
        return Decision(InboundDecision.ACCEPTED, "Reply to a campaign mail.")

    # 6. Written to the catchall without any reference: refused with Odoo's explanation.
    catchall = next((i for i in infos if i.kind == AddressKind.CATCHALL), None)
    if catchall is not None:
        contact = _contact_email(catchall.domain)
        text = (
            f"The email sent to {catchall.address} cannot be processed. This address is used to collect "
            "replies and should not be used to directly contact us."
            + (f" Please contact us instead using {contact}." if contact else "")
        )
        return Decision(
            InboundDecision.REJECTED,
            reason="Written directly to the catchall address without any reference.",
            reply=policy_reply(Policy.REFUSED, text),
        )
    addresses = ", ".join(rcpt_tos)
    return Decision(
        InboundDecision.REJECTED,
        reason=f"No possible route found for incoming message from {mail_from or '<>'} to {addresses} "
        f"(Message-Id {facts.message_id}).",
        reply=Reply.NO_ROUTE,
    )


def _refusal(alias: Alias, error: _PolicyError) -> Decision:
    text = _alias_bounce_text(alias, error)
    reply = policy_reply(Policy.CONFIGURATION if error.config_error else Policy.REFUSED, text)
    return Decision(
        InboundDecision.REJECTED,
        reason=f"Alias {alias.display_email}: {error.text}.",
        reply=reply,
        alias_id=alias.pk,
    )


def _loop_guard(decision: Decision, sender: str, counts: dict[str, int]) -> Decision:
    """Odoo ``_detect_loop_sender``: too many mails from one sender to one target."""
    if not sender or not decision.routes:
        return decision
    threshold = conf.loop_threshold()
    kept = [r for r in decision.routes if counts.get(r.loop_target, 0) < threshold]
    # The allow-list is read only when it matters (it is built from settings on each read).
    if len(kept) == len(decision.routes) or sender in conf.loop_allowed():
        return decision
    minutes = conf.loop_minutes()
    if kept:
        decision.routes = kept
        return decision
    return Decision(
        InboundDecision.LOOP,
        reason=f"Loop: {threshold} or more mails from {sender} to the same target within {minutes} minutes.",
        reply=policy_reply(
            Policy.REFUSED,
            f"Message refused: too many messages from {sender} to this address within {minutes} minutes "
            "(mail loop protection).",
        ),
        routes=decision.routes,
        alias_id=decision.alias_id,
    )
