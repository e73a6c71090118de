"""HTML sanitising for message bodies (nh3, the Ammonia sanitiser)."""

from __future__ import annotations

import html

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
    )


def plaintext_to_html(text: str) -> str:
    """Escape plain text and keep its line breaks (Odoo ``plaintext2html``)."""
    paragraphs = [p for p in html.escape(text).replace("\r\n", "\n").split("\n\n")]
    return "".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in paragraphs if p.strip())


def html_to_plaintext(body: str) -> str:
    """A readable text alternative of an HTML body (Odoo ``html2plaintext``, simplified)."""
    import re

    text = re.sub(r"(?i)<br\s*/?>", "\n", body)
    text = re.sub(r"(?i)</(p|div|h[1-6]|li|tr|table|blockquote)>", "\n", text)
    text = re.sub(r"(?i)<a\s[^>]*href=\"([^\"]+)\"[^>]*>(.*?)</a>", r"\2 [\1]", text)
    text = nh3.clean(text, tags=set())
    text = html.unescape(text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
