"""Training the recommender on the interactions in Postgres: a version records what it learned
from, how it did on held-out interactions against the popularity baseline, how long it took
and with which hyperparameters, and stores an artifact that serving can load."""

from datetime import timedelta

import numpy as np
import pytest
import scipy.sparse as sp

from personalization.models import ModelKind, ModelStatus, ModelVersion
from personalization.recommendations.training import DEFAULTS, TrainedModel, hyperparameters_for, recommender_train
from personalization.tasks import recommender_train_task
from tests.factories import CustomerFactory
from tests.recommendations.support import interacted, personalization_grant, product_catalog, shop_build

pytestmark = pytest.mark.django_db

METRICS = {"precision@10", "recall@10", "ndcg@10", "map@10", "coverage"}


@pytest.fixture
def shop():
    return shop_build()


@pytest.fixture
def trained(shop, django_capture_on_commit_callbacks) -> ModelVersion:
    with django_capture_on_commit_callbacks(execute=True):
        version = recommender_train()
    version.refresh_from_db()
    return version


def test_training_on_enough_data_activates_the_version(trained):
    assert trained.kind == ModelKind.RECOMMENDER
    assert trained.status == ModelStatus.ACTIVE
    assert trained.decision.startswith("Activated: precision@10 ")


def test_a_version_records_its_held_out_metrics_and_the_baselines(trained):
    assert set(trained.metrics) >= METRICS
    assert set(trained.baseline_metrics) >= METRICS
    assert all(0 <= trained.metrics[name] <= 1 for name in METRICS)


def test_on_planted_tastes_the_model_beats_the_popularity_baseline(trained):
    # Half the shop likes books, half games: popularity mixes both, ALS finds the taste.
    assert trained.metrics["precision@10"] > trained.baseline_metrics["precision@10"] + 0.2


def test_a_version_records_its_data_window(trained, shop):
    window = trained.data_window
    assert (window["customers"], window["products"], window["interactions"]) == (60, 40, 60 * 8)
    assert window["days"] == 365
    assert window["until"].startswith(str(trained.trained_at.date()))


def test_a_version_records_how_long_it_took_and_ends_its_progress(trained):
    assert trained.train_seconds > 0
    assert trained.trained_at is not None
    assert trained.progress == {"step": "done", "done": 1.0}


def test_the_artifact_loads_with_factors_for_every_customer_and_product(trained, shop):
    model = TrainedModel.loads(trained.artifact)

    assert set(model.customer_ids.tolist()) == {c.pk for c in shop.customers}
    assert set(model.skus) == shop.books | shop.games
    assert model.user_factors.shape == (60, DEFAULTS["factors"])
    assert model.item_factors.shape == (40, DEFAULTS["factors"])
    assert model.popularity.shape == (40,) and np.all(model.popularity > 0)


def test_the_hyperparameters_are_recorded_with_the_defaults_filled_in(shop):
    version = recommender_train(hyperparameters={"factors": 8, "iterations": 5})

    assert version.hyperparameters == {**DEFAULTS, "factors": 8, "iterations": 5,
                                       "regularization": version.hyperparameters["regularization"],
                                       "weight_scale": version.hyperparameters["weight_scale"]}  # fmt: skip
    assert TrainedModel.loads(version.artifact).item_factors.shape == (40, 8)


def test_regularization_grows_with_the_interactions_a_customer_has():
    sparse = sp.csr_matrix(np.eye(10, dtype=np.float32))  # one interaction each
    dense = sp.csr_matrix(np.ones((10, 10), dtype=np.float32))  # ten each

    assert hyperparameters_for(dense)["regularization"] == 10 * hyperparameters_for(sparse)["regularization"]


def test_weights_are_scaled_to_a_mean_of_one():
    weights = sp.csr_matrix(np.array([[0.5, 0.0], [0.0, 1.5]], dtype=np.float32))

    assert hyperparameters_for(weights)["weight_scale"] == 1.0


def test_given_hyperparameters_win_over_the_fitted_ones():
    matrix = sp.csr_matrix(np.ones((3, 3), dtype=np.float32))

    assert hyperparameters_for(matrix, {"regularization": 2.0})["regularization"] == 2.0


def test_an_unknown_hyperparameter_fails_the_training_with_its_name(shop):
    version = recommender_train(hyperparameters={"factorz": 8})

    assert version.status == ModelStatus.FAILED
    assert "factorz" in version.decision


def test_too_few_customers_fail_the_training_with_a_clear_decision(db):
    shop_build(customers=10)

    version = recommender_train()

    assert version.status == ModelStatus.FAILED
    assert version.decision.startswith("10 customers and ")
    assert version.decision.endswith(" products are too few to learn from (at least 20 customers and 10 products).")
    assert version.artifact is None and version.progress == {"step": "failed", "done": 1.0}


def test_too_few_products_fail_the_training_with_a_clear_decision(db):
    products = product_catalog(count=5)
    for _ in range(25):
        customer = CustomerFactory()
        personalization_grant(customer)
        interacted(customer, [p.sku for p in products])

    version = recommender_train()

    assert version.status == ModelStatus.FAILED
    assert version.decision.startswith("25 customers and 5 products are too few to learn from")


def test_a_failed_training_records_what_it_read(db):
    shop_build(customers=10)

    version = ModelVersion.objects.get(pk=recommender_train().pk)

    assert version.data_window["customers"] == 10 and version.train_seconds is not None


def test_events_older_than_a_year_are_not_learned_from(db):
    products = product_catalog()
    for _ in range(25):
        customer = CustomerFactory()
        personalization_grant(customer)
        interacted(customer, [p.sku for p in products], ago=timedelta(days=400))

    version = recommender_train()

    assert version.status == ModelStatus.FAILED
    assert version.data_window["customers"] == 0


def test_the_scheduled_task_trains_and_returns_the_version_id(shop):
    version_id = recommender_train_task()

    assert ModelVersion.objects.get(pk=version_id).status == ModelStatus.ACTIVE
