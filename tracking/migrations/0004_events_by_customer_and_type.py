from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0003_campaigns"),
        ("personalization", "0005_propensity_scores"),
        ("tracking", "0003_segments"),
    ]

    # The new index first, so that no query is left without one in between.
    operations = [
        migrations.AddIndex(
            model_name="event",
            index=models.Index(fields=["customer", "type", "occurred_at"], name="event_customer_type_time"),
        ),
        migrations.RemoveIndex(model_name="event", name="event_customer_time"),
    ]
