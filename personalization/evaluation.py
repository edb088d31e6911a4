"""Scoring Tailor's models against what the demo store planted (`manage.py seed_demo`
writes it to var/demo/ground-truth.json): each customer's preferred categories and
taste weights, their chance to order in the 30 days after the data, and whether they do.

- Recommendations: of the top K products served to each customer whose consent allows
  personalization, the share in their planted preferred categories and the taste weight
  captured (the sum of their weights of the products' categories, over K; an empty slot
  counts as a miss), for Tailor's lists as served (`recommendation_candidates_many`), the
  popular list everyone would get and random products, both also without what the
  customer bought and out-of-stock products, as serving leaves them out. And the
  recommender on its own (the active version, or else the newest one not activated), over
  the customers it can rank, next to the others' lists for the same customers.
- Purchase propensity: AUC, log loss and Brier score of the active purchase model's
  probabilities as of the end of the data, against who buys in the next 30 days; next to
  the recency-frequency baseline fitted on the windows the active version was fitted on,
  and to the planted probability itself (the ceiling: what a perfect model of the
  simulation would reach).
"""

import json
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from consent.models import Purpose
from consent.selectors import customers_consenting
from personalization.models import Customer, ModelKind, ModelStatus, ModelVersion, Product
from personalization.propensity.features import features_from_events
from personalization.propensity.training import (
    TARGETS,
    baseline_fit,
    baseline_predict,
    classification_metrics,
    dataset,
    stacked,
    training_cutoffs,
    version_predict,
)
from personalization.recommendations.serving import (
    CANDIDATES,
    model_candidates_many,
    popular_products,
    recommendation_candidates_many,
)

K = 10
CHUNK = 500  # customers whose candidates are read at once
TAILOR, POPULAR, RANDOM = "Tailor (as served)", "popularity (the list for everyone)", "random products"


class GroundTruthError(ValueError):
    """The ground truth file cannot be read, or does not describe this database's store."""


# --- the ground truth -------------------------------------------------------------------------


@dataclass(frozen=True)
class Planted:
    preferred_categories: list[str]
    category_weights: dict[str, float]
    purchase_probability_30d: float
    will_buy_next_30d: bool


@dataclass(frozen=True)
class GroundTruth:
    path: Path
    seed: int | None
    until: datetime
    horizon_days: int
    customers: dict[str, Planted]  # external id -> what was planted


def ground_truth_read(path: Path) -> GroundTruth:
    """The ground truth seed_demo wrote, checked field by field, or a GroundTruthError saying what is wrong."""
    if not path.is_file():
        raise GroundTruthError(f"{path} is not a file: `manage.py seed_demo --ground-truth {path}` writes it.")
    try:
        data = json.loads(path.read_text())
    except UnicodeDecodeError:
        raise GroundTruthError(f"{path} is not text: expected the JSON that seed_demo writes.") from None
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise GroundTruthError(f"{path} is not JSON: {error.msg} at {where}.") from None
    if not isinstance(data, dict) or not isinstance(data.get("customers"), dict):
        raise GroundTruthError(f'{path} has no "customers" object: expected the ground truth that seed_demo writes.')
    if not data["customers"]:
        raise GroundTruthError(f"{path} names no customers.")
    try:
        until = datetime.fromisoformat(data["until"])
    except (KeyError, TypeError, ValueError):
        raise GroundTruthError(f'{path}: "until" must be the end of the data as an ISO date and time.') from None
    if until.tzinfo is None:
        raise GroundTruthError(f'{path}: "until" ({data["until"]}) must name its time zone, as seed_demo writes it.')
    horizon, predicted = data.get("horizon_days"), TARGETS[ModelKind.PURCHASE].horizon.days
    if horizon != predicted or isinstance(horizon, bool):
        raise GroundTruthError(f'{path}: "horizon_days" is {horizon!r}; the purchase model predicts the next '
                               f"{predicted} days, which seed_demo plants.")  # fmt: skip
    customers = {str(external_id): _planted(path, str(external_id), entry)
                 for external_id, entry in data["customers"].items()}  # fmt: skip
    return GroundTruth(path=path, seed=data.get("seed"), until=until, horizon_days=horizon, customers=customers)


def _planted(path: Path, external_id: str, entry) -> Planted:
    def wrong(what: str) -> GroundTruthError:
        return GroundTruthError(f"{path}: customer {external_id!r}: {what}.")

    if not isinstance(entry, dict):
        raise wrong("expected an object of planted facts")
    missing = [name for name in Planted.__dataclass_fields__ if name not in entry]
    if missing:
        raise wrong(f"{', '.join(missing)} missing")
    preferred, weights = entry["preferred_categories"], entry["category_weights"]
    probability, buys = entry["purchase_probability_30d"], entry["will_buy_next_30d"]
    if not isinstance(preferred, list) or not all(isinstance(c, str) for c in preferred):
        raise wrong("preferred_categories must be a list of category names")
    if not isinstance(weights, dict) or not all(_number(w) and w >= 0 for w in weights.values()):
        raise wrong("category_weights must map category names to weights of 0 or more")
    if not _number(probability) or not 0 <= probability <= 1:
        raise wrong("purchase_probability_30d must be a number from 0 to 1")
    if not isinstance(buys, bool):
        raise wrong("will_buy_next_30d must be true or false")
    return Planted(preferred, {str(c): float(w) for c, w in weights.items()}, float(probability), buys)


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def not_active(kind: str) -> str | None:
    """Why no version of `kind` is in service (the newest version's decision), or None if one is."""
    if ModelVersion.objects.filter(kind=kind, status=ModelStatus.ACTIVE).exists():
        return None
    newest = ModelVersion.objects.filter(kind=kind).order_by("-pk").first()
    if newest is None:
        return f"No {kind} model is trained yet (--catch-up trains one)."
    return f"No {kind} model is active. The newest, #{newest.pk}: {newest.decision or newest.get_status_display()}"


def _customers_known(truth: GroundTruth):
    """The database's customers the ground truth names (merged tombstones left out)."""
    known = Customer.objects.filter(external_id__in=list(truth.customers), merged_into__isnull=True)
    if not known.exists():
        raise GroundTruthError(f"{truth.path} names none of this database's customers: was it written by "
                               "seed_demo for the store in this database?")  # fmt: skip
    return known


# --- recommendations --------------------------------------------------------------------------


@dataclass(frozen=True)
class TasteFit:
    """How well lists fit the planted tastes, averaged over customers."""

    lists: int
    preferred_share: float  # of the K slots, the share holding a product of a preferred category
    taste_captured: float  # the customer's taste weights of the products' categories, summed, over K
    items: float  # products per list


@dataclass(frozen=True)
class RecommendationEvaluation:
    k: int
    in_truth: int
    in_database: int
    without_consent: int
    without_preferences: int
    sources: Counter  # where the served lists came from: source -> lists
    everyone: dict[str, TasteFit]  # TAILOR, POPULAR, RANDOM, over every customer evaluated
    model: ModelVersion | None  # the version judged on its own: the active one, else the newest trained
    model_ranked: dict[str, TasteFit]  # its own lists, then TAILOR, POPULAR, RANDOM, over the customers it ranks

    @property
    def customers(self) -> int:
        return sum(self.sources.values())


def model_name(version: ModelVersion) -> str:
    return f"ALS #{version.pk} alone"


def _fit(lists: list[tuple[list[str], Planted]], k: int) -> TasteFit:
    """`lists`: (categories of the recommended products, the customer's planted tastes)."""
    if not lists:
        return TasteFit(0, 0.0, 0.0, 0.0)
    shares = [sum(c in set(p.preferred_categories) for c in cats[:k]) / k for cats, p in lists]
    captured = [sum(p.category_weights.get(c, 0.0) for c in cats[:k]) / k for cats, p in lists]
    return TasteFit(len(lists), float(np.mean(shares)), float(np.mean(captured)),
                    float(np.mean([min(len(cats), k) for cats, _ in lists])))  # fmt: skip


def _recommender_judged() -> ModelVersion | None:
    versions = ModelVersion.objects.filter(kind=ModelKind.RECOMMENDER)
    active = versions.filter(status=ModelStatus.ACTIVE).first()
    return active or versions.filter(status=ModelStatus.KEPT).order_by("-pk").first()


def recommendations_evaluate(*, truth: GroundTruth, k: int = K, seed: int = 0) -> RecommendationEvaluation:
    """Top-k lists for every customer of the ground truth whose consent allows personalization
    and who has preferred categories: Tailor's as served, the popular list, random products;
    and, for the customers it ranks, the recommender's own lists (the active version, or the
    newest one that was not activated), to judge it apart from the fallbacks."""
    known = _customers_known(truth)
    consenting = list(customers_consenting(customers=known, purpose=Purpose.PERSONALIZATION).order_by("pk"))
    evaluated = [c for c in consenting if truth.customers[c.external_id].preferred_categories]
    popular = [(p.sku, p.category) for p in popular_products(limit=CANDIDATES)["popular"]]
    in_stock = list(Product.objects.filter(in_stock=True).order_by("sku").values_list("sku", "category"))
    version, rng, sources = _recommender_judged(), random.Random(seed), Counter()
    mine = model_name(version) if version else ""
    lists: dict[str, list] = {TAILOR: [], POPULAR: [], RANDOM: []}
    ranked: dict[str, list] = {mine: [], TAILOR: [], POPULAR: [], RANDOM: []}
    for start in range(0, len(evaluated), CHUNK):
        chunk = evaluated[start : start + CHUNK]
        served = recommendation_candidates_many(customers=chunk, personal_ids={c.pk for c in chunk})
        own = model_candidates_many(customers=chunk, version_id=version.pk) if version else {}
        for customer in chunk:
            planted, bought = truth.customers[customer.external_id], served[customer.pk].bought
            listed = served[customer.pk].pick(limit=k)
            sources[listed.source] += 1
            choices = {
                TAILOR: [item.product.category for item in listed.items],
                POPULAR: [category for sku, category in popular if sku not in bought][:k],
                RANDOM: [category for _, category in _sample(rng, in_stock, bought, k)],
            }
            for name, categories in choices.items():
                lists[name].append((categories, planted))
            if customer.pk in own:
                choices[mine] = [item.product.category for item in own[customer.pk].pick(limit=k).items]
                for name, rows in ranked.items():
                    rows.append((choices[name], planted))
    return RecommendationEvaluation(
        k=k, in_truth=len(truth.customers), in_database=known.count(), without_consent=known.count() - len(consenting),
        without_preferences=len(consenting) - len(evaluated), sources=sources,
        everyone={name: _fit(rows, k) for name, rows in lists.items()}, model=version,
        model_ranked={name: _fit(rows, k) for name, rows in ranked.items()} if ranked[TAILOR] else {},
    )  # fmt: skip


def _sample(rng: random.Random, products: list[tuple[str, str]], bought: set[str], k: int) -> list[tuple[str, str]]:
    """k products drawn at random, without repeats, from those not bought yet."""
    pool = [p for p in products if p[0] not in bought] if bought else products
    return rng.sample(pool, min(k, len(pool)))


# --- purchase propensity ----------------------------------------------------------------------


@dataclass(frozen=True)
class PropensityEvaluation:
    cutoff: datetime
    horizon_days: int
    customers: int  # customers of the ground truth Tailor scores at the cutoff
    buyers: int  # of them, those who buy in the horizon after it
    not_scored: int  # customers of the ground truth Tailor does not score (no consent, or no activity)
    rows: dict[str, dict] = field(default_factory=dict)  # model -> classification_metrics
    notes: list[str] = field(default_factory=list)  # why a row is missing


def propensity_evaluate(*, truth: GroundTruth) -> PropensityEvaluation:
    """The active purchase model, the recency-frequency baseline and the planted probability,
    judged on who buys in the 30 days after the end of the data."""
    target = TARGETS[ModelKind.PURCHASE]
    external = dict(_customers_known(truth).values_list("pk", "external_id"))
    ids, matrix, _ = features_from_events(cutoff=truth.until)
    ids, matrix, _ = dataset(target, ids, matrix, np.zeros(len(ids)))
    keep = [i for i, customer_id in enumerate(ids) if customer_id in external]
    planted = [truth.customers[external[ids[i]]] for i in keep]
    x = matrix[keep]
    y = np.array([p.will_buy_next_30d for p in planted], dtype=int)
    evaluation = PropensityEvaluation(cutoff=truth.until, horizon_days=truth.horizon_days, customers=len(keep),
                                      buyers=int(y.sum()), not_scored=len(truth.customers) - len(keep))  # fmt: skip
    if not keep:
        evaluation.notes.append(f"Nobody to score as of {truth.until:%Y-%m-%d}: no customer of the ground truth "
                                "both allows personalization and was active before then.")  # fmt: skip
        return evaluation
    version = ModelVersion.objects.filter(kind=ModelKind.PURCHASE, status=ModelStatus.ACTIVE).first()
    if version is None:
        evaluation.notes.append(not_active(ModelKind.PURCHASE))
    else:
        evaluation.rows[f"XGBoost (active version #{version.pk})"] = classification_metrics(
            y, version_predict(version, x)
        )
    # The baseline learns from the windows the active version was fitted on (all of them,
    # as for service), or those a training at the end of the data would use.
    window = version.data_window if version else {}
    try:
        holdout_at = datetime.fromisoformat(window["holdout_cutoff"])
    except (KeyError, TypeError, ValueError):
        holdout_at = truth.until - target.horizon
    x_fit, y_fit = stacked(
        dataset(target, *features_from_events(cutoff=at, horizon=target.horizon))
        for at in [holdout_at, *training_cutoffs(holdout_at, target.horizon)]
    )
    if 0 < y_fit.sum() < len(y_fit):
        evaluation.rows["recency-frequency baseline"] = classification_metrics(
            y, baseline_predict(baseline_fit(x_fit, y_fit), x)
        )
    else:
        evaluation.notes.append(f"The recency-frequency baseline cannot be fitted: its {len(y_fit)} training rows "
                                f"have {int(y_fit.sum())} buyers.")  # fmt: skip
    evaluation.rows["planted probability (ceiling)"] = classification_metrics(
        y, np.array([p.purchase_probability_30d for p in planted])
    )
    return evaluation
