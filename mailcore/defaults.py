"""Rows every database needs: the alias domain, the core subtypes and the demo subtypes.

Created by ``post_migrate`` (so a flush — e.g. between transactional tests — brings them back)
and idempotent: existing rows are left as the admin edited them.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps
from django.utils.translation import gettext_noop

# Names are stored in English and translated when shown (``MessageSubtype.label``); the markers
# put them in the catalogues.

CORE_SUBTYPES: list[dict[str, Any]] = [
    {"code": "mt_comment", "name": gettext_noop("Discussions"), "internal": False, "default": True, "sequence": 0},
    {"code": "mt_note", "name": gettext_noop("Note"), "internal": True, "default": False, "sequence": 100},
    {"code": "mt_activities", "name": gettext_noop("Activities"), "internal": False, "default": True, "sequence": 90},
]

# (code, demo model, name, description, default)
DEMO_SUBTYPES: list[tuple[str, str, str, str, bool]] = [
    ("demo.mt_lead_stage", "lead", gettext_noop("Stage Changed"), gettext_noop("Stage changed"), False),
    ("demo.mt_lead_won", "lead", gettext_noop("Opportunity Won"), gettext_noop("Opportunity won"), True),
    (
        "demo.mt_order_confirmed",
        "quotation",
        gettext_noop("Sales Order Confirmed"),
        gettext_noop("Quotation confirmed"),
        True,
    ),
    ("demo.mt_ticket_solved", "ticket", gettext_noop("Ticket Solved"), gettext_noop("Ticket solved"), True),
]


def ensure_alias_domain(apps: Any = global_apps) -> None:
    from mailcore import conf

    AliasDomain = apps.get_model("mailcore", "AliasDomain")
    if not AliasDomain.objects.exists():
        AliasDomain.objects.create(name=conf.default_alias_domain())


def ensure_core_subtypes(apps: Any = global_apps) -> None:
    MessageSubtype = apps.get_model("chatter", "MessageSubtype")
    for values in CORE_SUBTYPES:
        MessageSubtype.objects.get_or_create(code=values["code"], defaults=values)


def ensure_demo_subtypes(apps: Any = global_apps) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    MessageSubtype = apps.get_model("chatter", "MessageSubtype")
    for code, model, name, description, default in DEMO_SUBTYPES:
        content_type, _ = ContentType.objects.get_or_create(app_label="demo", model=model)
        MessageSubtype.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "description": description,
                "default": default,
                "res_model": content_type,
                "sequence": 10,
            },
        )


def ensure_defaults_after_migrate(sender: Any, **kwargs: Any) -> None:
    """post_migrate receiver: the rows above, for the apps that were just migrated or flushed."""
    label = getattr(sender, "label", "")
    plan_apps = kwargs.get("apps", global_apps)
    if label == "mailcore":
        ensure_alias_domain(plan_apps)
    elif label == "chatter":
        ensure_core_subtypes(plan_apps)
    elif label == "demo":
        ensure_demo_subtypes(plan_apps)
