"""Who is acting: the contact that authors messages and tracking logged during a request or task.

A context variable rather than a thread-local so it follows async code too. The web middleware
sets it from the logged-in user; services accept an explicit ``author`` that wins over it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailcore.models import Partner

_acting_partner: ContextVar[Partner | None] = ContextVar("acting_partner", default=None)


def acting_partner() -> Partner | None:
    return _acting_partner.get()


@contextlib.contextmanager
def acting_as(partner: Partner | None) -> Iterator[None]:
    token = _acting_partner.set(partner)
    try:
        yield
    finally:
        _acting_partner.reset(token)
