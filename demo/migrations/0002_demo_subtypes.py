"""Per-model subtypes of the demo records (like crm.mt_lead_stage, sale.mt_order_confirmed)."""

from django.db import migrations


def create_subtypes(apps, schema_editor):  # type: ignore[no-untyped-def]
    from mailcore.defaults import ensure_demo_subtypes

    ensure_demo_subtypes(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("demo", "0001_initial"),
        ("chatter", "0002_core_subtypes"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_subtypes, migrations.RunPython.noop)]
