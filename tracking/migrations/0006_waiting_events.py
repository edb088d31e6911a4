# Events waiting for the worker move from a column of theirs (processed_at IS NULL) to a
# queue of their ids; events already processed are those not in it.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0005_events_indexes_lean"),
    ]

    operations = [
        migrations.CreateModel(
            name="WaitingEvent",
            fields=[
                (
                    "event",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="waiting",
                        serialize=False,
                        to="tracking.event",
                    ),
                ),
            ],
        ),
        migrations.RunSQL(
            "INSERT INTO tracking_waitingevent (event_id) SELECT id FROM tracking_event WHERE processed_at IS NULL",
            reverse_sql="UPDATE tracking_event SET processed_at = received_at "
            "WHERE id NOT IN (SELECT event_id FROM tracking_waitingevent)",
        ),
        migrations.RemoveIndex(
            model_name="event",
            name="event_unprocessed",
        ),
        migrations.RemoveField(
            model_name="event",
            name="processed_at",
        ),
    ]
