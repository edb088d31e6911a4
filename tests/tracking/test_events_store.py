from dataclasses import replace
from datetime import UTC, datetime

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.errors import ServiceUnavailable
from tests.factories import CustomerFactory
from tracking.models import Event
from tracking.selectors import events_waiting
from tracking.services import EventDraft, events_store

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def draft(message_id: str, **changes) -> EventDraft:
    values = {"message_id": message_id, "type": "Product Viewed", "occurred_at": WHEN, "anonymous_id": "anon-1"}
    return EventDraft(**{**values, **changes})


def test_valid_events_are_stored_with_everything_they_carry():
    customer = CustomerFactory()
    result = events_store(
        drafts=[
            draft(
                "m-1",
                user_id=customer.external_id,
                customer_id=customer.pk,
                product_sku="SKU-1",
                properties={"price": 9.5, "category": "Shoes"},
                context={"ip": "203.0.113.9"},
            )
        ]
    )
    assert (result.stored, result.duplicates, result.rejected) == (1, 0, ())
    event = Event.objects.get()
    assert (event.customer, event.product_id, event.occurred_at) == (customer, "SKU-1", WHEN)
    assert event.properties == {"price": 9.5, "category": "Shoes"}
    assert event.context == {"ip": "203.0.113.9"}
    assert event.received_at is not None


def test_a_repeated_message_id_is_counted_as_a_duplicate_and_stored_once():
    events_store(drafts=[draft("m-1")])
    result = events_store(drafts=[draft("m-1", type="Order Completed"), draft("m-2")])
    assert (result.stored, result.duplicates, result.accepted) == (1, 1, 2)
    assert Event.objects.get(message_id="m-1").type == "Product Viewed"  # the first one stays
    assert Event.objects.count() == 2


def test_a_message_id_repeated_within_one_batch_is_stored_once():
    result = events_store(drafts=[draft("m-1"), draft("m-1")])
    assert (result.stored, result.duplicates) == (1, 1)
    assert Event.objects.count() == 1


@pytest.mark.parametrize(
    ("changes", "reason_starts"),
    [
        ({"message_id": ""}, "messageId is missing"),
        ({"message_id": "x" * 101}, "messageId is longer than 100"),
        ({"type": " "}, "The event has no name"),
        ({"anonymous_id": ""}, "The event names nobody"),
        ({"occurred_at": datetime(2026, 11, 1, 12, 0)}, "The timestamp must be a date and time with a time zone"),
        ({"properties": ["not", "an", "object"]}, "properties and context must be JSON objects"),
        ({"product_sku": "s" * 101}, "The product id is longer than 100"),
    ],
)
def test_an_invalid_event_is_rejected_with_its_index_and_a_reason(changes, reason_starts):
    bad = replace(draft("bad"), **changes)
    result = events_store(drafts=[draft("ok-1"), bad, draft("ok-2")])
    assert result.stored == 2
    [rejection] = result.rejected
    assert rejection.index == 1
    assert rejection.reason.startswith(reason_starts)
    assert set(Event.objects.values_list("message_id", flat=True)) == {"ok-1", "ok-2"}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite takes a statement per 1,000 rows and table")
def test_a_batch_is_written_and_queued_in_one_statement():
    drafts = [draft(f"m-{n}") for n in range(500)]
    with CaptureQueriesContext(connection) as queries:
        events_store(drafts=drafts)
    writes = [q for q in queries.captured_queries if "INSERT" in q["sql"]]
    assert len(writes) == 1
    assert Event.objects.count() == 500 and events_waiting().count() == 500


@pytest.mark.django_db(transaction=True)
def test_a_lost_database_connection_is_service_unavailable_and_stores_nothing():
    connection.ensure_connection()
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"], port=settings["PORT"], user=settings["USER"], dbname=settings["NAME"], autocommit=True
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid])
    with pytest.raises(ServiceUnavailable):
        events_store(drafts=[draft("m-1")])
    connection.close()
    assert not Event.objects.exists()
