"""Placeholders in a campaign's subject, preview and body, rendered per recipient without running code.

Only ``{{ object.field }}`` with a known object and field is a placeholder, optionally with a
fallback: ``{{ contact.name|default:"friend" }}``. Anything else between ``{{`` and ``}}`` is an
error found by :func:`placeholder_errors` when the campaign is saved or sent — never at send
time, halfway through a list. Values are escaped for HTML in the body and left as text in the
subject. Nothing is evaluated: a template cannot call a method, read another attribute or loop.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass

from django.utils.translation import gettext as _

# What a campaign may say about its recipient and itself (object → fields).
FIELDS: dict[str, tuple[str, ...]] = {
    "contact": ("name", "first_name", "email"),
    "campaign": ("subject",),
    "unsubscribe": ("url",),
    "preferences": ("url",),
}

_TAG = re.compile(r"\{\{(.*?)\}\}", re.S)
_PLACEHOLDER = re.compile(
    r"""^\s*(?P<obj>[a-z_]+)\.(?P<field>[a-z_]+)\s*(?:\|\s*default\s*:\s*"(?P<default>[^"]*)"\s*)?$"""
)


@dataclass(frozen=True)
class PlaceholderError:
    text: str
    message: str

    def __str__(self) -> str:
        return f"{{{{{self.text}}}}}: {self.message}"


def placeholder_errors(template: str) -> list[PlaceholderError]:
    """Every tag that is not a known placeholder, with the reason (empty list: it will render)."""
    errors = []
    for match in _TAG.finditer(template):
        inner = match.group(1)
        parsed = _PLACEHOLDER.match(inner)
        if parsed is None:
            errors.append(PlaceholderError(inner, _('write {{ contact.name }} or {{ contact.name|default:"friend" }}')))
            continue
        obj, field = parsed["obj"], parsed["field"]
        if obj not in FIELDS:
            message = _("unknown object %(object)r: use one of %(objects)s") % {
                "object": obj,
                "objects": ", ".join(FIELDS),
            }
            errors.append(PlaceholderError(inner, message))
        elif field not in FIELDS[obj]:
            message = _("%(object)s has no field %(field)r: use %(fields)s") % {
                "object": obj,
                "field": field,
                "fields": ", ".join(FIELDS[obj]),
            }
            errors.append(PlaceholderError(inner, message))
    if "{%" in template:
        errors.append(PlaceholderError("%", _("template tags ({% … %}) are not allowed: only placeholders")))
    return errors


def render(template: str, values: Mapping[str, Mapping[str, str]], *, as_html: bool) -> str:
    """Replace each placeholder with its value (or its fallback when the value is empty).

    Call :func:`placeholder_errors` first: an unknown placeholder here raises ``ValueError``.
    """

    def replace(match: re.Match[str]) -> str:
        parsed = _PLACEHOLDER.match(match.group(1))
        if parsed is None or parsed["field"] not in FIELDS.get(parsed["obj"], ()):
            raise ValueError(f"not a placeholder: {match.group(0)!r}")
        value = values.get(parsed["obj"], {}).get(parsed["field"], "") or (parsed["default"] or "")
        return html.escape(value) if as_html else value

    return _TAG.sub(replace, template)


def uses(template: str, obj: str, field: str) -> bool:
    """Whether ``template`` has the placeholder ``{{ obj.field }}`` (with or without a fallback)."""
    for match in _TAG.finditer(template):
        parsed = _PLACEHOLDER.match(match.group(1))
        if parsed is not None and (parsed["obj"], parsed["field"]) == (obj, field):
            return True
    return False
