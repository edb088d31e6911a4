"""Re-checking a few customers against an event rule reads those customers' events by their
index, even when the table's statistics know nothing of the recent events: on a table that
grows by the minute they never do, and trusting them meant reading every recent event of
the type to check a batch's customers."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from personalization.segments.selectors import segment_audience
from tests.factories import CustomerFactory, EventFactory
from tracking.models import Event, EventType

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="Postgres's planner"),
]

RECENT_VIEWERS = {"type": "event", "event": EventType.PRODUCT_VIEWED, "within": "10m"}


def events_write(customers: list[int], *, per_customer: int, ago: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Event._meta.db_table} (message_id, type, user_id, anonymous_id, customer_id, properties, "
            "context, occurred_at, received_at) "
            "SELECT gen_random_uuid()::text, %s, '', '', c, '{}', '{}', now() - %s::interval, now() "
            "FROM unnest(%s::bigint[]) AS c, generate_series(1, %s)",
            [EventType.PRODUCT_VIEWED, ago, customers, per_customer],
        )


@pytest.fixture
def stale_statistics():
    """Old views analyzed, then many recent ones the statistics have not seen."""
    customers = [c.pk for c in CustomerFactory.create_batch(300)]
    events_write(customers, per_customer=40, ago="30 days")
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Event._meta.db_table}")
    events_write(customers, per_customer=40, ago="1 minute")
    return customers


def plan(rules: dict, among: set[int]) -> str:
    query = segment_audience(rules=rules, now=timezone.now(), among=among).values("pk")
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_a_few_customers_are_checked_through_the_customer_index(stale_statistics):
    explained = plan(RECENT_VIEWERS, among=set(stale_statistics[:20]))

    assert "event_customer_type_time" in explained and "event_type_time" not in explained


def test_the_re_check_finds_the_recent_viewers(stale_statistics):
    an_hour_ago = EventFactory(occurred_at=timezone.now() - timedelta(hours=1)).customer_id
    recent = set(stale_statistics[:20])

    among = recent | {an_hour_ago}
    members = set(segment_audience(rules=RECENT_VIEWERS, now=timezone.now(), among=among).values_list("pk", flat=True))

    assert members == recent
