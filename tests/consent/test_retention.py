"""Raw events are kept only as long as their type's retention policy says; every purge is
recorded. The defaults come from the migration: page and product views 395 days, every
other type 730 days."""

from datetime import UTC, datetime, timedelta

import pytest

from consent.models import RetentionPolicy, RetentionRun
from consent.services import retention_purge
from tests.factories import EventFactory
from tracking.models import Event, EventType

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def event(type: str, days_old: float) -> str:
    """An event of `type` that occurred `days_old` days before NOW; its message id."""
    return EventFactory(type=type, occurred_at=NOW - timedelta(days=days_old)).message_id


def kept(*message_ids: str) -> set[str]:
    return set(Event.objects.filter(message_id__in=message_ids).values_list("message_id", flat=True))


def test_the_default_policies_are_those_of_the_migration():
    policies = dict(RetentionPolicy.objects.values_list("event_type", "keep_days"))
    assert policies == {"": 730, "Page Viewed": 395, "Product Viewed": 395}


@pytest.mark.parametrize("type", [EventType.PAGE_VIEWED, EventType.PRODUCT_VIEWED])
def test_views_older_than_395_days_are_deleted_and_newer_ones_kept(type):
    old, recent = event(type, 400), event(type, 300)

    retention_purge(now=NOW)

    assert kept(old, recent) == {recent}


def test_an_event_exactly_as_old_as_its_policy_is_kept():
    boundary, just_older = event(EventType.PAGE_VIEWED, 395), event(EventType.PAGE_VIEWED, 395.001)

    retention_purge(now=NOW)

    assert kept(boundary, just_older) == {boundary}


def test_types_without_a_policy_of_their_own_are_kept_730_days():
    older = event(EventType.ORDER_COMPLETED, 731)
    younger = event(EventType.ORDER_COMPLETED, 400)  # past the views' 395 days, within the default

    retention_purge(now=NOW)

    assert kept(older, younger) == {younger}


def test_custom_event_names_fall_under_the_default_policy():
    older, younger = event("Quiz Answered", 740), event("Quiz Answered", 700)

    retention_purge(now=NOW)

    assert kept(older, younger) == {younger}


def test_the_default_policy_does_not_reach_types_with_a_policy_of_their_own():
    RetentionPolicy.objects.filter(event_type=EventType.PAGE_VIEWED).update(keep_days=1000)
    view = event(EventType.PAGE_VIEWED, 800)  # past the default's 730 days, within its own 1000

    retention_purge(now=NOW)

    assert kept(view) == {view}


def test_a_policy_added_for_a_type_takes_it_out_of_the_default():
    RetentionPolicy.objects.create(event_type=EventType.CART_VIEWED, keep_days=30)
    cart_old, cart_new = event(EventType.CART_VIEWED, 40), event(EventType.CART_VIEWED, 20)
    order = event(EventType.ORDER_COMPLETED, 40)

    retention_purge(now=NOW)

    assert kept(cart_old, cart_new, order) == {cart_new, order}


def test_a_shorter_default_policy_applies_to_every_other_type():
    RetentionPolicy.objects.filter(event_type="").update(keep_days=90)
    order_old, order_new = event(EventType.ORDER_COMPLETED, 100), event(EventType.ORDER_COMPLETED, 80)
    view = event(EventType.PRODUCT_VIEWED, 100)

    retention_purge(now=NOW)

    assert kept(order_old, order_new, view) == {order_new, view}


def test_the_run_is_recorded_with_what_each_policy_deleted():
    event(EventType.PAGE_VIEWED, 400)
    event(EventType.PAGE_VIEWED, 500)
    event(EventType.PAGE_VIEWED, 300)
    event(EventType.PRODUCT_VIEWED, 396)
    event(EventType.ORDER_COMPLETED, 800)
    event(EventType.ORDER_COMPLETED, 400)

    run = retention_purge(now=NOW)

    run = RetentionRun.objects.get(pk=run.pk)
    assert run.deleted == {"every other type": 1, "Page Viewed": 2, "Product Viewed": 1}
    assert run.total_deleted == 4
    assert run.error == ""
    assert run.started_at == NOW
    assert run.finished_at is not None
    assert Event.objects.count() == 2


def test_a_second_purge_finds_nothing_more_to_delete():
    event(EventType.PAGE_VIEWED, 400)
    event(EventType.ORDER_COMPLETED, 800)
    retention_purge(now=NOW)

    again = retention_purge(now=NOW)

    assert again.total_deleted == 0
    assert RetentionRun.objects.count() == 2
