"""Opens and clicks of campaign mail: a signed 1×1 image and signed redirect links.

Each link of a campaign body is rewritten to ``/mailing/t/c/<token>/`` where the token signs the
recipient's trace id *and* the original URL, so the redirect can only ever lead where the
campaign's author pointed (never an open redirect), and only for links we wrote. A campaign can
turn either off for privacy. Each recipient counts once: the first open and the first click are
kept, later ones change nothing.
"""

from __future__ import annotations

import html
import re

from django.core import signing
from django.urls import reverse
from django.utils import timezone

from marketing.models import MailingTrace, TraceStatus

SALT_OPEN = "marketing.track.open"
SALT_CLICK = "marketing.track.click"
# A 1×1 transparent GIF.
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
# href="…" or href='…' of an <a> tag; only absolute http(s) links are tracked.
_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?://[^"'\s>]+)\2""", re.IGNORECASE)


def open_token(trace_id: int) -> str:
    return signing.Signer(salt=SALT_OPEN).sign(str(trace_id))


def click_token(trace_id: int, url: str) -> str:
    return signing.Signer(salt=SALT_CLICK).sign_object([trace_id, url], compress=True)


def read_open_token(token: str) -> int | None:
    try:
        return int(signing.Signer(salt=SALT_OPEN).unsign(token))
    except (signing.BadSignature, ValueError):
        return None


def read_click_token(token: str) -> tuple[int, str] | None:
    try:
        value = signing.Signer(salt=SALT_CLICK).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], int) and isinstance(value[1], str)):
        return None
    if not value[1].startswith(("http://", "https://")):
        return None
    return value[0], value[1]


def track_links(body_html: str, *, trace_id: int, base_url: str, keep: tuple[str, ...] = ()) -> str:
    """Every absolute http(s) link of ``body_html`` through the click counter, except those in
    ``keep`` (the unsubscribe and preference links must work without a detour)."""
    base = base_url.rstrip("/")

    def replace(match: re.Match[str]) -> str:
        url = html.unescape(match.group(3))
        if url in keep:
            return match.group(0)
        tracked = base + reverse("mailing:track_click", args=[click_token(trace_id, url)])
        return f"{match.group(1)}{match.group(2)}{html.escape(tracked)}{match.group(2)}"

    return _HREF.sub(replace, body_html)


def open_pixel(*, trace_id: int, base_url: str) -> str:
    url = base_url.rstrip("/") + reverse("mailing:track_open", args=[open_token(trace_id)])
    return f'<img src="{html.escape(url)}" width="1" height="1" alt="" style="display:block;border:0">'


def trace_set_opened(trace_id: int) -> bool:
    """Odoo ``set_opened``: a delivered trace becomes opened, once (a reply or bounce stays)."""
    return bool(
        MailingTrace.objects.filter(pk=trace_id, trace_status=TraceStatus.SENT).update(
            trace_status=TraceStatus.OPEN, open_datetime=timezone.now()
        )
    )


def trace_set_clicked(trace_id: int) -> bool:
    """Odoo ``set_clicked`` (after ``set_opened``: a click proves the mail was opened); the first
    click is kept."""
    trace_set_opened(trace_id)
    return bool(
        MailingTrace.objects.filter(pk=trace_id, links_click_datetime__isnull=True).update(
            links_click_datetime=timezone.now()
        )
    )
