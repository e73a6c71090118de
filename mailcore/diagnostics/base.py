"""The shape of a diagnostic result: a status, a summary, advice and detail lines."""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.utils.translation import gettext, pgettext

if TYPE_CHECKING:  # django-stubs is a development dependency
    from django_stubs_ext import StrOrPromise

logger = logging.getLogger(__name__)


class Status(enum.StrEnum):
    """How a check came out; the page colours sections by it."""

    OK = "ok"
    WARNING = "warning"
    ERROR = "error"
    UNKNOWN = "unknown"  # the check could not run (DNS timeout, bad setting…)

    @property
    def label(self) -> str:
        """The badge's word, in the active language."""
        return {
            "ok": pgettext("diagnostic status", "OK"),
            "warning": pgettext("diagnostic status", "Warning"),
            "error": pgettext("diagnostic status", "Problem"),
            "unknown": pgettext("diagnostic status", "Could not check"),
        }[self.value]


_SEVERITY = {Status.OK: 0, Status.UNKNOWN: 1, Status.WARNING: 2, Status.ERROR: 3}


def worst(statuses: list[Status]) -> Status:
    """The most severe status (an unknown result outranks OK: nobody should read it as fine)."""
    return max(statuses, key=_SEVERITY.__getitem__, default=Status.OK)


@dataclass(frozen=True)
class Item:
    """One line of a check: a label, a text, its own status, and an optional link."""

    label: str
    text: str
    status: Status | None = None
    url: str = ""
    url_label: str = ""


@dataclass(frozen=True)
class Check:
    """The result of one diagnostic: a status, a one-line summary, what to do, and the details."""

    key: str
    title: str
    status: Status
    summary: str
    advice: str = ""
    items: tuple[Item, ...] = ()


def run_check(key: str, title: StrOrPromise, func: Callable[[], Check]) -> Check:
    """``func()``, or an "could not check" result when it raises: the page always renders.

    ``title`` is the check's own (lazy) title constant, shown in the active language.
    """
    try:
        return func()
    except Exception as exc:
        logger.exception("Diagnostic %s failed", key)
        return Check(key=key, title=str(title), status=Status.UNKNOWN, summary=could_not_check(describe_error(exc)))


def could_not_check(reason: str) -> str:
    """The verdict of a check that could not run; ``reason`` is the error (as Python or DNS words it)."""
    return gettext("could not check: %(reason)s") % {"reason": reason}


def describe_error(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
