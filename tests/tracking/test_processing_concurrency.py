"""While a batch is being folded into people's profiles, events about those same people
can still be stored: the batch's row locks do not hold up the foreign-key checks that
storing an event makes on its customer."""

import threading
import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction

from personalization.models import Customer
from tracking.models import Event
from tracking.services import EventDraft, events_process, events_process_batch, events_store

pytestmark = pytest.mark.django_db(transaction=True)

WHEN = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def draft(customer: Customer) -> EventDraft:
    return EventDraft(message_id=str(uuid.uuid4()), type="Product Viewed", occurred_at=WHEN, customer_id=customer.pk)


def store_elsewhere(drafts: list[EventDraft]) -> list:
    """Store from another connection, as a web process does, refusing to wait over a second for a lock."""
    outcome = []

    def store():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '1s'")
            outcome.append(events_store(drafts=drafts).stored)
        except Exception as error:  # whatever stopped the store is the outcome
            outcome.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=store)
    thread.start()
    thread.join()
    return outcome


def test_an_event_about_someone_in_the_batch_being_folded_is_stored_without_waiting_for_it():
    events_store(drafts=[EventDraft(message_id="first", type="Identify", occurred_at=WHEN, user_id="shop-1")])
    events_process()
    customer = Customer.objects.get(external_id="shop-1")
    events_store(drafts=[draft(customer)])

    with transaction.atomic():
        assert events_process_batch() == 1  # its locks are held until this block ends
        stored = store_elsewhere([draft(customer)])

    assert (stored, Event.objects.filter(customer=customer).count()) == ([1], 3)
