"""The activation guard: a new version goes into service only if it beats the popularity
baseline and the version in service on held-out precision@10; otherwise it is kept, with
the reason. One version of a kind is active at a time, and the database holds to it."""

import pytest
from django.db import IntegrityError, transaction

from personalization.models import ModelKind, ModelStatus, ModelVersion
from personalization.recommendations.serving import Source, recommendations_for
from personalization.recommendations.training import recommender_train
from tests.factories import CustomerFactory
from tests.recommendations.support import interacted, personalization_grant, product_catalog, shop_build

pytestmark = pytest.mark.django_db


def in_service(precision: float) -> ModelVersion:
    """A version already active, with this held-out precision@10."""
    return ModelVersion.objects.create(
        kind=ModelKind.RECOMMENDER, status=ModelStatus.ACTIVE, metrics={"precision@10": precision}
    )


def train(django_capture_on_commit_callbacks) -> ModelVersion:
    with django_capture_on_commit_callbacks(execute=True):
        version = recommender_train()
    version.refresh_from_db()
    return version


@pytest.fixture
def same_taste(db):
    """25 customers who all touch the same 12 products: nothing to learn beyond popularity."""
    products = product_catalog(count=12)
    for _ in range(25):
        customer = CustomerFactory()
        personalization_grant(customer)
        interacted(customer, [p.sku for p in products])


def test_a_version_that_does_not_beat_the_popularity_baseline_is_kept(same_taste, django_capture_on_commit_callbacks):
    version = train(django_capture_on_commit_callbacks)

    assert version.metrics["precision@10"] <= version.baseline_metrics["precision@10"]
    assert version.status == ModelStatus.KEPT
    assert version.decision.startswith("Not activated: precision@10 ")
    assert "is not above the popularity baseline's" in version.decision


def test_a_version_kept_below_the_baseline_activates_nothing(same_taste, django_capture_on_commit_callbacks):
    train(django_capture_on_commit_callbacks)

    assert not ModelVersion.objects.filter(status=ModelStatus.ACTIVE).exists()


def test_a_version_below_the_active_ones_precision_is_kept_and_the_old_stays_active(
    db, django_capture_on_commit_callbacks
):
    old = in_service(precision=0.99)
    shop_build()

    version = train(django_capture_on_commit_callbacks)

    assert version.status == ModelStatus.KEPT
    assert f"is below active version #{old.pk}'s 0.990" in version.decision
    old.refresh_from_db()
    assert old.status == ModelStatus.ACTIVE


def test_a_better_version_retires_the_active_one(db, django_capture_on_commit_callbacks):
    old = in_service(precision=0.05)
    shop_build()

    version = train(django_capture_on_commit_callbacks)

    assert version.status == ModelStatus.ACTIVE
    assert f"and version #{old.pk}'s 0.050." in version.decision
    old.refresh_from_db()
    assert old.status == ModelStatus.RETIRED


def test_retraining_on_the_same_data_leaves_exactly_one_version_active(db, django_capture_on_commit_callbacks):
    shop_build()
    first = train(django_capture_on_commit_callbacks)

    second = train(django_capture_on_commit_callbacks)

    active = ModelVersion.objects.filter(kind=ModelKind.RECOMMENDER, status=ModelStatus.ACTIVE)
    assert list(active) == [second]
    first.refresh_from_db()
    assert first.status == ModelStatus.RETIRED


def test_a_failed_training_leaves_the_active_version_in_service(db, django_capture_on_commit_callbacks):
    old = in_service(precision=0.3)
    shop_build(customers=10)

    version = train(django_capture_on_commit_callbacks)

    assert version.status == ModelStatus.FAILED
    old.refresh_from_db()
    assert old.status == ModelStatus.ACTIVE


def test_the_database_refuses_a_second_active_version_of_a_kind(db):
    in_service(precision=0.3)

    with pytest.raises(IntegrityError), transaction.atomic():
        in_service(precision=0.4)


def test_versions_that_are_not_active_may_be_many(db):
    for status in (ModelStatus.KEPT, ModelStatus.KEPT, ModelStatus.RETIRED, ModelStatus.FAILED):
        ModelVersion.objects.create(kind=ModelKind.RECOMMENDER, status=status)
    in_service(precision=0.3)

    assert ModelVersion.objects.count() == 5


def test_activating_a_version_drops_the_cached_cold_start_lists(db, django_capture_on_commit_callbacks):
    shop = shop_build()
    customer = shop.taste_a[0]
    assert recommendations_for(customer=customer).source != Source.MODEL  # no model yet: cached cold start

    version = train(django_capture_on_commit_callbacks)

    served = recommendations_for(customer=customer)
    assert (served.source, served.model_version) == (Source.MODEL, version.pk)
