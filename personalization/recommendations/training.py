"""Training the recommender: ALS (implicit) on the interactions in Postgres, judged on
held-out interactions against the popularity baseline, and activated only if it beats
both the baseline and the version in service.

Defaults were chosen on MovieLens-100k and the demo store and are not tuned per
dataset (docs/MODELS.md): strong regularization is what holds across sizes.
"""

import io
import logging
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from django.db import transaction
from django.utils import timezone

from personalization.models import ModelKind, ModelStatus, ModelVersion
from personalization.recommendations.interactions import Interactions, interactions_load
from personalization.recommendations.metrics import holdout_users, ranking_metrics

logger = logging.getLogger(__name__)
DEFAULTS = {"factors": 64, "alpha": 1.0, "iterations": 15, "random_state": 42}
# What holds across data sizes: weights scaled to a mean of 1, and regularization growing
# with the interactions a customer has (denser rows can afford, and need, more of it).
REGULARIZATION_PER_INTERACTION = 0.12
HOLDOUT = 0.2
HOLDOUT_USERS = 20_000  # a seeded sample judges as well as everyone, in a fifth of the time at 100k
MIN_CUSTOMERS = 20  # below this the holdout says nothing
K = 10


@dataclass(frozen=True)
class TrainedModel:
    """What serving needs: factors and the ids of their rows and columns."""

    user_factors: np.ndarray
    item_factors: np.ndarray
    customer_ids: np.ndarray
    skus: np.ndarray
    popularity: np.ndarray  # summed weight per product, for cold start

    def dumps(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer, user_factors=self.user_factors, item_factors=self.item_factors, customer_ids=self.customer_ids,
            skus=self.skus.astype(str), popularity=self.popularity,
        )  # fmt: skip
        return buffer.getvalue()

    @classmethod
    def loads(cls, data: bytes) -> "TrainedModel":
        arrays = np.load(io.BytesIO(bytes(data)), allow_pickle=False)
        return cls(arrays["user_factors"], arrays["item_factors"], arrays["customer_ids"],
                   arrays["skus"].astype(object), arrays["popularity"])  # fmt: skip


def hyperparameters_for(matrix: sp.csr_matrix, given: dict | None = None) -> dict:
    """The defaults, fitted to this data where they depend on it, then what was given."""
    per_customer = matrix.nnz / max(matrix.shape[0], 1)
    fitted = {
        "regularization": round(REGULARIZATION_PER_INTERACTION * per_customer, 4),
        "weight_scale": round(1 / float(matrix.data.mean()), 6) if matrix.nnz else 1.0,
    }
    return {**DEFAULTS, **fitted, **(given or {})}


def als_new(hyperparameters: dict):
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):  # in here: its constructor checks the BLAS threads
        return AlternatingLeastSquares(**{k: v for k, v in hyperparameters.items() if k != "weight_scale"})


def als_fit(matrix: sp.csr_matrix, hyperparameters: dict):
    from threadpoolctl import threadpool_limits

    model = als_new(hyperparameters)
    with threadpool_limits(1, "blas"):  # implicit parallelizes itself; BLAS threads on top only contend
        model.fit(matrix * hyperparameters.get("weight_scale", 1.0), show_progress=False)
    return model


def popularity_top(train: sp.csr_matrix, k: int = K) -> callable:
    popular = np.argsort(-np.asarray(train.sum(axis=0)).ravel())

    def recommend(user: int) -> list[int]:
        seen = set(train[user].indices)
        return [int(i) for i in popular[: k + len(seen)] if i not in seen][:k]

    return recommend


def als_top(model, train: sp.csr_matrix, k: int = K, chunk: int = 10_000, users=None) -> callable:
    """Top k for a user, computed for a whole chunk of the users to be asked (`users`, or
    all in order) at once on first asking: implicit ranks many in one call far faster."""
    ranked: dict[int, list[int]] = {}
    order = np.arange(train.shape[0]) if users is None else np.asarray(users)
    position = {int(u): i for i, u in enumerate(order)}

    def recommend(user: int) -> list[int]:
        if user not in ranked:
            start = position[user]
            users = order[start : start + chunk]
            ids, _ = model.recommend(users, train[users], N=k, filter_already_liked_items=True)
            ranked.update({int(u): [int(i) for i in row if i >= 0] for u, row in zip(users, ids, strict=True)})
        return ranked[user]

    return recommend


def holdout_split(matrix: sp.csr_matrix, *, seed: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    from implicit.evaluation import train_test_split

    train, test = train_test_split(matrix, 1 - HOLDOUT, random_state=seed)
    return train.tocsr(), test.tocsr()


def _progress(version: ModelVersion, step: str, share: float) -> None:
    ModelVersion.objects.filter(pk=version.pk).update(progress={"step": step, "done": round(share, 2)})


def recommender_train(*, hyperparameters: dict | None = None, now=None) -> ModelVersion:
    """Train a new version from Postgres, evaluate it, and activate it if it earns it."""
    now = now or timezone.now()
    version = ModelVersion.objects.create(kind=ModelKind.RECOMMENDER, hyperparameters=hyperparameters or {})
    started = time.perf_counter()
    try:
        _progress(version, "reading interactions", 0.05)
        interactions = interactions_load(now=now)
        parameters = version.hyperparameters = hyperparameters_for(interactions.matrix, hyperparameters)
        customers, products = interactions.matrix.shape
        version.data_window = {"until": now.isoformat(), "days": 365, "customers": customers, "products": products,
                               "interactions": int(interactions.matrix.nnz)}  # fmt: skip
        if customers < MIN_CUSTOMERS or products < K:
            raise ValueError(f"{customers} customers and {products} products are too few to learn from "
                             f"(at least {MIN_CUSTOMERS} customers and {K} products).")  # fmt: skip
        _progress(version, "evaluating on held-out interactions", 0.2)
        train, test = holdout_split(interactions.matrix, seed=parameters["random_state"])
        held_out = als_fit(train, parameters)
        judged = {"products": products, "users": holdout_users(test, HOLDOUT_USERS)}
        version.metrics = ranking_metrics(als_top(held_out, train, users=judged["users"]), test, **judged)
        version.baseline_metrics = ranking_metrics(popularity_top(train), test, **judged)
        _progress(version, "training on everything", 0.6)
        model = als_fit(interactions.matrix, parameters)
        version.artifact = _trained(model, interactions).dumps()
        version.train_seconds = time.perf_counter() - started
        version.trained_at = timezone.now()
        version.progress = {"step": "done", "done": 1.0}
        _activate_if_better(version)
    except Exception as error:
        logger.exception("Training the recommender failed")
        version.status, version.decision = ModelStatus.FAILED, str(error)
        version.progress = {"step": "failed", "done": 1.0}
        version.train_seconds = time.perf_counter() - started
        version.save()
    return version


def _trained(model, interactions: Interactions) -> TrainedModel:
    popularity = np.asarray(interactions.matrix.sum(axis=0)).ravel().astype(np.float32)
    return TrainedModel(np.asarray(model.user_factors), np.asarray(model.item_factors), interactions.customer_ids,
                        interactions.skus, popularity)  # fmt: skip


def _activate_if_better(version: ModelVersion) -> None:
    """Activate only a version that beats the baseline and the active version on held-out
    precision@10; otherwise keep it, marked, with the reason."""
    ours, baseline = version.metrics["precision@10"], version.baseline_metrics["precision@10"]
    with transaction.atomic():
        current = ModelVersion.objects.select_for_update().filter(kind=version.kind, status=ModelStatus.ACTIVE).first()
        theirs = current.metrics.get("precision@10", 0) if current else None
        if ours <= baseline:
            version.status = ModelStatus.KEPT
            version.decision = (
                f"Not activated: precision@10 {ours:.3f} is not above the popularity baseline's {baseline:.3f}."
            )
        elif current and ours < theirs:
            version.status = ModelStatus.KEPT
            version.decision = (
                f"Not activated: precision@10 {ours:.3f} is below active version #{current.pk}'s {theirs:.3f}."
            )
        else:
            if current:
                ModelVersion.objects.filter(pk=current.pk).update(status=ModelStatus.RETIRED)
            version.status = ModelStatus.ACTIVE
            beaten = f" and version #{current.pk}'s {theirs:.3f}" if current else ""
            version.decision = f"Activated: precision@10 {ours:.3f}, above the baseline's {baseline:.3f}{beaten}."
        version.save()
    if version.status == ModelStatus.ACTIVE:
        from personalization.recommendations.serving import recommendations_forget

        transaction.on_commit(recommendations_forget)
