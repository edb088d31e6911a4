"""Membership follows events: processed batches re-check the touched customers, and
entering and leaving are recorded with times and as events."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from personalization.models import Segment, SegmentMembership
from personalization.segments.services import segment_save
from tracking.models import Event, EventType
from tracking.services import EventDraft, events_process, events_store

pytestmark = pytest.mark.django_db

VIEWED_TWICE = {"type": "event", "event": "Product Viewed", "count": 2, "within": "7d"}


@pytest.fixture
def track(django_capture_on_commit_callbacks):
    """Store an event and process it, as the worker would (the hook runs on commit)."""

    def track(user_id: str, event_type: str, *, ago: timedelta = timedelta(0), **properties) -> None:
        draft = EventDraft(message_id=str(uuid.uuid4()), type=event_type, occurred_at=timezone.now() - ago,
                           user_id=user_id, properties=properties)  # fmt: skip
        assert events_store(drafts=[draft]).stored == 1
        with django_capture_on_commit_callbacks(execute=True):
            events_process()

    return track


@pytest.fixture
def viewers(django_capture_on_commit_callbacks) -> Segment:
    with django_capture_on_commit_callbacks(execute=True):
        return segment_save(name="Viewed twice", rules=VIEWED_TWICE)


def test_a_customer_enters_when_their_events_make_the_rule_hold(viewers, track):
    track("u1", "Product Viewed")
    track("u1", "Product Viewed")

    membership = SegmentMembership.objects.get(segment=viewers)
    assert membership.customer.external_id == "u1" and membership.exited_at is None


def test_a_customer_whose_events_do_not_make_the_rule_hold_stays_out(viewers, track):
    track("u1", "Product Viewed")

    assert not SegmentMembership.objects.filter(segment=viewers).exists()


def test_entering_is_recorded_as_a_segment_entered_event(viewers, track):
    track("u1", "Product Viewed")
    track("u1", "Product Viewed")

    entered = Event.objects.get(type=EventType.SEGMENT_ENTERED, properties__segment_id=viewers.pk)
    assert entered.customer.external_id == "u1" and entered.properties["segment_name"] == "Viewed twice"


def test_leaving_records_the_exit_time_and_a_segment_exited_event(django_capture_on_commit_callbacks, track):
    with django_capture_on_commit_callbacks(execute=True):
        no_order = segment_save(name="Never ordered, viewed", rules={"type": "all", "rules": [
            {"type": "event", "event": "Product Viewed"},
            {"type": "event", "event": "Order Completed", "op": "=", "count": 0},
        ]})  # fmt: skip
    track("u1", "Product Viewed")
    track("u1", "Order Completed", revenue=10)

    membership = SegmentMembership.objects.get(segment=no_order)
    assert membership.exited_at is not None
    exits = Event.objects.filter(type=EventType.SEGMENT_EXITED, properties__segment_id=no_order.pk)
    assert list(exits.values_list("customer", flat=True)) == [membership.customer_id]


def test_the_member_count_follows_entries_and_exits(viewers, track):
    for user in ("u1", "u2"):
        track(user, "Product Viewed")
        track(user, "Product Viewed")

    viewers.refresh_from_db()
    assert viewers.member_count == 2
