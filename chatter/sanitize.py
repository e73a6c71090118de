"""HTML sanitising for message bodies (nh3, the Ammonia sanitiser)."""

from __future__ import annotations

import html
import re
from urllib.parse import unquote

import nh3

_ALLOWED_TAGS = set(nh3.ALLOWED_TAGS) | {"img", "span", "div", "font", "center", "u", "s", "hr", "pre"}
_ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "*": {"style", "class", "title", "dir", "lang", "align"},
    "img": {"src", "alt", "width", "height"},
    "a": {"href", "title", "target"},
    "font": {"color", "face", "size"},
    "td": {"colspan", "rowspan", "align", "valign", "width"},
    "th": {"colspan", "rowspan", "align", "valign", "width"},
    "table": {"width", "border", "cellpadding", "cellspacing"},
}


# Inline styles keep only harmless text properties: ``position``, ``z-index``, sizes, margins and
# backgrounds would let a mail cover the page with an overlay or load remote URLs from CSS.
_ALLOWED_STYLE_PROPERTIES = {
    "color",
    "background-color",
    "font-weight",
    "font-style",
    "text-decoration",
    "text-align",
}


def _drop_non_image_data_urls(tag: str, attribute: str, value: str) -> str | None:
    # ``data:`` is allowed for inline images only (as lxml's Cleaner in Odoo): a
    # ``data:text/html`` link is a script URL in disguise.
    if attribute in {"href", "src"} and value.strip().lower().startswith("data:"):
        if not (tag == "img" and value.strip().lower().startswith("data:image/")):
            return None
    return value


def html_sanitize(body: str) -> str:
    """Strip scripts, event handlers and unsafe URLs; keep the formatting people write."""
    return nh3.clean(
        body,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "cid", "data"},
        link_rel="noopener noreferrer",
        attribute_filter=_drop_non_image_data_urls,
        filter_style_properties=_ALLOWED_STYLE_PROPERTIES,
    )


# An ``<img>`` tag as nh3 serialises it: attribute values always double-quoted (a ``"`` inside is
# ``&quot;``), but ``>`` may stand unescaped inside a value, so values are matched whole.
_IMG_TAG = re.compile(r'<img((?:\s+[^\s=>/]+(?:="[^"]*")?)*)\s*/?>')
_ATTRIBUTE = re.compile(r'\s+([^\s=>/]+)(?:="([^"]*)")?')
# Attribute that keeps a hidden remote image's URL until the reader asks for it (static/js/app.js).
REMOTE_SRC_ATTRIBUTE = "data-remote-src"


def html_block_remote_images(body: str, *, cid_urls: dict[str, str] | None = None) -> tuple[str, bool]:
    """Hide the remote images of a sanitised body until the reader asks for them, as mail clients do.

    Loading a remote image tells its sender that (and when, and from where) the mail was read, and
    makes the reader's browser fetch attacker-chosen URLs. Each image whose source is neither an
    inline ``cid:`` part (RFC 2392) nor a ``data:image/`` URL keeps its URL in ``data-remote-src``
    instead of ``src``. ``cid:`` sources found in ``cid_urls`` (Content-ID → URL of the stored
    attachment) point at that attachment. The body is sanitised again first, so messages stored
    under older, looser rules are shown under today's. Returns the HTML and whether an image was
    hidden.
    """
    cid_urls = cid_urls or {}
    hidden = False

    def rewrite(tag: re.Match[str]) -> str:
        nonlocal hidden
        attributes: list[str] = []
        for name, quoted in _ATTRIBUTE.findall(tag.group(1)):
            if name.lower() != "src":
                attributes.append(f'{name}="{quoted}"')
                continue
            value = html.unescape(quoted).strip()
            if value.lower().startswith("cid:"):
                url = cid_urls.get(unquote(value[4:]).strip("<>"))
                attributes.append(f'src="{html.escape(url) if url else quoted}"')
            elif value.lower().startswith("data:image/"):
                attributes.append(f'src="{quoted}"')
            else:
                hidden = True
                attributes.append(f'{REMOTE_SRC_ATTRIBUTE}="{quoted}"')
        return "<img" + "".join(f" {a}" for a in attributes) + ">"

    return _IMG_TAG.sub(rewrite, html_sanitize(body)), hidden


def plaintext_to_html(text: str) -> str:
    """Escape plain text and keep its line breaks (Odoo ``plaintext2html``)."""
    paragraphs = [p for p in html.escape(text).replace("\r\n", "\n").split("\n\n")]
    return "".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in paragraphs if p.strip())


# html_to_plaintext runs for every outgoing mail (each campaign mail has its own body): its
# patterns and its tag stripper are made once.
_BR = re.compile(r"(?i)<br\s*/?>")
_BLOCK_END = re.compile(r"(?i)</(p|div|h[1-6]|li|tr|table|blockquote)>")
_LINK = re.compile(r"(?i)<a\s[^>]*href=\"([^\"]+)\"[^>]*>(.*?)</a>")
_BLANK_LINES = re.compile(r"\n{3,}")
_STRIP_TAGS = nh3.Cleaner(tags=set())


def html_to_plaintext(body: str) -> str:
    """A readable text alternative of an HTML body (Odoo ``html2plaintext``, simplified)."""
    text = _BR.sub("\n", body)
    text = _BLOCK_END.sub("\n", text)
    text = _LINK.sub(r"\2 [\1]", text)
    text = _STRIP_TAGS.clean(text)
    text = html.unescape(text)
    return _BLANK_LINES.sub("\n\n", text).strip()
