"""Purchase and churn propensity with XGBoost: trained on one past cutoff, judged on
the next (time-based, as it will be used), against a recency-frequency logistic
regression, and activated only if it beats it and the version in service. The active
version scores every customer 0-100 (`CustomerScore`), used by segment rules and
templates, and re-scores customers as their events arrive.
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.db import transaction
from django.utils import timezone

from core.db import rows_upsert
from personalization.models import CustomerScore, ModelKind, ModelStatus, ModelVersion
from personalization.propensity.features import FEATURES, features_from_events

logger = logging.getLogger(__name__)
XGBOOST = {"n_estimators": 300, "max_depth": 3, "learning_rate": 0.03, "subsample": 0.8, "colsample_bytree": 0.8,
           "min_child_weight": 50, "random_state": 0, "n_jobs": 2}  # fmt: skip
# Sense that must survive any fit: a later last order or more orders never lowers the chance to buy.
MONOTONE = tuple(
    -1 if name == "days_since_last_order" else 1 if name in ("orders", "orders_30d", "orders_90d", "orders_180d",
                                                             "orders_365d") else 0
    for name in FEATURES
)  # fmt: skip
WINDOWS = 6  # training windows, a month apart: one window teaches the quirks of one month
WINDOW_STEP = timedelta(days=30)
BASELINE_FEATURES = [FEATURES.index("days_since_last_order"), FEATURES.index("orders")]
MIN_POSITIVES = 10
SCORE_TRIGGERS = frozenset({"Order Completed", "Product Viewed", "Product Added", "Page Viewed", "Email Opened",
                            "Email Link Clicked"})  # fmt: skip


@dataclass(frozen=True)
class Target:
    kind: str
    horizon: timedelta
    buyers_only: bool  # churn is a question about people who bought
    churn: bool  # the label is "no order in the horizon"


TARGETS = {
    ModelKind.PURCHASE: Target(ModelKind.PURCHASE, timedelta(days=30), buyers_only=False, churn=False),
    ModelKind.CHURN: Target(ModelKind.CHURN, timedelta(days=90), buyers_only=True, churn=True),
}


def dataset(target: Target, ids, matrix, labels):
    """Restrict to the target's population and orient its label."""
    keep = matrix[:, FEATURES.index("orders")] > 0 if target.buyers_only else np.ones(len(ids), dtype=bool)
    y = labels[keep]
    return [i for i, k in zip(ids, keep, strict=True) if k], matrix[keep], (1 - y if target.churn else y)


def xgboost_fit(x: np.ndarray, y: np.ndarray, *, churn: bool = False):
    """`churn`: the label is "no order", so the constraints turn around (a later last order
    never lowers the risk)."""
    from xgboost import XGBClassifier

    monotone = tuple(-sign for sign in MONOTONE) if churn else MONOTONE
    return XGBClassifier(**XGBOOST, monotone_constraints=monotone, objective="binary:logistic").fit(x, y)


def training_cutoffs(holdout_at: datetime, horizon: timedelta) -> list[datetime]:
    """Cutoffs whose horizons end before the holdout's cutoff, so nothing learned is judged."""
    return [holdout_at - horizon - WINDOW_STEP * k for k in range(WINDOWS)]


def stacked(parts) -> tuple[np.ndarray, np.ndarray]:
    parts = list(parts)
    return np.vstack([x for _, x, _ in parts]), np.concatenate([y for _, _, y in parts])


def baseline_fit(x: np.ndarray, y: np.ndarray):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000).fit(_baseline_columns(x), y)


def _baseline_columns(x: np.ndarray) -> np.ndarray:
    return np.column_stack([np.log1p(x[:, BASELINE_FEATURES[0]]), np.log1p(x[:, BASELINE_FEATURES[1]])])


def baseline_predict(model, x: np.ndarray) -> np.ndarray:
    return model.predict_proba(_baseline_columns(x))[:, 1]


def classification_metrics(y: np.ndarray, p: np.ndarray, bins: int = 10) -> dict:
    """AUC, log loss, Brier score and calibration (mean predicted vs observed, by predicted decile)."""
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    p = np.clip(p, 1e-6, 1 - 1e-6)
    order = np.argsort(p)
    calibration = [
        {"predicted": round(float(p[chunk].mean()), 4), "observed": round(float(y[chunk].mean()), 4), "n": len(chunk)}
        for chunk in np.array_split(order, bins) if len(chunk)
    ]  # fmt: skip
    return {
        "auc": round(float(roc_auc_score(y, p)), 4) if 0 < y.sum() < len(y) else None,
        "log_loss": round(float(log_loss(y, p, labels=[0, 1])), 4),
        "brier": round(float(brier_score_loss(y, p)), 4),
        "positives": int(y.sum()),
        "customers": len(y),
        "calibration": calibration,
    }


def auc_difference(y: np.ndarray, ours: np.ndarray, theirs: np.ndarray, *, resamples: int = 1_000) -> dict:
    """AUC of `ours` minus AUC of `theirs` on the same customers, with a 95% paired bootstrap
    interval: customers drawn again with replacement, both models scored on each draw, so
    that the interval says whether the difference would hold on other customers like these."""
    from sklearn.metrics import roc_auc_score

    rng, differences = np.random.default_rng(0), []
    for _ in range(resamples):
        drawn = rng.integers(0, len(y), len(y))
        if 0 < y[drawn].sum() < len(drawn):
            differences.append(roc_auc_score(y[drawn], ours[drawn]) - roc_auc_score(y[drawn], theirs[drawn]))
    low, high = np.percentile(differences, [2.5, 97.5])
    difference = roc_auc_score(y, ours) - roc_auc_score(y, theirs)
    return {"difference": round(float(difference), 4), "low": round(float(low), 4), "high": round(float(high), 4),
            "resamples": len(differences)}  # fmt: skip


def propensity_train(*, kind: str, now: datetime | None = None) -> ModelVersion:
    """Train on the cutoff two horizons ago, judge on the last one, then train on the last
    one for service; activate if it earns it, and score everyone."""
    target, now = TARGETS[kind], now or timezone.now()
    version = ModelVersion.objects.create(kind=kind, hyperparameters=XGBOOST)
    started = time.perf_counter()
    try:
        holdout_at = now - target.horizon
        cutoffs = training_cutoffs(holdout_at, target.horizon)
        x_train, y_train = stacked(
            dataset(target, *features_from_events(cutoff=at, horizon=target.horizon)) for at in cutoffs
        )
        _, x_test, y_test = dataset(target, *features_from_events(cutoff=holdout_at, horizon=target.horizon))
        version.data_window = {
            "train_cutoffs": [at.isoformat() for at in cutoffs], "holdout_cutoff": holdout_at.isoformat(),
            "horizon_days": target.horizon.days, "train_rows": len(y_train), "holdout_customers": len(y_test),
        }  # fmt: skip
        for name, y in (("training", y_train), ("holdout", y_test)):
            if y.sum() < MIN_POSITIVES or len(y) - y.sum() < MIN_POSITIVES:
                raise ValueError(f"The {name} window has {int(y.sum())} positive and {int(len(y) - y.sum())} negative "
                                 f"customers: at least {MIN_POSITIVES} of each are needed.")  # fmt: skip
        version.metrics = classification_metrics(
            y_test, xgboost_fit(x_train, y_train, churn=target.churn).predict_proba(x_test)[:, 1]
        )
        version.baseline_metrics = classification_metrics(
            y_test, baseline_predict(baseline_fit(x_train, y_train), x_test)
        )
        x_all, y_all = stacked([(None, x_train, y_train), (None, x_test, y_test)])
        model = xgboost_fit(x_all, y_all, churn=target.churn)  # with the latest labelled window too, for service
        version.artifact = bytes(model.get_booster().save_raw(raw_format="ubj"))
        version.train_seconds, version.trained_at = time.perf_counter() - started, timezone.now()
        version.progress = {"step": "done", "done": 1.0}
        _activate_if_better(version)
    except Exception as error:
        logger.exception("Training %s failed", kind)
        version.status, version.decision = ModelStatus.FAILED, str(error)
        version.train_seconds = time.perf_counter() - started
        version.save()
        return version
    if version.status == ModelStatus.ACTIVE:
        scores_write(kind=kind, now=now)
    return version


def _activate_if_better(version: ModelVersion) -> None:
    ours, baseline = version.metrics["auc"], version.baseline_metrics["auc"]
    with transaction.atomic():
        current = ModelVersion.objects.select_for_update().filter(kind=version.kind, status=ModelStatus.ACTIVE).first()
        theirs = current.metrics.get("auc") if current else None
        if ours is None or baseline is None or ours <= baseline:
            version.status = ModelStatus.KEPT
            version.decision = f"Not activated: AUC {ours} is not above the recency-frequency baseline's {baseline}."
        elif current and theirs is not None and ours < theirs:
            version.status = ModelStatus.KEPT
            version.decision = f"Not activated: AUC {ours:.3f} is below active version #{current.pk}'s {theirs:.3f}."
        else:
            if current:
                ModelVersion.objects.filter(pk=current.pk).update(status=ModelStatus.RETIRED)
            version.status = ModelStatus.ACTIVE
            beaten = f" and version #{current.pk}'s {theirs:.3f}" if current and theirs is not None else ""
            version.decision = f"Activated: AUC {ours:.3f}, above the baseline's {baseline:.3f}{beaten}."
        version.save()


def _booster(version: ModelVersion):
    from xgboost import Booster

    booster = Booster()
    booster.load_model(bytearray(version.artifact))
    return booster


def version_predict(version: ModelVersion, matrix: np.ndarray) -> np.ndarray:
    """The probabilities a trained version gives to rows of features (FEATURES' columns)."""
    from xgboost import DMatrix

    return _booster(version).predict(DMatrix(matrix))


def scores_write(*, kind: str, now: datetime | None = None, customer_ids=None) -> int:
    """Score customers (all, or some) 0-100 with the active version of `kind`; return how many."""
    from personalization.recommendations.interactions import personalizable

    # A score is learned from behavior: whoever may no longer be personalized loses it.
    stale = CustomerScore.objects.filter(kind=kind).exclude(personalizable())
    if customer_ids is not None:
        stale = stale.filter(customer_id__any_of=customer_ids)
    stale.delete()
    version = ModelVersion.objects.filter(kind=kind, status=ModelStatus.ACTIVE).first()
    if version is None:
        return 0
    now = now or timezone.now()
    ids, matrix, _ = features_from_events(cutoff=now, customer_ids=customer_ids)
    ids, matrix, _ = dataset(TARGETS[kind], ids, matrix, np.zeros(len(ids)))
    if not ids:
        return 0
    probabilities = version_predict(version, matrix)
    rows = [CustomerScore(customer_id=c, kind=kind, score=round(float(p) * 100), model_version=version, computed_at=now)
            for c, p in zip(ids, probabilities, strict=True)]  # fmt: skip
    rows_upsert(CustomerScore, rows, unique_fields=["customer", "kind"],
                update_fields=["score", "model_version", "computed_at"])  # fmt: skip
    return len(rows)
