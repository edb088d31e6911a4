"""Serving: a customer the active model knows gets its list; anyone else a cold-start list
(popular in their favorite categories if they allow personalization, else trending in the
last 24 hours, else popular overall), and every list says where it came from. Out-of-stock and bought products are
left out, filters apply, explanations name a product the customer viewed, and a
customer's ranked list is cached until it is forgotten."""

import warnings
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache.backends.base import CacheKeyWarning
from django.utils import timezone

from personalization.models import ModelStatus, ModelVersion, Product
from personalization.recommendations.serving import (
    Source,
    recommendations_follow_events,
    recommendations_for,
    recommendations_forget,
)
from personalization.recommendations.training import TrainedModel, recommender_train
from personalization.services import ProductRow, products_upsert
from tests.factories import CustomerFactory, EventFactory, TraitsFactory
from tests.recommendations.support import GAMES, interacted, personalization_grant, product_catalog, shop_build
from tracking.models import Event, EventType

pytestmark = pytest.mark.django_db

RECENTLY, DAYS_AGO = timedelta(hours=1), timedelta(days=3)
BURST = (EventType.PRODUCT_VIEWED, EventType.PRODUCT_VIEWED, EventType.PRODUCT_VIEWED, EventType.PRODUCT_ADDED)


def skus(served) -> list[str]:
    return [item.product.sku for item in served.items]


def ranking(served) -> list[tuple[str, float]]:
    return [(item.product.sku, item.score) for item in served.items]


def fan_of(*categories: str):
    """A customer whose favorite categories are these, who allows personalization."""
    customer = TraitsFactory(favorite_categories=list(categories)).customer
    personalization_grant(customer)
    return customer


def engaged(counts: dict[str, int], *, ago: timedelta) -> None:
    """Other shoppers' views: `counts` of each product, `ago`."""
    crowd = CustomerFactory()
    for sku, count in counts.items():
        interacted(crowd, [sku] * count, ago=ago)


def touched(customer) -> set[str]:
    return set(Event.objects.filter(customer=customer).values_list("product_id", flat=True))


# --- cold start --------------------------------------------------------------------------------


@pytest.fixture
def catalog(db):
    return product_catalog()


def test_a_customer_with_favorite_categories_gets_what_is_popular_in_them(catalog):
    engaged({"P00": 5, "P20": 3, "P21": 2, "P22": 1}, ago=DAYS_AGO)
    customer = fan_of(GAMES)

    served = recommendations_for(customer=customer)

    assert served.source == Source.VIEWED_CATEGORIES == "popular_in_viewed_categories"
    assert skus(served) == ["P20", "P21", "P22"]
    assert served.model_version is None


def test_without_favorite_categories_the_list_is_what_is_trending_in_24_hours_then_popular(catalog):
    engaged({"P00": 5}, ago=DAYS_AGO)
    engaged({"P05": 3, "P06": 1}, ago=RECENTLY)

    served = recommendations_for(customer=CustomerFactory())

    assert served.source == Source.TRENDING == "trending_24h"
    # P05 is popular over 30 days too (its 3 recent events), so it is not listed twice.
    assert skus(served) == ["P05", "P06", "P00"]


def test_favorite_categories_with_spaces_in_their_names_make_valid_cache_keys(catalog):
    Product.objects.filter(sku="P00").update(category="Home & Garden")
    engaged({"P00": 2}, ago=DAYS_AGO)
    customer = fan_of("Home & Garden")

    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheKeyWarning)
        served = recommendations_for(customer=customer)

    assert (served.source, skus(served)) == (Source.VIEWED_CATEGORIES, ["P00"])


def test_favorite_categories_nobody_engaged_with_fall_back_to_trending(catalog):
    engaged({"P05": 3, "P06": 1}, ago=RECENTLY)
    customer = fan_of("Garden")

    assert recommendations_for(customer=customer).source == Source.TRENDING


def test_with_nothing_trending_the_list_is_what_is_popular_overall(catalog):
    engaged({"P00": 5, "P01": 2, "P30": 4}, ago=DAYS_AGO)

    served = recommendations_for(customer=CustomerFactory())

    assert served.source == Source.POPULAR == "popular"
    assert skus(served) == ["P00", "P30", "P01"]


def test_popular_overall_counts_the_last_30_days_only(catalog):
    engaged({"P00": 2}, ago=DAYS_AGO)
    engaged({"P01": 9}, ago=timedelta(days=40))

    assert skus(recommendations_for(customer=CustomerFactory())) == ["P00"]


def test_with_no_events_at_all_the_list_is_popular_and_empty(catalog):
    served = recommendations_for(customer=CustomerFactory())

    assert (served.source, served.items) == (Source.POPULAR, [])


def test_cold_start_lists_leave_out_what_the_customer_bought(catalog):
    engaged({"P00": 5, "P01": 2}, ago=DAYS_AGO)
    customer = CustomerFactory()
    interacted(customer, ["P00"], types=[EventType.ORDER_COMPLETED], ago=DAYS_AGO)

    assert skus(recommendations_for(customer=customer)) == ["P01"]


def test_cold_start_lists_leave_out_products_out_of_stock(catalog):
    engaged({"P00": 5, "P01": 2}, ago=DAYS_AGO)
    Product.objects.filter(sku="P00").update(in_stock=False)

    assert skus(recommendations_for(customer=CustomerFactory())) == ["P01"]


def test_cold_start_lists_carry_no_explanation(catalog):
    engaged({"P00": 5}, ago=DAYS_AGO)

    served = recommendations_for(customer=CustomerFactory(), explain=True)

    assert [item.because for item in served.items] == [""]


# --- the model's lists -----------------------------------------------------------------------


@pytest.fixture
def shop(db, django_capture_on_commit_callbacks):
    """The planted shop, with a model trained on it in service."""
    shop = shop_build()
    with django_capture_on_commit_callbacks(execute=True):
        assert recommender_train().status == ModelStatus.ACTIVE
    return shop


@pytest.fixture
def reader(shop):
    """A customer of taste A (books), known to the model."""
    return shop.taste_a[0]


def test_a_customer_the_model_knows_gets_a_list_of_their_taste(shop, reader):
    served = recommendations_for(customer=reader)

    assert served.source == Source.MODEL == "model"
    assert served.model_version == ModelVersion.objects.get(status=ModelStatus.ACTIVE).pk
    assert len(served.items) == 10 and set(skus(served)) <= shop.books


def test_a_model_list_is_ranked_best_first(reader):
    scores = [item.score for item in recommendations_for(customer=reader).items]

    assert scores == sorted(scores, reverse=True)


def test_a_model_list_leaves_out_what_the_customer_already_interacted_with(reader):
    assert not set(skus(recommendations_for(customer=reader, limit=40))) & touched(reader)


def test_a_known_customers_scores_are_the_models_own_for_them(reader):
    # Serving folds the customer in from their current events: with no event since
    # training, with the regularization the model was trained with, it finds their factors again.
    version = ModelVersion.objects.get(status=ModelStatus.ACTIVE)
    model = TrainedModel.loads(version.artifact)
    own = model.item_factors @ model.user_factors[model.customer_ids.tolist().index(reader.pk)]
    column = {str(sku): i for i, sku in enumerate(model.skus)}

    served = recommendations_for(customer=reader, limit=40)

    assert [item.score for item in served.items] == pytest.approx(
        [float(own[column[item.product.sku]]) for item in served.items], abs=0.005
    )


def test_a_customer_the_model_does_not_know_gets_a_cold_start_list(shop):
    stranger = CustomerFactory()
    personalization_grant(stranger)

    served = recommendations_for(customer=stranger)

    assert served.source != Source.MODEL and served.model_version is None and served.items


def test_a_model_list_leaves_out_products_out_of_stock(reader):
    top = skus(recommendations_for(customer=reader))[0]

    product = Product.objects.get(sku=top)
    product.in_stock = False
    product.save()  # as the admin or the catalog sync does

    served = recommendations_for(customer=reader)
    assert top not in skus(served) and len(served.items) == 10


def test_a_model_list_leaves_out_products_the_customer_bought(reader):
    top = skus(recommendations_for(customer=reader))[0]

    # An order that lists its products in properties only, as Segment's spec has it.
    EventFactory(customer=reader, type=EventType.ORDER_COMPLETED, occurred_at=timezone.now(),
                 properties={"order_id": "o-1", "products": [{"product_id": top, "quantity": 1}]})  # fmt: skip
    recommendations_follow_events(customer_ids={reader.pk})  # what processing the order does

    assert top not in skus(recommendations_for(customer=reader))


def test_the_category_filter_keeps_only_that_category(reader):
    served = recommendations_for(customer=reader, category=GAMES)

    assert served.items and {item.product.category for item in served.items} == {GAMES}


def test_the_max_price_filter_keeps_only_products_at_or_under_it(reader):
    served = recommendations_for(customer=reader, max_price=Decimal("20.00"))

    assert served.items and all(item.product.price <= Decimal("20.00") for item in served.items)


def test_the_limit_caps_the_list(reader):
    assert len(recommendations_for(customer=reader, limit=3).items) == 3


def test_explanations_say_because_you_viewed_a_product_of_the_customers_history(reader):
    history = set(Product.objects.filter(sku__in=touched(reader)).values_list("name", flat=True))

    served = recommendations_for(customer=reader, explain=True)

    assert {item.because.removeprefix("because you viewed ") for item in served.items} <= history
    assert all(item.because.startswith("because you viewed ") for item in served.items)


def test_without_explain_a_model_list_has_no_explanations(reader):
    assert {item.because for item in recommendations_for(customer=reader).items} == {""}


# --- the cache -------------------------------------------------------------------------------


def test_a_cached_list_is_reused_without_ranking_again(shop, reader):
    first = recommendations_for(customer=reader)

    # New interest written straight to the database: no hook tells serving about it.
    interacted(reader, sorted(shop.games)[:10], types=BURST, ago=RECENTLY)

    assert ranking(recommendations_for(customer=reader)) == ranking(first)


def test_forgetting_a_customers_list_ranks_it_again_from_their_current_events(shop, reader):
    first = recommendations_for(customer=reader)
    interacted(reader, sorted(shop.games)[:10], types=BURST, ago=RECENTLY)

    recommendations_forget(customer_ids=[reader.pk])

    again = recommendations_for(customer=reader)
    assert ranking(again) != ranking(first)
    assert set(skus(again)) & shop.games


def test_forgetting_one_customers_list_keeps_the_others(shop, reader):
    other = shop.taste_a[1]
    kept = recommendations_for(customer=other)
    interacted(other, sorted(shop.games)[:10], types=BURST, ago=RECENTLY)

    recommendations_forget(customer_ids=[reader.pk])

    assert ranking(recommendations_for(customer=other)) == ranking(kept)


def test_forgetting_every_list_ranks_them_all_again(shop):
    first = {c.pk: recommendations_for(customer=c) for c in shop.taste_a[:2]}
    for customer in shop.taste_a[:2]:
        interacted(customer, sorted(shop.games)[:10], types=BURST, ago=RECENTLY)

    recommendations_forget()

    for customer in shop.taste_a[:2]:
        assert ranking(recommendations_for(customer=customer)) != ranking(first[customer.pk])


def test_forgetting_every_list_drops_the_shared_cold_start_lists_too(catalog):
    engaged({"P00": 5}, ago=DAYS_AGO)
    assert skus(recommendations_for(customer=CustomerFactory())) == ["P00"]
    engaged({"P01": 9}, ago=DAYS_AGO)

    recommendations_forget()

    assert skus(recommendations_for(customer=CustomerFactory())) == ["P01", "P00"]


def test_a_catalog_sync_that_takes_a_product_out_of_stock_takes_it_out_of_cached_answers(
    reader, django_capture_on_commit_callbacks
):
    top = Product.objects.get(sku=skus(recommendations_for(customer=reader))[0])
    row = ProductRow(sku=top.sku, name=top.name, category=top.category, price=top.price, in_stock=False)
    with django_capture_on_commit_callbacks(execute=True):
        products_upsert(rows=[row])

    assert top.sku not in skus(recommendations_for(customer=reader))


def test_a_grant_of_personalization_makes_a_cached_list_personal_at_once(catalog, django_capture_on_commit_callbacks):
    interacted(CustomerFactory(), ["P00", "P00", "P20"])
    customer = TraitsFactory(favorite_categories=[GAMES]).customer
    assert recommendations_for(customer=customer).source == Source.POPULAR  # cached, never asked

    with django_capture_on_commit_callbacks(execute=True):
        personalization_grant(customer)

    assert recommendations_for(customer=customer).source == Source.VIEWED_CATEGORIES
