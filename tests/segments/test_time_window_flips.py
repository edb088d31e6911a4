"""The clock changes membership: a rule with a time window can start or stop holding
with no new event, at moments known when the event is processed. Those moments are
stored as SegmentChecks and re-checked when due by `segment_checks_run`."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from personalization.models import Segment, SegmentCheck, SegmentMembership
from personalization.segments.services import segment_checks_run
from tests.factories import CustomerFactory
from tracking.services import EventDraft, events_process, events_store

pytestmark = pytest.mark.django_db

ABANDONED_CART = {
    "type": "event", "event": "Product Added", "within": "24h", "older_than": "30m", "without": "Order Completed",
}  # fmt: skip
VIEWED_RECENTLY = {"type": "event", "event": "Product Viewed", "within": "10m"}
NO_ORDER_FOR_3_DAYS = {"type": "trait", "trait": "days_since_last_order", "op": ">=", "value": 3}
# Checks far off are rounded to the minute (plus a second), so that many events share one.
ROUNDING = timedelta(minutes=1, seconds=1)


@pytest.fixture
def track(django_capture_on_commit_callbacks):
    """Store an event that happened `at` and process it, as the worker would (the hook runs on commit)."""

    def track(customer, event_type: str, *, at, **properties) -> None:
        draft = EventDraft(message_id=str(uuid.uuid4()), type=event_type, occurred_at=at, customer_id=customer.pk,
                           properties=properties)  # fmt: skip
        assert events_store(drafts=[draft]).stored == 1
        with django_capture_on_commit_callbacks(execute=True):
            events_process()

    return track


@pytest.fixture
def t0():
    """The moment the tracked events happen: now, since processing schedules only checks still to come."""
    return timezone.now()


def is_member(segment: Segment, customer) -> bool:
    return SegmentMembership.objects.filter(segment=segment, customer=customer, exited_at__isnull=True).exists()


def checks(segment: Segment, customer) -> list:
    return list(
        SegmentCheck.objects.filter(segment=segment, customer=customer)
        .order_by("due_at")
        .values_list("due_at", flat=True)
    )


def test_processing_an_event_schedules_a_check_just_after_each_boundary_of_its_window(segment, track, t0):
    abandoned = segment(ABANDONED_CART)
    customer = CustomerFactory()

    track(customer, "Product Added", at=t0)

    after_30m, after_24h = checks(abandoned, customer)
    assert t0 + timedelta(minutes=30) < after_30m <= t0 + timedelta(minutes=30, seconds=1)
    assert t0 + timedelta(hours=24) < after_24h <= t0 + timedelta(hours=24) + ROUNDING


def test_before_the_older_than_boundary_running_the_checks_changes_nothing(segment, track, t0):
    abandoned = segment(ABANDONED_CART)
    customer = CustomerFactory()
    track(customer, "Product Added", at=t0)

    segment_checks_run(now=t0 + timedelta(minutes=29))

    assert not is_member(abandoned, customer)
    assert len(checks(abandoned, customer)) == 2


def test_a_customer_enters_once_the_older_than_boundary_passes_with_no_new_event(segment, track, t0):
    abandoned = segment(ABANDONED_CART)
    customer = CustomerFactory()
    track(customer, "Product Added", at=t0)

    segment_checks_run(now=t0 + timedelta(minutes=31))

    membership = SegmentMembership.objects.get(segment=abandoned, customer=customer)
    assert membership.exited_at is None and membership.entered_at == t0 + timedelta(minutes=31)


def test_a_customer_exits_once_the_within_boundary_passes_with_no_new_event(segment, track, t0):
    abandoned = segment(ABANDONED_CART)
    customer = CustomerFactory()
    track(customer, "Product Added", at=t0)
    segment_checks_run(now=t0 + timedelta(minutes=31))

    leaving = t0 + timedelta(hours=24) + ROUNDING
    segment_checks_run(now=leaving)

    membership = SegmentMembership.objects.get(segment=abandoned, customer=customer)
    assert membership.exited_at == leaving


def test_a_customer_still_inside_the_window_stays_when_only_the_first_check_has_run(segment, track, t0):
    abandoned = segment(ABANDONED_CART)
    customer = CustomerFactory()
    track(customer, "Product Added", at=t0)
    segment_checks_run(now=t0 + timedelta(minutes=31))

    segment_checks_run(now=t0 + timedelta(hours=23, minutes=59))

    assert is_member(abandoned, customer)


def test_an_order_placed_before_the_older_than_boundary_means_the_customer_never_enters(segment, track):
    abandoned = segment(ABANDONED_CART)
    customer = CustomerFactory()
    added_at = timezone.now() - timedelta(minutes=20)
    track(customer, "Product Added", at=added_at)
    track(customer, "Order Completed", at=added_at + timedelta(minutes=15), revenue=30)

    segment_checks_run(now=added_at + timedelta(minutes=31))
    segment_checks_run(now=added_at + timedelta(hours=24) + ROUNDING)

    assert not SegmentMembership.objects.filter(segment=abandoned, customer=customer).exists()


def test_an_event_processed_after_its_older_than_boundary_enters_at_once_and_leaves_on_time(segment, track):
    abandoned = segment(ABANDONED_CART)
    customer = CustomerFactory()
    added_at = timezone.now() - timedelta(hours=2)

    track(customer, "Product Added", at=added_at)

    assert is_member(abandoned, customer)
    [leaving] = checks(abandoned, customer)
    segment_checks_run(now=leaving)
    assert not is_member(abandoned, customer)


def test_an_order_after_entering_makes_the_customer_leave_at_once(segment, track):
    abandoned = segment(ABANDONED_CART)
    customer = CustomerFactory()
    track(customer, "Product Added", at=timezone.now() - timedelta(hours=2))

    track(customer, "Order Completed", at=timezone.now(), revenue=30)

    assert SegmentMembership.objects.get(segment=abandoned, customer=customer).exited_at is not None


def test_a_recent_viewer_leaves_when_ten_minutes_have_passed(segment, track, t0):
    viewers = segment(VIEWED_RECENTLY)
    customer = CustomerFactory()
    track(customer, "Product Viewed", at=t0)
    assert is_member(viewers, customer)
    [due] = checks(viewers, customer)

    segment_checks_run(now=due)

    assert not is_member(viewers, customer)
    assert t0 + timedelta(minutes=10) < due <= t0 + timedelta(minutes=10, seconds=1)


def test_a_recent_viewer_is_still_a_member_just_before_ten_minutes(segment, track, t0):
    viewers = segment(VIEWED_RECENTLY)
    customer = CustomerFactory()
    track(customer, "Product Viewed", at=t0)

    segment_checks_run(now=t0 + timedelta(minutes=9, seconds=59))

    assert is_member(viewers, customer)


def test_a_days_trait_schedules_a_check_when_the_number_of_days_is_reached(segment, track, t0):
    lapsed = segment(NO_ORDER_FOR_3_DAYS)
    customer = CustomerFactory()

    track(customer, "Order Completed", at=t0, revenue=25)

    due = checks(lapsed, customer)[0]
    assert t0 + timedelta(days=3) < due <= t0 + timedelta(days=3) + ROUNDING


def test_a_days_trait_rule_starts_holding_at_its_check_with_no_new_event(segment, track, t0):
    lapsed = segment(NO_ORDER_FOR_3_DAYS)
    customer = CustomerFactory()
    track(customer, "Order Completed", at=t0, revenue=25)
    assert not is_member(lapsed, customer)

    segment_checks_run(now=checks(lapsed, customer)[0])

    assert is_member(lapsed, customer)


def test_due_checks_are_deleted_after_running(segment, track, t0):
    viewers = segment(VIEWED_RECENTLY)
    customer = CustomerFactory()
    track(customer, "Product Viewed", at=t0)

    ran = segment_checks_run(now=t0 + timedelta(minutes=11))

    assert ran >= 1
    assert checks(viewers, customer) == []
    assert not SegmentCheck.objects.filter(due_at__lte=t0 + timedelta(minutes=11)).exists()


def test_checks_not_yet_due_stay(segment, track, t0):
    abandoned = segment(ABANDONED_CART)
    customer = CustomerFactory()
    track(customer, "Product Added", at=t0)

    segment_checks_run(now=t0 + timedelta(minutes=31))

    [remaining] = checks(abandoned, customer)
    assert remaining > t0 + timedelta(hours=24)


def test_checks_of_an_inactive_segment_change_nothing_and_are_dropped(segment, track, t0):
    viewers = segment(VIEWED_RECENTLY)
    customer = CustomerFactory()
    track(customer, "Product Viewed", at=t0)
    Segment.objects.filter(pk=viewers.pk).update(is_active=False)

    segment_checks_run(now=t0 + timedelta(minutes=11))

    assert is_member(viewers, customer)
    assert checks(viewers, customer) == []


def test_an_event_whose_window_already_closed_schedules_no_check(segment, track, t0):
    viewers = segment(VIEWED_RECENTLY)
    customer = CustomerFactory()

    track(customer, "Product Viewed", at=t0 - timedelta(hours=1))

    assert checks(viewers, customer) == []
    assert not is_member(viewers, customer)


def test_a_days_rule_is_checked_from_the_customers_own_moment_not_the_events(segment, track, t0):
    """A rule on "days since first seen" flips 7 days after the first visit, whatever later visits did."""
    new = segment({"type": "trait", "trait": "days_since_first_seen", "op": "<", "value": 7})
    customer = CustomerFactory()
    track(customer, "Page Viewed", at=t0)
    track(customer, "Page Viewed", at=t0 + timedelta(days=2))

    due = checks(new, customer)
    assert any(t0 + timedelta(days=7) < d <= t0 + timedelta(days=7) + ROUNDING for d in due)
    assert not any(t0 + timedelta(days=9) < d <= t0 + timedelta(days=9) + ROUNDING for d in due)


def test_a_segment_with_broken_rules_does_not_stop_the_others(segment, track, t0):
    working, broken = segment(VIEWED_RECENTLY), segment(VIEWED_RECENTLY)
    Segment.objects.filter(pk=broken.pk).update(rules={**VIEWED_RECENTLY, "within": "soon"})
    customer = CustomerFactory()
    track(customer, "Product Viewed", at=t0)

    assert is_member(working, customer)
