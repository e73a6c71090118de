"""Hand-offs from the foundation to the apps above it.

``mailcore`` imports no other app; where it needs an answer only a higher app has (which models
an alias may create records of: those with a chatter), that app fills this registry in its
``AppConfig.ready()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.db import models

AliasTargets = Callable[[], Iterable[type[models.Model]]]

_alias_targets: AliasTargets | None = None


def register_alias_targets(provider: AliasTargets) -> None:
    global _alias_targets
    _alias_targets = provider


def alias_target_models() -> list[type[models.Model]]:
    """The models an alias may create records of or post on (none until an app registers them)."""
    return list(_alias_targets()) if _alias_targets is not None else []
