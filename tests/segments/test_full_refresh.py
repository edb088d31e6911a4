"""The full refresh: a segment's membership recomputed from scratch, with its status,
timing and exact size recorded; a failure is recorded as such and never as fresh."""

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import ValidationError
from personalization.models import RefreshStatus, Segment, SegmentKind, SegmentMembership
from personalization.segments.selectors import segment_audience, segment_member_ids
from personalization.segments.services import segment_refresh, segment_save
from personalization.tasks import segments_refresh_task
from tests.factories import ClusteringFactory, CustomerFactory, SegmentFactory, TraitsFactory
from tracking.models import Event, EventType

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
REPEAT_BUYERS = {"type": "trait", "trait": "order_count", "op": ">=", "value": 2}
BROKEN = {"type": "trait", "trait": "shoe_size", "op": ">=", "value": 42}


@pytest.fixture
def repeat_buyers() -> Segment:
    return SegmentFactory(name="Repeat buyers", rules=REPEAT_BUYERS)


def buyer(orders: int):
    return TraitsFactory(order_count=orders).customer


def members(segment: Segment) -> set[int]:
    return set(segment_member_ids(segment=segment))


def entered_events(segment: Segment):
    return Event.objects.filter(type=EventType.SEGMENT_ENTERED, properties__segment_id=segment.pk)


def test_a_refresh_marks_the_segment_fresh_with_when_and_how_long(repeat_buyers):
    refreshed = segment_refresh(segment=repeat_buyers, now=NOW)

    assert refreshed.refresh_status == RefreshStatus.FRESH
    assert refreshed.refreshed_at == NOW
    assert refreshed.refresh_seconds is not None and refreshed.refresh_seconds >= 0
    assert refreshed.refresh_error == ""


def test_a_refresh_sets_the_exact_member_count_whatever_it_was(repeat_buyers):
    for orders in (2, 3, 5, 1):
        buyer(orders)
    Segment.objects.filter(pk=repeat_buyers.pk).update(member_count=999)

    refreshed = segment_refresh(segment=repeat_buyers, now=NOW)

    assert refreshed.member_count == 3


def test_the_members_after_a_refresh_are_exactly_the_audience_of_the_rules(repeat_buyers):
    regulars = {buyer(2).pk, buyer(7).pk}
    buyer(1)
    CustomerFactory()

    segment_refresh(segment=repeat_buyers, now=NOW)

    assert members(repeat_buyers) == regulars
    assert members(repeat_buyers) == set(segment_audience(rules=REPEAT_BUYERS, now=NOW).values_list("pk", flat=True))


def test_a_refresh_takes_out_members_who_do_not_match_even_when_the_count_fell_behind(repeat_buyers):
    one_order = buyer(1)
    SegmentMembership.objects.create(segment=repeat_buyers, customer=one_order, entered_at=NOW - timedelta(days=1))

    segment_refresh(segment=repeat_buyers, now=NOW)

    assert SegmentMembership.objects.get(segment=repeat_buyers, customer=one_order).exited_at == NOW


def test_customers_who_no_longer_match_exit_at_the_next_refresh(repeat_buyers):
    staying, leaving = buyer(3), buyer(2)
    segment_refresh(segment=repeat_buyers, now=NOW)
    leaving.traits.order_count = 1  # say, a refund folded in
    leaving.traits.save()

    refreshed = segment_refresh(segment=repeat_buyers, now=LATER)

    assert members(repeat_buyers) == {staying.pk}
    assert SegmentMembership.objects.get(segment=repeat_buyers, customer=leaving).exited_at == LATER
    assert refreshed.member_count == 1


def test_a_refresh_that_finds_nothing_changed_changes_no_membership(repeat_buyers):
    buyer(2)
    segment_refresh(segment=repeat_buyers, now=NOW)

    segment_refresh(segment=repeat_buyers, now=LATER)

    [membership] = SegmentMembership.objects.filter(segment=repeat_buyers)
    assert membership.entered_at == NOW and membership.exited_at is None
    assert entered_events(repeat_buyers).count() == 1


def test_merged_profiles_are_not_members(repeat_buyers):
    survivor, merged = buyer(2), buyer(2)
    merged.merged_into = survivor
    merged.save()

    segment_refresh(segment=repeat_buyers, now=NOW)

    assert members(repeat_buyers) == {survivor.pk}


def test_editing_a_segment_keeps_the_member_count_and_refresh_state_kept_meanwhile(repeat_buyers):
    loaded_for_editing = Segment.objects.get(pk=repeat_buyers.pk)
    buyer(2)
    segment_refresh(segment=repeat_buyers, now=NOW)

    segment_save(name="Repeat buyers", description="Two orders or more", rules=REPEAT_BUYERS,
                 segment=loaded_for_editing)  # fmt: skip

    saved = Segment.objects.get(pk=repeat_buyers.pk)
    assert saved.description == "Two orders or more"
    assert (saved.member_count, saved.refresh_status, saved.refreshed_at) == (1, RefreshStatus.FRESH, NOW)


def test_a_refresh_that_fails_is_recorded_as_failed_with_the_error(repeat_buyers):
    Segment.objects.filter(pk=repeat_buyers.pk).update(rules=BROKEN)

    refreshed = segment_refresh(segment=Segment.objects.get(pk=repeat_buyers.pk), now=NOW)

    assert refreshed.refresh_status == RefreshStatus.FAILED
    assert "'shoe_size' is not a trait" in refreshed.refresh_error


def test_a_failed_refresh_keeps_the_previous_refresh_time_and_members(repeat_buyers):
    regular = buyer(2)
    segment_refresh(segment=repeat_buyers, now=NOW)
    Segment.objects.filter(pk=repeat_buyers.pk).update(rules=BROKEN)

    refreshed = segment_refresh(segment=Segment.objects.get(pk=repeat_buyers.pk), now=LATER)

    assert refreshed.refresh_status == RefreshStatus.FAILED
    assert refreshed.refreshed_at == NOW
    assert members(repeat_buyers) == {regular.pk}
    assert refreshed.member_count == 1


def test_a_successful_refresh_after_a_failure_clears_the_error(repeat_buyers):
    Segment.objects.filter(pk=repeat_buyers.pk).update(rules=BROKEN)
    segment_refresh(segment=Segment.objects.get(pk=repeat_buyers.pk), now=NOW)
    Segment.objects.filter(pk=repeat_buyers.pk).update(rules=REPEAT_BUYERS)

    refreshed = segment_refresh(segment=Segment.objects.get(pk=repeat_buyers.pk), now=LATER)

    assert refreshed.refresh_status == RefreshStatus.FRESH and refreshed.refresh_error == ""
    assert refreshed.refreshed_at == LATER


def test_a_cluster_segment_cannot_be_refreshed_by_rules_and_keeps_its_status():
    cluster = SegmentFactory(kind=SegmentKind.CLUSTER, rules={}, clustering=ClusteringFactory(),
                             refresh_status=RefreshStatus.FRESH)  # fmt: skip

    with pytest.raises(ValidationError, match="re-running their clustering"):
        segment_refresh(segment=cluster, now=NOW)

    cluster.refresh_from_db()
    assert cluster.refresh_status == RefreshStatus.FRESH


def test_the_first_refresh_marks_its_entries_as_initial(repeat_buyers):
    regular = buyer(2)

    segment_refresh(segment=repeat_buyers, now=NOW)

    entered = entered_events(repeat_buyers).get()
    assert entered.customer_id == regular.pk
    assert entered.properties["initial"] is True
    assert entered.occurred_at == NOW


def test_later_refreshes_do_not_mark_their_entries_as_initial(repeat_buyers):
    buyer(2)
    refreshed = segment_refresh(segment=repeat_buyers, now=NOW)
    newcomer = buyer(4)

    segment_refresh(segment=refreshed, now=LATER)

    entered = entered_events(repeat_buyers).get(customer=newcomer)
    assert "initial" not in entered.properties


def test_exits_found_by_a_refresh_are_recorded_as_segment_exited_events(repeat_buyers):
    leaving = buyer(2)
    refreshed = segment_refresh(segment=repeat_buyers, now=NOW)
    leaving.traits.order_count = 0
    leaving.traits.save()

    segment_refresh(segment=refreshed, now=LATER)

    exited = Event.objects.get(type=EventType.SEGMENT_EXITED, properties__segment_id=repeat_buyers.pk)
    assert exited.customer_id == leaving.pk and exited.occurred_at == LATER


def test_the_first_successful_refresh_is_initial_even_after_a_failed_attempt(repeat_buyers):
    regular = buyer(2)
    Segment.objects.filter(pk=repeat_buyers.pk).update(rules=BROKEN)
    segment_refresh(segment=Segment.objects.get(pk=repeat_buyers.pk), now=NOW)
    Segment.objects.filter(pk=repeat_buyers.pk).update(rules=REPEAT_BUYERS)

    segment_refresh(segment=Segment.objects.get(pk=repeat_buyers.pk), now=LATER)

    assert entered_events(repeat_buyers).get(customer=regular).properties.get("initial") is True


def test_the_refresh_task_refreshes_every_active_rule_segment():
    active = [SegmentFactory(rules=REPEAT_BUYERS), SegmentFactory(rules={"type": "event", "event": "Product Added"})]
    regular = buyer(2)

    segments_refresh_task()

    for segment in active:
        segment.refresh_from_db()
        assert segment.refresh_status == RefreshStatus.FRESH
    assert members(active[0]) == {regular.pk}


def test_the_refresh_task_skips_inactive_segments():
    inactive = SegmentFactory(rules=REPEAT_BUYERS, is_active=False)
    buyer(2)

    segments_refresh_task()

    inactive.refresh_from_db()
    assert inactive.refresh_status == RefreshStatus.NEVER
    assert members(inactive) == set()


def test_the_refresh_task_goes_on_after_a_segment_fails():
    broken = SegmentFactory(rules=BROKEN)
    fine = SegmentFactory(rules=REPEAT_BUYERS)

    segments_refresh_task()

    broken.refresh_from_db()
    fine.refresh_from_db()
    assert broken.refresh_status == RefreshStatus.FAILED
    assert fine.refresh_status == RefreshStatus.FRESH
