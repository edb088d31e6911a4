"""Consent and erasure in the recommender: only people whose consent allows personalization
are learned from (under the opt-in regime a yes must be on record), merged tombstones and
erased people are not, and a person without that consent is served a cold-start list."""

import re
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from consent.models import ConsentSource, Purpose
from consent.services import consent_withdraw, subject_erase
from personalization.models import ModelStatus
from personalization.recommendations.interactions import interactions_load
from personalization.recommendations.serving import Source, recommendations_for
from personalization.recommendations.training import recommender_train
from personalization.services.identities import customer_merge
from tests.factories import CustomerFactory, TraitsFactory
from tests.recommendations.support import (
    GAMES,
    interacted,
    personalization_grant,
    personalization_withdraw,
    product_catalog,
    shop_build,
)

pytestmark = pytest.mark.django_db

SKUS = ["P00", "P01", "P02"]


def learned_from() -> set[int]:
    return set(interactions_load(now=timezone.now() + timedelta(seconds=1)).customer_ids.tolist())


@pytest.fixture
def catalog(db):
    return product_catalog()


def consenting(**fields):
    customer = CustomerFactory(**fields)
    personalization_grant(customer)
    interacted(customer, SKUS)
    return customer


@pytest.fixture
def model(db, django_capture_on_commit_callbacks):
    """An active model trained on the planted shop; returns the shop."""
    shop = shop_build()
    with django_capture_on_commit_callbacks(execute=True):
        assert recommender_train().status == ModelStatus.ACTIVE
    return shop


def test_the_suite_runs_under_the_opt_in_regime():
    # The tests below set consent up for opt-in: a yes on record is needed.
    assert settings.CONSENT_REGIME == "opt-in"


def test_a_customer_who_said_yes_to_personalization_is_learned_from(catalog):
    customer = consenting()

    assert learned_from() == {customer.pk}


def test_a_customer_never_asked_is_not_learned_from_under_opt_in(catalog, settings):
    settings.CONSENT_REGIME = "opt-in"
    interacted(CustomerFactory(), SKUS)

    assert learned_from() == set()


def test_a_customer_never_asked_is_learned_from_under_opt_out(catalog, settings):
    settings.CONSENT_REGIME = "opt-out"
    customer = CustomerFactory()
    interacted(customer, SKUS)

    assert learned_from() == {customer.pk}


def test_a_customer_who_withdrew_personalization_is_not_learned_from(catalog):
    stays, leaves = consenting(), consenting()

    personalization_withdraw(leaves)

    assert learned_from() == {stays.pk}


def test_a_withdrawal_of_personalization_counts_under_opt_out_too(catalog, settings):
    settings.CONSENT_REGIME = "opt-out"
    customer = CustomerFactory()
    interacted(customer, SKUS)

    personalization_withdraw(customer)

    assert learned_from() == set()


def test_withdrawing_only_email_marketing_keeps_a_customer_learned_from(catalog):
    customer = consenting()

    consent_withdraw(customer=customer, purpose=Purpose.EMAIL_MARKETING, source=ConsentSource.API, actor="tests")

    assert learned_from() == {customer.pk}


def test_a_merged_tombstone_is_not_learned_from(catalog):
    survivor, merged = consenting(), consenting()

    customer_merge(source=merged, into=survivor)

    assert learned_from() == {survivor.pk}


def test_an_erased_customer_leaves_no_row(catalog, django_capture_on_commit_callbacks):
    stays, erased = consenting(), consenting()
    erased_id = erased.pk

    with django_capture_on_commit_callbacks(execute=True):
        subject_erase(customer=erased)

    interactions = interactions_load(now=timezone.now() + timedelta(seconds=1))
    assert interactions.customer_ids.tolist() == [stays.pk]
    assert erased_id not in interactions.row_of()
    assert interactions.matrix.shape[0] == 1


def test_erasing_a_customer_drops_their_cached_list(model, django_capture_on_commit_callbacks):
    customer = model.taste_a[0]
    assert recommendations_for(customer=customer).source == Source.MODEL  # now cached
    named = re.compile(rb"(^|:)%d(:|$)" % customer.pk)  # the customer's id as one part of a key
    client = redis.Redis.from_url(settings.REDIS_URL)
    assert [key for key in client.scan_iter(count=1000) if named.search(key)]  # the scan sees the list

    with django_capture_on_commit_callbacks(execute=True):
        subject_erase(customer=customer)

    assert not [key for key in client.scan_iter(count=1000) if named.search(key)]


def test_serving_a_customer_who_withdrew_personalization_gives_a_cold_start_list(model):
    customer = model.taste_a[0]
    personalization_withdraw(customer)

    served = recommendations_for(customer=customer)

    assert served.source in (Source.VIEWED_CATEGORIES, Source.TRENDING, Source.POPULAR)
    assert served.model_version is None and served.items


def test_serving_a_customer_never_asked_gives_a_cold_start_list(model):
    customer = CustomerFactory()
    interacted(customer, sorted(model.books)[:5])

    served = recommendations_for(customer=customer)

    assert served.source != Source.MODEL and served.model_version is None


def test_a_withdrawal_stops_a_model_list_already_cached(model, django_capture_on_commit_callbacks):
    customer = model.taste_a[0]
    assert recommendations_for(customer=customer).source == Source.MODEL  # now cached

    with django_capture_on_commit_callbacks(execute=True):
        personalization_withdraw(customer)

    assert recommendations_for(customer=customer).source != Source.MODEL


def test_explanations_are_not_given_to_a_customer_who_withdrew(model):
    customer = model.taste_a[0]
    personalization_withdraw(customer)

    served = recommendations_for(customer=customer, explain=True)

    assert all(item.because == "" for item in served.items)


def test_without_personalization_consent_favorite_categories_do_not_choose_the_list(catalog):
    interacted(CustomerFactory(), ["P00", "P00", "P20"])
    customer = TraitsFactory(favorite_categories=[GAMES]).customer  # never asked: no under opt-in

    served = recommendations_for(customer=customer)

    assert served.source == Source.POPULAR and [item.product.sku for item in served.items] == ["P00", "P20"]


def test_a_withdrawal_stops_a_favorite_categories_list_already_cached(catalog, django_capture_on_commit_callbacks):
    interacted(CustomerFactory(), ["P00", "P00", "P20"])
    customer = TraitsFactory(favorite_categories=[GAMES]).customer
    personalization_grant(customer)
    assert recommendations_for(customer=customer).source == Source.VIEWED_CATEGORIES  # now cached

    with django_capture_on_commit_callbacks(execute=True):
        personalization_withdraw(customer)

    assert recommendations_for(customer=customer).source == Source.POPULAR
