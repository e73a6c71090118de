"""Per-model subtypes of the demo records (like crm.mt_lead_stage, sale.mt_order_confirmed)."""

from django.db import migrations

SUBTYPES = [
    ("demo.mt_lead_stage", "lead", "Stage Changed", "Stage changed", False),
    ("demo.mt_lead_won", "lead", "Opportunity Won", "Opportunity won", True),
    ("demo.mt_order_confirmed", "quotation", "Sales Order Confirmed", "Quotation confirmed", True),
    ("demo.mt_ticket_solved", "ticket", "Ticket Solved", "Ticket solved", True),
]


def create_subtypes(apps, schema_editor):  # type: ignore[no-untyped-def]
    ContentType = apps.get_model("contenttypes", "ContentType")
    MessageSubtype = apps.get_model("chatter", "MessageSubtype")
    for code, model, name, description, default in SUBTYPES:
        content_type, _ = ContentType.objects.get_or_create(app_label="demo", model=model)
        MessageSubtype.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "description": description,
                "default": default,
                "res_model": content_type,
                "sequence": 10,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("demo", "0001_initial"), ("chatter", "0002_core_subtypes"), ("contenttypes", "0002_remove_content_type_name")]
    operations = [migrations.RunPython(create_subtypes, migrations.RunPython.noop)]
