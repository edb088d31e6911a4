"""Scores follow events: a processed batch re-scores the customers it touched with the
active version, without training anything."""

from datetime import timedelta

import pytest
from django.utils import timezone

from personalization.models import CustomerScore, ModelKind, ModelVersion
from personalization.propensity.training import scores_write
from tests.factories import CustomerFactory
from tests.propensity.support import DAY, consenting_customer, events_save, order, personalization_withdraw
from tracking.models import EventType

pytestmark = pytest.mark.django_db


def lapsed_customer():
    """A consenting customer whose last orders are a year old (already processed)."""
    customer = consenting_customer()
    now = timezone.now()
    events_save([order(customer, now - 400 * DAY), order(customer, now - 370 * DAY)])
    return customer


@pytest.fixture
def scored(purchase_model):
    """A lapsed customer scored an hour ago."""
    customer = lapsed_customer()
    assert scores_write(kind=ModelKind.PURCHASE, now=timezone.now() - timedelta(hours=1)) == 1
    return customer


def score_of(customer) -> CustomerScore:
    return CustomerScore.objects.get(customer=customer, kind=ModelKind.PURCHASE)


def test_a_new_order_rewrites_the_customers_score_now(scored, track):
    before = score_of(scored)

    track(scored, EventType.ORDER_COMPLETED, revenue=40)

    after = score_of(scored)
    assert after.computed_at > before.computed_at
    assert after.computed_at > timezone.now() - timedelta(minutes=1)


def test_the_new_score_comes_from_the_active_version(scored, purchase_model, track):
    track(scored, EventType.ORDER_COMPLETED, revenue=40)

    assert score_of(scored).model_version == purchase_model


def test_a_new_order_after_a_year_raises_the_purchase_score(scored, track):
    before = score_of(scored).score

    track(scored, EventType.ORDER_COMPLETED, revenue=40)

    assert score_of(scored).score > before


def test_nothing_is_retrained(scored, purchase_model, track):
    track(scored, EventType.ORDER_COMPLETED, revenue=40)

    assert list(ModelVersion.objects.all()) == [purchase_model]


def test_only_the_customers_in_the_batch_are_rescored(scored, track):
    other = consenting_customer()
    events_save([order(other, timezone.now() - 20 * DAY)])
    scores_write(kind=ModelKind.PURCHASE, now=timezone.now() - timedelta(hours=1), customer_ids=[other.pk])
    untouched = score_of(other).computed_at

    track(scored, EventType.ORDER_COMPLETED, revenue=40)

    assert score_of(other).computed_at == untouched


def test_a_customer_first_scored_at_their_first_event(purchase_model, track):
    newcomer = consenting_customer()

    track(newcomer, EventType.PRODUCT_VIEWED)

    assert score_of(newcomer).model_version == purchase_model


@pytest.mark.parametrize("event_type", [EventType.PRODUCT_ADDED, EventType.PAGE_VIEWED, EventType.EMAIL_OPENED])
def test_browsing_and_email_engagement_rescore_too(scored, track, event_type):
    before = score_of(scored).computed_at

    track(scored, event_type)

    assert score_of(scored).computed_at > before


def test_an_event_that_says_nothing_of_intent_does_not_rescore(scored, track):
    before = score_of(scored).computed_at

    track(scored, EventType.EMAIL_DELIVERED)

    assert score_of(scored).computed_at == before


def test_without_an_active_model_no_score_is_written(db, track):
    customer = consenting_customer()

    track(customer, EventType.ORDER_COMPLETED, revenue=40)

    assert not CustomerScore.objects.exists()


def test_only_the_kinds_with_an_active_model_are_written(scored, track):
    track(scored, EventType.ORDER_COMPLETED, revenue=40)

    assert set(CustomerScore.objects.values_list("kind", flat=True)) == {ModelKind.PURCHASE}


def test_a_customer_without_personalization_consent_is_not_scored(purchase_model, track):
    never_asked = CustomerFactory()  # the suite runs under opt-in: no yes on record

    track(never_asked, EventType.ORDER_COMPLETED, revenue=40)

    assert not CustomerScore.objects.filter(customer=never_asked).exists()


def test_a_customer_who_withdrew_personalization_loses_their_score_at_their_next_event(scored, track):
    personalization_withdraw(scored)

    track(scored, EventType.ORDER_COMPLETED, revenue=40)

    assert not CustomerScore.objects.filter(customer=scored).exists()


def test_a_withdrawal_of_personalization_removes_the_score_at_once(scored, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        personalization_withdraw(scored)

    assert not CustomerScore.objects.filter(customer=scored).exists()
