"""Odoo's core subtypes: Discussions (mt_comment) and Note (mt_note)."""

from django.db import migrations


def create_subtypes(apps, schema_editor):  # type: ignore[no-untyped-def]
    from mailcore.defaults import ensure_core_subtypes

    ensure_core_subtypes(apps)


class Migration(migrations.Migration):
    dependencies = [("chatter", "0001_initial")]
    operations = [migrations.RunPython(create_subtypes, migrations.RunPython.noop)]
