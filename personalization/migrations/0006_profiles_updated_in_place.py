"""Profiles are rewritten by every processed batch. Postgres can update a row in place
(a HOT update: no new index entries) when no indexed column changes and the row's page
has room: so last_seen_at loses its index, and customers' and traits' pages keep 15% free."""

from django.db import migrations, models

TABLES = ("personalization_customer", "personalization_traits")


def _fillfactor(percent: int):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for table in TABLES:
                schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = {percent})")

    return apply


class Migration(migrations.Migration):
    dependencies = [
        ("personalization", "0005_propensity_scores"),
    ]

    operations = [
        migrations.AlterField(
            model_name="customer",
            name="last_seen_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(_fillfactor(85), _fillfactor(100)),
    ]
