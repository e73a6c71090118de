"""Raw messages compressed with lz4 on PostgreSQL (14+, built with lz4), not pglz.

The raw bytes of a mail over about 2 kB are compressed when stored: lz4 makes the gateway's INSERT
cheaper than pglz and reads back faster too (figures in docs/measurements.md). Elsewhere (SQLite,
PostgreSQL without lz4) nothing changes.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations


def _has_lz4(schema_editor: Any) -> bool:
    if schema_editor.connection.vendor != "postgresql":
        return False
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
        row = cursor.fetchone()
    return bool(row and row[0] and "lz4" in row[0])


def _compression(method: str) -> Any:
    def apply(apps: Any, schema_editor: Any) -> None:
        if _has_lz4(schema_editor):
            table = schema_editor.quote_name(apps.get_model("bounces", "InboundMessage")._meta.db_table)
            schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN raw SET COMPRESSION {method}")

    return apply


class Migration(migrations.Migration):
    dependencies = [
        ("bounces", "0002_drop_decision_index"),
    ]

    operations = [
        migrations.RunPython(_compression("lz4"), _compression("pglz")),
    ]
