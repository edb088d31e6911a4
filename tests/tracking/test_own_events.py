"""`own_events_record`: Tailor's own events about a known customer are stored processed
and reach the processed-events hook once, after the transaction commits."""

import uuid

import pytest
from django.db import transaction
from django.utils import timezone

from tests.factories import CustomerFactory
from tracking.hooks import events_processed_subscribe
from tracking.models import Event, EventType
from tracking.selectors import events_waiting
from tracking.services import EventDraft, own_events_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def heard(monkeypatch):
    """The batches a subscriber of the hook receives."""
    from tracking import hooks

    monkeypatch.setattr(hooks, "_subscribers", {})
    batches = []
    events_processed_subscribe("listener", batches.append)
    return batches


def entered(customer, message_id: str | None = None) -> EventDraft:
    return EventDraft(message_id=message_id or str(uuid.uuid4()), type=EventType.SEGMENT_ENTERED,
                      occurred_at=timezone.now(), customer_id=customer.pk, properties={"segment_id": 1})  # fmt: skip


def test_own_events_are_stored_not_waiting_for_the_worker(heard, django_capture_on_commit_callbacks):
    customer = CustomerFactory()

    with django_capture_on_commit_callbacks(execute=True):
        own_events_record(drafts=[entered(customer)])

    event = Event.objects.get(customer=customer)
    assert not events_waiting().filter(pk=event.pk).exists()


def test_the_hook_hears_of_own_events_with_their_stored_ids(heard, django_capture_on_commit_callbacks):
    customer = CustomerFactory()

    with django_capture_on_commit_callbacks(execute=True):
        own_events_record(drafts=[entered(customer)])

    [batch] = heard
    [fact] = batch.facts
    assert (fact.id, fact.type, fact.customer_id) == (Event.objects.get().pk, EventType.SEGMENT_ENTERED, customer.pk)


def test_the_hook_hears_nothing_before_the_transaction_commits(heard, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as waiting:
        own_events_record(drafts=[entered(CustomerFactory())])

    assert heard == [] and len(waiting) == 1


def test_a_rolled_back_own_event_is_neither_stored_nor_heard(heard, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        own_events_record(drafts=[entered(CustomerFactory())])
        raise RuntimeError("the membership change failed")

    assert heard == [] and not Event.objects.exists()


def test_a_repeated_message_id_is_stored_and_heard_once(heard, django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    own_events_record(drafts=[entered(customer, "segment-in-1")])

    with django_capture_on_commit_callbacks(execute=True):
        own_events_record(drafts=[entered(customer, "segment-in-1"), entered(customer, "segment-in-1")])

    assert Event.objects.count() == 1 and heard == []


def test_an_event_a_person_did_is_refused(heard):
    viewed = EventDraft(message_id="m1", type=EventType.PRODUCT_VIEWED, occurred_at=timezone.now(),
                        customer_id=CustomerFactory().pk)  # fmt: skip

    with pytest.raises(ValueError, match="m1"):
        own_events_record(drafts=[viewed])

    assert not Event.objects.exists()


def test_an_own_event_without_a_customer_is_refused(heard):
    nobody = EventDraft(message_id="m2", type=EventType.SEGMENT_EXITED, occurred_at=timezone.now(), user_id="u1")

    with pytest.raises(ValueError, match="m2"):
        own_events_record(drafts=[nobody])
