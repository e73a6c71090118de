"""Create the database's alias domain from settings, so Reply-To and Return-Path work at once."""

from django.db import migrations


def create_alias_domain(apps, schema_editor):  # type: ignore[no-untyped-def]
    from mailcore.defaults import ensure_alias_domain

    ensure_alias_domain(apps)


class Migration(migrations.Migration):
    dependencies = [("mailcore", "0001_initial")]
    operations = [migrations.RunPython(create_alias_domain, migrations.RunPython.noop)]
