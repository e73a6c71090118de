"""Template helpers of the mailcore UI: icons, avatars, record links, field values."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django import template
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from chatter import selectors
from chatter.models import Message
from chatter.sanitize import html_block_remote_images

register = template.Library()


@register.filter
def short_when(value: dt.datetime | None, precision: str = "") -> str:
    """A moment of this year or so, in the reader's language and time zone, without the year:
    "December 4 18:05", "4 décembre 18:05", "12月4日 18:05". ``precision`` may ask for the
    ``seconds`` and the ``zone`` ("December 4 18:05:09 JST"): a moment shown in the reader's time
    zone must not be labelled with another.

    A fixed "M j, H:i" would put the month first in every language.
    """
    if not value:
        return ""
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    words = precision.split()
    clock = "H:i:s" if "seconds" in words else "H:i"
    shown = f"{date_format(value, 'MONTH_DAY_FORMAT')} {date_format(value, clock)}"
    return f"{shown} {date_format(value, 'T')}" if "zone" in words else shown


@register.filter
def message_preview(body: str) -> str:
    """A message body as plain text for lists (escaped once by the template)."""
    return selectors.message_preview(body or "")

# Muted, readable avatar colours (white text passes WCAG AA on each).
_AVATAR_COLOURS = ("#714B67", "#2f6f8f", "#3d7a4f", "#8a5a14", "#7a3e8f", "#9c3d4f", "#36607a", "#5b6b2f")


@register.simple_tag
def icon(name: str, extra: str = "") -> str:
    """An icon from the inline sprite (templates/partials/icons.svg)."""
    return format_html('<svg class="icon {}" aria-hidden="true"><use href="#{}"></use></svg>', extra, name)


@register.filter
def avatar_colour(key: Any) -> str:
    try:
        index = int(key)
    except (TypeError, ValueError):
        index = sum(map(ord, str(key)))
    return _AVATAR_COLOURS[index % len(_AVATAR_COLOURS)]


@register.filter
def initials(name: Any) -> str:
    words = [w for w in str(name or "?").replace("@", " ").split() if w[:1].isalnum()]
    return ("".join(w[0] for w in words[:2]) or "?").upper()


@register.simple_tag
def record_url(content_type_id: int | None, res_id: int | None) -> str:
    """The record page of (content type, id): the URL outgoing mail links to."""
    if not content_type_id or not res_id:
        return ""
    return reverse("chatter:record_by_content_type", args=[content_type_id, res_id])


@register.simple_tag
def field_value(record: models.Model, field: models.Field[Any, Any]) -> Any:
    """A field's value for display: choice labels, related names, dates as they are."""
    if getattr(field, "choices", None):
        return getattr(record, f"get_{field.name}_display")()
    value = getattr(record, field.name)
    return "" if value is None else value


@register.filter
def is_numeric_field(field: models.Field[Any, Any]) -> bool:
    return isinstance(field, models.DecimalField | models.FloatField | models.IntegerField) and not getattr(
        field, "choices", None
    )


@register.filter
def mail_state_badge(state: str) -> str:
    """Odoo's queue badge colours: muted for sent/cancel, info for outgoing, danger for failures."""
    return {"outgoing": "badge-info", "exception": "badge-danger", "sent": "", "cancel": "", "received": ""}.get(
        state, ""
    )


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    return mapping.get(key) if mapping else None


@register.filter
def posted_email(posted: Any, partner_id: int) -> str:
    """The address typed for a recipient of the resend dialog (re-shown after an error)."""
    return str(posted.get(f"email_{partner_id}", "")) if posted else ""


@register.filter
def posted_retry(posted: Any, partner_id: int) -> bool:
    return bool(posted.get(f"retry_{partner_id}")) if posted else False


@dataclass(frozen=True)
class MessageBody:
    html: SafeString
    remote_images_hidden: bool


@register.simple_tag
def message_body(message: Message) -> MessageBody:
    """A message's body for display: sanitised, remote images hidden, inline images pointing at
    their attachments (reads the prefetched attachments: no query per message)."""
    cid_urls = {
        a.content_id: reverse("chatter:attachment", args=[a.pk])
        for a in message.attachments.all()
        if a.content_id and a.mimetype.startswith("image/")
    }
    body, hidden = html_block_remote_images(message.body, cid_urls=cid_urls)
    # Sanitised just above.
    return MessageBody(html=mark_safe(body), remote_images_hidden=hidden)
