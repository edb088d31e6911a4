"""The worker's queue: every stored event waits in it until it is processed, and an
event whose customer was known when it was stored is never rewritten by processing."""

import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection

from tests.factories import CustomerFactory
from tracking.models import Event
from tracking.selectors import events_waiting
from tracking.services import EventDraft, events_erase, events_process, events_store

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def store(**fields) -> Event:
    draft = EventDraft(message_id=str(uuid.uuid4()), type="Product Viewed", occurred_at=WHEN, **fields)
    assert events_store(drafts=[draft]).stored == 1
    return Event.objects.get(message_id=draft.message_id)


def row_version(event: Event) -> str:
    with connection.cursor() as cursor:
        # Where the row's current version lies: any update writes a new version elsewhere.
        cursor.execute(f"SELECT ctid::text FROM {Event._meta.db_table} WHERE id = %s", [event.pk])
        return cursor.fetchone()[0]


def test_a_stored_event_waits_for_the_worker():
    event = store(user_id="shop-1")

    assert list(events_waiting()) == [event]


def test_a_processed_event_no_longer_waits():
    store(user_id="shop-1")

    assert events_process() == 1

    assert not events_waiting().exists()


def test_a_repeated_event_waits_once():
    draft = EventDraft(message_id="m-1", type="Product Viewed", occurred_at=WHEN, user_id="shop-1")
    events_store(drafts=[draft])

    events_store(drafts=[draft, draft])

    assert events_waiting().count() == 1


def test_an_event_of_an_unknown_user_is_given_its_customer_when_processed():
    event = store(user_id="shop-new")

    events_process()

    event.refresh_from_db()
    assert event.customer.external_id == "shop-new"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a row version is Postgres's ctid")
def test_an_event_whose_customer_was_known_is_not_rewritten_by_processing():
    customer = CustomerFactory()
    event = store(user_id=customer.external_id, customer_id=customer.pk)
    stored_version = row_version(event)

    events_process()

    assert row_version(event) == stored_version and not events_waiting().exists()


def test_an_erased_event_leaves_the_queue_with_it():
    customer = CustomerFactory()
    store(user_id=customer.external_id, customer_id=customer.pk)

    events_erase(customer_id=customer.pk, user_ids=[customer.external_id], anonymous_ids=[])

    assert not events_waiting().exists()
