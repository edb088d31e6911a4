"""Training purchase propensity: judged on the last window against the recency-frequency
baseline, activated only if it beats it and the version in service, and then scoring
everyone; failing clearly when the history is too short."""

from datetime import datetime, timedelta
from statistics import fmean

import numpy as np
import pytest
from django.db import transaction
from django.utils import timezone

from personalization.models import CustomerScore, ModelKind, ModelStatus, ModelVersion
from personalization.propensity.features import FEATURES
from personalization.propensity.training import (
    MIN_POSITIVES,
    _activate_if_better,
    propensity_train,
    scores_write,
    xgboost_fit,
)
from tests.propensity.support import (
    DAY,
    consenting_customer,
    events_save,
    order,
    personalization_withdraw,
    shop_build,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="class")
def trained(django_db_setup, django_db_blocker):
    """The planted shop, trained on once for the whole class (as setUpTestData would): inside
    a transaction rolled back after the class's last test, each test in a savepoint of it."""
    with django_db_blocker.unblock(), transaction.atomic():
        now = timezone.now()
        shop = shop_build(now=now)
        version = propensity_train(kind=ModelKind.PURCHASE, now=now)
        yield shop, version
        transaction.set_rollback(True)


class TestOnAPlantedShop:
    def test_the_model_is_activated(self, trained):
        _, version = trained

        assert version.status == ModelStatus.ACTIVE, version.decision
        assert version.decision.startswith("Activated")
        assert ModelVersion.objects.get(kind=ModelKind.PURCHASE, status=ModelStatus.ACTIVE) == version

    def test_its_auc_is_above_the_baselines(self, trained):
        _, version = trained

        assert version.metrics["auc"] > version.baseline_metrics["auc"]

    def test_the_metrics_hold_auc_log_loss_brier_and_calibration_on_the_holdout(self, trained):
        _, version = trained
        metrics = version.metrics

        assert {"auc", "log_loss", "brier", "positives", "customers", "calibration"} <= metrics.keys()
        assert metrics["customers"] == version.data_window["holdout_customers"]
        assert MIN_POSITIVES <= metrics["positives"] <= metrics["customers"] - MIN_POSITIVES
        assert sum(decile["n"] for decile in metrics["calibration"]) == metrics["customers"]
        assert all(0 <= d["predicted"] <= 1 and 0 <= d["observed"] <= 1 for d in metrics["calibration"])
        assert "calibration" in version.baseline_metrics

    def test_every_training_horizon_ends_by_the_holdout_cutoff(self, trained):
        shop, version = trained
        window = version.data_window
        holdout = datetime.fromisoformat(window["holdout_cutoff"])
        horizon = timedelta(days=window["horizon_days"])

        assert holdout + horizon == shop.now
        assert window["train_cutoffs"]
        assert all(datetime.fromisoformat(at) + horizon <= holdout for at in window["train_cutoffs"])

    def test_it_remembers_what_it_learned_from(self, trained):
        _, version = trained

        assert version.data_window["horizon_days"] == 30
        assert version.data_window["train_rows"] > version.data_window["holdout_customers"]
        assert version.artifact and version.trained_at and version.train_seconds > 0

    def test_every_customer_gets_a_score_from_0_to_100_by_the_new_version(self, trained):
        shop, version = trained
        scores = CustomerScore.objects.filter(kind=ModelKind.PURCHASE)

        assert scores.count() == len(shop.active) + len(shop.slow) + len(shop.lapsed)
        assert set(scores.values_list("model_version", flat=True)) == {version.pk}
        assert set(scores.values_list("computed_at", flat=True)) == {shop.now}
        assert all(0 <= score <= 100 for score in scores.values_list("score", flat=True))

    def test_active_customers_score_above_lapsed_ones(self, trained):
        shop, _ = trained
        score = dict(CustomerScore.objects.filter(kind=ModelKind.PURCHASE).values_list("customer", "score"))

        assert min(score[c.pk] for c in shop.active) > max(score[c.pk] for c in shop.lapsed)


def test_the_churn_model_scores_lapsed_buyers_above_active_ones():
    now = timezone.now()
    shop = shop_build(now=now, active=60, slow=0, lapsed=120, days=450, stopped=(30, 420))

    version = propensity_train(kind=ModelKind.CHURN, now=now)

    assert version.status == ModelStatus.ACTIVE, version.decision
    risk = dict(CustomerScore.objects.filter(kind=ModelKind.CHURN).values_list("customer", "score"))
    assert fmean(risk[c.pk] for c in shop.lapsed) > fmean(risk[c.pk] for c in shop.active)


def test_a_full_rescoring_drops_the_scores_of_customers_who_withdrew_personalization(purchase_model):
    stays, leaves = consenting_customer(), consenting_customer()
    events_save(order(c, timezone.now() - 20 * DAY) for c in (stays, leaves))
    scores_write(kind=ModelKind.PURCHASE)
    personalization_withdraw(leaves)

    scores_write(kind=ModelKind.PURCHASE)

    assert list(CustomerScore.objects.values_list("customer", flat=True)) == [stays.pk]


def test_too_little_history_fails_with_the_counts_it_found():
    now = timezone.now()
    customers = [consenting_customer() for _ in range(3)]
    events_save(order(c, now - DAY * days) for c in customers for days in (10, 40, 70))

    version = propensity_train(kind=ModelKind.PURCHASE, now=now)

    assert version.status == ModelStatus.FAILED
    assert f"at least {MIN_POSITIVES} of each are needed" in version.decision
    assert "The training window has 3 positive and" in version.decision
    assert not CustomerScore.objects.exists()


def test_a_shop_with_no_events_fails_rather_than_activating_anything():
    version = propensity_train(kind=ModelKind.PURCHASE, now=timezone.now())

    assert version.status == ModelStatus.FAILED
    assert not ModelVersion.objects.filter(status=ModelStatus.ACTIVE).exists()


def test_the_churn_model_may_learn_that_risk_rises_as_the_last_order_recedes():
    # Only recency tells churners apart; the purchase model's constraint (never more likely
    # with a later last order) must be turned around for "no order in 90 days".
    rng = np.random.default_rng(0)
    x = np.zeros((2000, len(FEATURES)))
    recency = x[:, FEATURES.index("days_since_last_order")] = rng.uniform(0, 300, len(x))
    x[:, FEATURES.index("orders")] = 3
    churned = (recency > 120).astype(int)

    model = xgboost_fit(x, churned, churn=True)

    probe = np.zeros((2, len(FEATURES)))
    probe[:, FEATURES.index("days_since_last_order")] = [10, 250]
    probe[:, FEATURES.index("orders")] = 3
    soon, long_ago = model.predict_proba(probe)[:, 1]
    assert long_ago > soon + 0.5


# --- the activation guard ------------------------------------------------------------------


def version_with(auc, baseline, *, status=ModelStatus.TRAINING) -> ModelVersion:
    return ModelVersion.objects.create(kind=ModelKind.PURCHASE, status=status, metrics={"auc": auc},
                                       baseline_metrics={"auc": baseline})  # fmt: skip


def test_a_version_not_above_the_baseline_is_kept():
    version = version_with(0.70, 0.70)

    _activate_if_better(version)

    assert ModelVersion.objects.get(pk=version.pk).status == ModelStatus.KEPT
    assert "baseline" in version.decision and "0.7" in version.decision


def test_a_version_without_an_auc_is_kept():
    version = version_with(None, 0.60)

    _activate_if_better(version)

    assert ModelVersion.objects.get(pk=version.pk).status == ModelStatus.KEPT


def test_a_version_below_the_active_one_is_kept_and_the_active_one_stays():
    active = version_with(0.85, 0.60, status=ModelStatus.ACTIVE)
    version = version_with(0.80, 0.60)

    _activate_if_better(version)

    assert ModelVersion.objects.get(pk=version.pk).status == ModelStatus.KEPT
    assert ModelVersion.objects.get(pk=active.pk).status == ModelStatus.ACTIVE
    assert f"#{active.pk}" in version.decision and "0.850" in version.decision


def test_a_version_above_the_baseline_and_the_active_one_replaces_it():
    active = version_with(0.80, 0.60, status=ModelStatus.ACTIVE)
    version = version_with(0.85, 0.60)

    _activate_if_better(version)

    assert ModelVersion.objects.get(pk=version.pk).status == ModelStatus.ACTIVE
    assert ModelVersion.objects.get(pk=active.pk).status == ModelStatus.RETIRED
    assert version.decision == f"Activated: AUC 0.850, above the baseline's 0.600 and version #{active.pk}'s 0.800."


def test_the_first_version_above_the_baseline_is_activated():
    version = version_with(0.75, 0.60)

    _activate_if_better(version)

    assert ModelVersion.objects.get(pk=version.pk).status == ModelStatus.ACTIVE


def test_the_guard_looks_only_at_versions_of_the_same_kind():
    ModelVersion.objects.create(kind=ModelKind.CHURN, status=ModelStatus.ACTIVE, metrics={"auc": 0.99})
    version = version_with(0.75, 0.60)

    _activate_if_better(version)

    assert ModelVersion.objects.get(pk=version.pk).status == ModelStatus.ACTIVE
