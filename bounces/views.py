"""The inbound log: every message the gateway saw, its decision, and the raw .eml (staff only)."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext_lazy as _

from bounces.models import InboundDecision, InboundMessage, InboundRefusal, InboundState
from bounces.parsing import parse_message
from mailcore.params import query_text
from mailcore.permissions import staff_required

PAGE_SIZE = 50
FILTERS = {
    "accepted": Q(decision=InboundDecision.ACCEPTED),
    "rejected": Q(decision__in=[InboundDecision.REJECTED, InboundDecision.LOOP]),
    "bounce": Q(decision=InboundDecision.BOUNCE),
    "ignored": Q(decision=InboundDecision.IGNORED),
    "error": Q(state="error"),
}
# Commands refused in the SMTP dialogue: no message was stored, so they are another table.
REFUSED = "refused"
TABS = [
    ("accepted", InboundDecision.ACCEPTED.label),
    ("rejected", InboundDecision.REJECTED.label),
    ("bounce", InboundDecision.BOUNCE.label),
    ("ignored", InboundDecision.IGNORED.label),
    ("error", InboundState.ERROR.label),
    (REFUSED, _("Refused in SMTP")),
]


@staff_required
def inbound_list_view(request: HttpRequest) -> HttpResponse:
    """The inbound log, newest first, with decision filters and a search over envelope and headers."""
    current = request.GET.get("filter", "")
    search = query_text(request.GET, "q")
    if current == REFUSED:
        return _refusal_list(request, search)
    rows = InboundMessage.objects.defer("raw").select_related("routed_model")
    if current in FILTERS:
        rows = rows.filter(FILTERS[current])
    rows = _matching(rows, search, "mail_from", "email_from", "subject", "message_id", "reason", exact=("queue_id",))
    page = Paginator(rows.order_by("-received_at", "-id"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "bounces/inbound_list.html",
        {
            "page": page,
            "current": current,
            "search": search,
            "tabs": TABS,
        },
    )


def _matching(rows: QuerySet[Any], search: str, *fields: str, exact: tuple[str, ...] = ()) -> QuerySet[Any]:
    """``rows`` whose ``fields`` contain ``search`` (or whose ``exact`` fields equal it); all when empty."""
    if not search:
        return rows
    condition = Q()
    for name in exact:
        condition |= Q(**{f"{name}__iexact": search})
    for name in fields:
        condition |= Q(**{f"{name}__icontains": search})
    return rows.filter(condition)


def _refusal_list(request: HttpRequest, search: str) -> HttpResponse:
    """The refusals of the SMTP dialogue, newest first: who, what, our reply and why."""
    rows = InboundRefusal.objects.all()
    rows = _matching(rows, search, "remote_address", "helo", "mail_from", "recipient", "reply", "reason")
    page = Paginator(rows.order_by("-refused_at", "-id"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "bounces/inbound_list.html",
        {"page": page, "current": REFUSED, "search": search, "tabs": TABS, "refusals": True},
    )


@staff_required
def inbound_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    """One inbound message: envelope, decision, reason, routed record, bounce events, a preview."""
    row = get_object_or_404(InboundMessage.objects.select_related("routed_model", "chatter_message", "alias"), pk=pk)
    parsed = parse_message(bytes(row.raw))
    return render(
        request,
        "bounces/inbound_detail.html",
        {
            "row": row,
            "parsed": parsed,
            "record": row.routed_record,
            "bounce_events": row.bounce_events.select_related("partner", "notification"),
            "headers": bytes(row.raw)[:65536].split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0].decode("utf-8", "replace"),
        },
    )


@staff_required
def inbound_eml_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The raw message exactly as received, as a .eml download."""
    row = get_object_or_404(InboundMessage.objects.only("pk", "queue_id", "raw"), pk=pk)
    response = HttpResponse(bytes(row.raw), content_type="message/rfc822")
    response["Content-Disposition"] = f'attachment; filename="inbound-{row.queue_id}.eml"'
    return response
