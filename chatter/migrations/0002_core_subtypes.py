"""Odoo's core subtypes: Discussions (mt_comment) and Note (mt_note)."""

from django.db import migrations

SUBTYPES = [
    {"code": "mt_comment", "name": "Discussions", "internal": False, "default": True, "sequence": 0},
    {"code": "mt_note", "name": "Note", "internal": True, "default": False, "sequence": 100},
    {"code": "mt_activities", "name": "Activities", "internal": False, "default": True, "sequence": 90},
]


def create_subtypes(apps, schema_editor):  # type: ignore[no-untyped-def]
    MessageSubtype = apps.get_model("chatter", "MessageSubtype")
    for values in SUBTYPES:
        MessageSubtype.objects.update_or_create(code=values["code"], defaults=values)


class Migration(migrations.Migration):
    dependencies = [("chatter", "0001_initial")]
    operations = [migrations.RunPython(create_subtypes, migrations.RunPython.noop)]
