"""Query-string parameters: one parser for the pages and the API.

PostgreSQL refuses NUL characters in text (psycopg raises before the query is sent), so a ``%00``
in a search box would otherwise end as a server error; browsers never put one in a form field.
"""

from __future__ import annotations

from django.http import QueryDict
from django.utils.translation import gettext as _

from mailcore.exceptions import InvalidQueryParameter


def query_text(params: QueryDict, name: str) -> str:
    """The stripped text of parameter ``name`` ("" when absent), or InvalidQueryParameter (a 400)."""
    value = params.get(name, "")
    if "\x00" in value:
        raise InvalidQueryParameter(
            name, _("The parameter %(name)r must not contain a NUL character (%%00).") % {"name": name}
        )
    return value.strip()
