"""Entering and leaving a segment are Tailor's own events: recorded already processed and
handed to the processed-events hook when the change commits, so that segments built on
other segments follow at once and the worker has nothing more to fold."""

import uuid

import pytest
from django.utils import timezone

from personalization.models import Segment, SegmentMembership, Traits
from tests.factories import CustomerFactory
from tracking.models import Event, EventType
from tracking.selectors import events_waiting
from tracking.services import EventDraft, events_process, events_store

pytestmark = pytest.mark.django_db

VIEWED = {"type": "event", "event": "Product Viewed", "within": "7d"}


@pytest.fixture
def view(django_capture_on_commit_callbacks):
    """A customer views a product and the worker processes it (the hook runs on commit)."""

    def view(customer) -> None:
        draft = EventDraft(message_id=str(uuid.uuid4()), type=EventType.PRODUCT_VIEWED, occurred_at=timezone.now(),
                           customer_id=customer.pk)  # fmt: skip
        assert events_store(drafts=[draft]).stored == 1
        with django_capture_on_commit_callbacks(execute=True):
            events_process()

    return view


@pytest.fixture
def drain(django_capture_on_commit_callbacks):
    """The worker processes whatever is still waiting."""

    def drain() -> None:
        with django_capture_on_commit_callbacks(execute=True):
            while events_process():
                pass

    return drain


def is_member(segment: Segment, customer) -> bool:
    return SegmentMembership.objects.filter(segment=segment, customer=customer, exited_at__isnull=True).exists()


def test_an_entry_event_is_stored_processed(segment, view):
    viewers, customer = segment(VIEWED), CustomerFactory()

    view(customer)

    entered = Event.objects.get(type=EventType.SEGMENT_ENTERED, properties__segment_id=viewers.pk)
    assert entered.customer == customer and not events_waiting().filter(pk=entered.pk).exists()


def test_entering_a_segment_leaves_the_worker_nothing_to_process(segment, view):
    segment(VIEWED)

    view(CustomerFactory())

    assert events_process() == 0


def test_a_segment_built_on_another_follows_it_without_the_worker(segment, view):
    viewers = segment(VIEWED)
    viewers_followers = segment({"type": "segment", "segment": viewers.pk})
    customer = CustomerFactory()

    view(customer)

    assert is_member(viewers_followers, customer)


def test_leaving_a_segment_is_followed_by_the_segments_built_on_it(segment, view):
    viewers = segment(VIEWED)
    not_viewers = segment({"type": "not", "rule": {"type": "segment", "segment": viewers.pk}})
    customer = CustomerFactory()
    view(CustomerFactory())  # someone else, so that not_viewers is checked for everyone but them
    SegmentMembership.objects.create(segment=not_viewers, customer=customer, entered_at=timezone.now())

    view(customer)

    assert is_member(viewers, customer) and not is_member(not_viewers, customer)


def test_a_membership_event_does_not_make_the_customer_seen(segment, view, drain):
    segment(VIEWED)
    customer = CustomerFactory()

    view(customer)
    drain()

    customer.refresh_from_db()
    viewed_at = Event.objects.get(customer=customer, type=EventType.PRODUCT_VIEWED).occurred_at
    assert customer.last_seen_at == viewed_at


def test_a_membership_event_is_not_counted_among_the_customers_events(segment, view, drain):
    segment(VIEWED)
    customer = CustomerFactory()

    view(customer)
    drain()

    assert Traits.objects.get(customer=customer).event_counts == {EventType.PRODUCT_VIEWED: 1}
