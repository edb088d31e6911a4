"""Real-time refresh: when processing takes in new product events of a customer whose list
has been read, the tracking hook ranks their list again from their current events, with
the model in service (no retraining); lists nobody read are only dropped."""

import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from personalization.models import ModelStatus, ModelVersion
from personalization.recommendations import serving
from personalization.recommendations.serving import Source, recommendations_for
from personalization.recommendations.training import recommender_train
from tests.recommendations.support import shop_build
from tracking.models import EventType
from tracking.services import EventDraft, events_process, events_store

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(db, django_capture_on_commit_callbacks):
    shop = shop_build()
    with django_capture_on_commit_callbacks(execute=True):
        assert recommender_train().status == ModelStatus.ACTIVE
    return shop


@pytest.fixture
def track(django_capture_on_commit_callbacks):
    """Store events and process them, as the worker would (the hook runs on commit)."""

    def track(customer, event_type: str, skus, *, times: int = 1) -> None:
        drafts = [
            EventDraft(message_id=str(uuid.uuid4()), type=event_type, occurred_at=timezone.now() - timedelta(minutes=5),
                       user_id=customer.external_id, product_sku=sku, properties={"product_id": sku})
            for sku in skus
            for _ in range(times)
        ]  # fmt: skip
        assert events_store(drafts=drafts).stored == len(drafts)
        with django_capture_on_commit_callbacks(execute=True):
            events_process()

    return track


def cached_skus(customer) -> list[str] | None:
    """The skus of the customer's cached list, as ranked (None when nothing is cached)."""
    [key] = serving._list_keys([customer.pk])
    cached = cache.get(key)
    return None if cached is None else [sku for sku, _ in cached[1]]


def games_binge(shop, customer, track) -> None:
    """A books reader turns to games: many views and some adds to cart of ten games."""
    games = sorted(shop.games)[:10]
    track(customer, EventType.PRODUCT_VIEWED, games, times=3)
    track(customer, EventType.PRODUCT_ADDED, games)


def test_new_views_rank_a_read_list_again_through_the_hook(shop, track):
    reader = shop.taste_a[0]
    before = recommendations_for(customer=reader)
    assert {item.product.category for item in before.items} == {"Books"}

    games_binge(shop, reader, track)

    ranked = cached_skus(reader)  # ranked by the hook, before anyone reads it
    assert ranked is not None and ranked[:10] != [item.product.sku for item in before.items]
    assert len(set(ranked[:10]) & shop.games) > 5


def test_the_next_read_shows_the_new_interest(shop, track):
    reader = shop.taste_a[0]
    recommendations_for(customer=reader)

    games_binge(shop, reader, track)

    served = recommendations_for(customer=reader)
    assert served.source == Source.MODEL
    assert len({item.product.sku for item in served.items} & shop.games) > 5


def test_the_refresh_uses_the_model_in_service_and_trains_no_new_version(shop, track):
    reader = shop.taste_a[0]
    active = ModelVersion.objects.get(status=ModelStatus.ACTIVE)
    recommendations_for(customer=reader)

    games_binge(shop, reader, track)

    assert list(ModelVersion.objects.all()) == [active]
    assert recommendations_for(customer=reader).model_version == active.pk


def test_a_list_nobody_read_is_not_ranked_by_the_hook(shop, track):
    reader = shop.taste_a[0]

    games_binge(shop, reader, track)

    assert cached_skus(reader) is None


def test_events_of_one_customer_leave_the_others_lists_alone(shop, track):
    reader, neighbour = shop.taste_a[:2]
    recommendations_for(customer=reader)
    recommendations_for(customer=neighbour)
    kept = cached_skus(neighbour)

    games_binge(shop, reader, track)

    assert cached_skus(neighbour) == kept


def test_events_that_name_no_product_leave_a_list_alone(shop, track):
    reader = shop.taste_a[0]
    recommendations_for(customer=reader)
    before = cached_skus(reader)

    track(reader, EventType.PAGE_VIEWED, [""], times=3)

    assert cached_skus(reader) == before
