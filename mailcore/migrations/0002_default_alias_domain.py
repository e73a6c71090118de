"""Create the database's alias domain from settings, so Reply-To and Return-Path work at once."""

from django.conf import settings
from django.db import migrations


def create_alias_domain(apps, schema_editor):  # type: ignore[no-untyped-def]
    AliasDomain = apps.get_model("mailcore", "AliasDomain")
    if not AliasDomain.objects.exists():
        AliasDomain.objects.create(name=getattr(settings, "MAILCORE_DEFAULT_ALIAS_DOMAIN", "mailcore.localhost"))


class Migration(migrations.Migration):
    dependencies = [("mailcore", "0001_initial")]
    operations = [migrations.RunPython(create_alias_domain, migrations.RunPython.noop)]
