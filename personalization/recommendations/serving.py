"""Recommendations for one customer: from the active ALS model when it knows them and
consent allows personalization, else from cold-start lists (of which only the one drawn
from their favorite categories needs that consent too). Every list says where it came from.

A customer's ranked list is cached in Redis (a day, or until their next events);
filters (out of stock, already bought, category, price) are applied when reading, so
one cached list serves every template. Factors are recomputed from the customer's
current events (`recalculate_user`), so a list is as fresh as their last event.

A list's key starts with the customer's cache prefix (core.cache), so that erasing the
person drops it, and names a generation that `recommendations_forget()` renews, so that
every list can be dropped at once without scanning for them.
"""

import functools
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import numpy as np
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from consent.selectors import can_personalize
from core.cache import cache_delete_prefix, customer_cache_prefix
from personalization.models import Customer, ModelKind, ModelStatus, ModelVersion, Product, Traits
from personalization.recommendations.interactions import WEIGHTS, customer_row
from personalization.recommendations.training import TrainedModel, als_new
from personalization.selectors import products_by_sku

CANDIDATES = 100  # ranked and cached per customer; filters pick from these
LIST_TTL = 24 * 3600
FILTERED_TTL = 300
SHARED_TTL = 300  # the cold-start lists everyone shares
TRENDING_WINDOW = timedelta(hours=24)
CACHE_PREFIX = "recs:"  # lists shared by everyone, and the generation of customers' lists
GENERATION_KEY = f"{CACHE_PREFIX}generation"
CATALOG_KEY = f"{CACHE_PREFIX}catalog"  # changes whenever a product does: filtered answers start afresh


class Source:
    """Where a list came from: one vocabulary for the API, templates and experiments."""

    MODEL = "model"
    VIEWED_CATEGORIES = "popular_in_viewed_categories"
    TRENDING = "trending_24h"
    POPULAR = "popular"


@dataclass(frozen=True)
class Recommendation:
    product: Product
    score: float
    because: str = ""  # "because you viewed X"


@dataclass(frozen=True)
class Recommendations:
    source: str
    items: list[Recommendation] = field(default_factory=list)
    model_version: int | None = None


# --- the model, loaded once per process and version --------------------------------------


def model_active() -> tuple[ModelVersion | None, TrainedModel | None]:
    version = (
        ModelVersion.objects.filter(kind=ModelKind.RECOMMENDER, status=ModelStatus.ACTIVE).only("pk").first()
    )  # fmt: skip
    return (version, _model(version.pk)) if version else (None, None)


@functools.lru_cache(maxsize=2)
def _model(version_id: int) -> TrainedModel:
    return TrainedModel.loads(ModelVersion.objects.values_list("artifact", flat=True).get(pk=version_id))


@functools.lru_cache(maxsize=2)
def _als(version_id: int):
    """An implicit model around the stored factors, for recalculate_user, recommend and explain.
    It folds customers in with the regularization and alpha the version was trained with."""
    trained = _model(version_id)
    als = als_new({**_trained_with(version_id), "factors": trained.item_factors.shape[1]})
    als.user_factors, als.item_factors = trained.user_factors, trained.item_factors
    return als


@functools.lru_cache(maxsize=2)
def _trained_with(version_id: int) -> dict:
    """The hyperparameters that fold a customer in as training did (regularization, alpha, weight scale)."""
    trained_with = ModelVersion.objects.values_list("hyperparameters", flat=True).get(pk=version_id)
    return {name: trained_with[name] for name in ("regularization", "alpha", "weight_scale") if name in trained_with}


def _customer_row(customer: Customer, version_id: int):
    """The customer's current weights, scaled as the training data was."""
    row = customer_row(customer_id=customer.pk, skus_column=_columns(version_id), now=timezone.now())
    return row * _trained_with(version_id).get("weight_scale", 1.0)


@functools.lru_cache(maxsize=2)
def _columns(version_id: int) -> dict[str, int]:
    return {str(sku): i for i, sku in enumerate(_model(version_id).skus)}


# --- ranking --------------------------------------------------------------------------------


def _ranked_by_model(customer: Customer, version_id: int) -> list[tuple[str, float]] | None:
    """The customer's top candidates from their current events, or None if they have none."""
    trained, als = _model(version_id), _als(version_id)
    row = _customer_row(customer, version_id)
    if row.nnz == 0:
        return None
    factors = als.recalculate_user(0, row)
    scores = trained.item_factors @ np.asarray(factors).ravel()
    scores[row.indices] = -np.inf  # what they already interacted with is not news
    best = np.argpartition(-scores, min(CANDIDATES, len(scores) - 1))[:CANDIDATES]
    best = best[np.argsort(-scores[best])]
    return [(str(trained.skus[i]), float(scores[i])) for i in best if np.isfinite(scores[i])]


def _popular(*, since=None) -> list[tuple[str, float]]:
    """Products by how many times people engaged with them (in 30 days, or since `since`)."""
    from tracking.models import Event

    events = Event.objects.filter(type__in=WEIGHTS, product__isnull=False)
    events = events.filter(occurred_at__gte=since or timezone.now() - timedelta(days=30))
    counts = events.values("product_id").annotate(n=Count("id")).order_by("-n")[:CANDIDATES]
    return [(row["product_id"], float(row["n"])) for row in counts]


def _popular_by_category() -> dict[str, list[tuple[str, float]]]:
    """Each category's popular products (30 days), from one query: "popular in their favorite
    categories" is then a merge of a few lists, not a query per set of favorites."""
    from tracking.models import Event

    events = Event.objects.filter(type__in=WEIGHTS, product__isnull=False,
                                  occurred_at__gte=timezone.now() - timedelta(days=30))  # fmt: skip
    counts = events.values("product_id", "product__category").annotate(n=Count("id")).order_by("-n")
    by_category: dict[str, list[tuple[str, float]]] = {}
    for row in counts:
        listed = by_category.setdefault(row["product__category"] or "", [])
        if len(listed) < CANDIDATES:
            listed.append((row["product_id"], float(row["n"])))
    return by_category


def _popular_in(categories: list[str], by_category: dict | None = None) -> list[tuple[str, float]]:
    """The most popular products of these categories together: their lists merged."""
    by_category = _cached("popular-by-category", _popular_by_category) if by_category is None else by_category
    merged = [item for category in set(categories) for item in by_category.get(category, [])]
    return sorted(merged, key=lambda item: (-item[1], item[0]))[:CANDIDATES]


def _cold_start(
    customer: Customer, *, personal: bool, favorites: list[str] | None = None, shared: "_SharedLists | None" = None
) -> tuple[str, list[tuple[str, float]]]:
    """Popular in their favorite categories (if their consent allows personalization), else
    trending in the last 24 hours, else popular overall. A batch passes the lists it shares."""
    if personal and favorites is None:
        favorites = Traits.objects.filter(customer=customer).values_list("favorite_categories", flat=True).first()
    if personal and favorites:
        ranked = shared.popular_in(favorites) if shared is not None else _popular_in(favorites)
        if ranked:
            return Source.VIEWED_CATEGORIES, ranked
    read = shared.get if shared is not None else _cached
    trending = read("trending", lambda: _popular(since=timezone.now() - TRENDING_WINDOW))
    popular = read("popular", _popular)
    if trending:
        # A quiet day's trending list can be shorter than a list asked for: popular fills the rest.
        listed = {sku for sku, _ in trending}
        return Source.TRENDING, trending + [item for item in popular if item[0] not in listed]
    return Source.POPULAR, popular


def _hashed(text: str) -> str:
    """Names in cache keys, whatever characters they hold."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _shared_key(name: str) -> str:
    return f"{CACHE_PREFIX}shared:{name}"


def _cached(name: str, compute):
    return cache.get_or_set(_shared_key(name), compute, timeout=SHARED_TTL)


class _SharedLists:
    """The cold-start lists one batch shares, read from the cache in one round trip (one
    missing is computed and cached as `_cached` does), and each set of favorite categories
    merged once: what `_cold_start` reads, without a round trip per customer."""

    NAMES = ("popular-by-category", "trending", "popular")

    def __init__(self):
        found = cache.get_many([_shared_key(name) for name in self.NAMES])
        self._lists = {name: found[_shared_key(name)] for name in self.NAMES if _shared_key(name) in found}
        self._merged: dict[frozenset[str], list[tuple[str, float]]] = {}

    def get(self, name: str, compute):
        if name not in self._lists:
            self._lists[name] = _cached(name, compute)
        return self._lists[name]

    def popular_in(self, categories: list[str]) -> list[tuple[str, float]]:
        named = frozenset(categories)  # _popular_in merges a set: the order of favorites does not matter
        if named not in self._merged:
            self._merged[named] = _popular_in(categories, self.get("popular-by-category", _popular_by_category))
        return self._merged[named]


def _list_keys(customer_ids) -> dict[str, int]:
    """{cache key of the customer's list: customer id}, in the current generation."""
    generation = cache.get_or_set(GENERATION_KEY, lambda: secrets.token_hex(4), timeout=None)
    return {f"{customer_cache_prefix(c)}recs:{generation}": c for c in customer_ids}


def _ranked(customer: Customer, *, personal: bool | None = None, favorites: list[str] | None = None):
    """(source, ranked candidates, model version, the ranking's id), cached per customer.
    A consent change drops the cached list (receivers.py), so a cached list is allowed.
    Callers that already know the customer's consent (`personal`) or favorite categories
    pass them, so that a batch asks the database once for all."""
    [key] = _list_keys([customer.pk])
    cached = cache.get(key)
    return cached if cached is not None else _rank_and_cache(key, customer, personal, favorites)


def _rank_and_cache(key: str, customer: Customer, personal: bool | None, favorites: list[str] | None, active=None):
    result = _rank(customer, personal, favorites, active)
    cache.set(key, result, timeout=LIST_TTL)
    return result


def _rank(customer: Customer, personal: bool | None, favorites: list[str] | None, active=None, shared=None):
    """(source, ranked candidates, model version, the ranking's id). A batch asks for the
    active model and reads its shared lists once for all (`active`, `shared`)."""
    version, _ = active or model_active()
    ranked = None
    personal = can_personalize(customer) if personal is None else personal
    if version is not None and personal:
        ranked = _ranked_by_model(customer, version.pk)
    if ranked:
        chosen = (Source.MODEL, ranked, version.pk)
    else:
        chosen = (*_cold_start(customer, personal=personal, favorites=favorites, shared=shared), None)
    return (*chosen, secrets.token_hex(4))


# --- the public reads --------------------------------------------------------------------------


def recommendations_for(
    *, customer: Customer, limit: int = 10, category: str = "", max_price: Decimal | None = None,
    explain: bool = False,
) -> Recommendations:  # fmt: skip
    """Top products for a customer: in stock, not bought already, filtered as asked.
    The filtered answer is cached under its ranking and the catalog's version: a new ranking
    (new events, consent, a new model) or a changed product answers afresh."""
    source, ranked, version_id, ranking = _ranked(customer)
    [list_key] = _list_keys([customer.pk])
    catalog = cache.get_or_set(CATALOG_KEY, lambda: secrets.token_hex(4), timeout=None)
    key = f"{list_key}:{ranking}:{catalog}:{limit}:{_hashed(category)}:{max_price}:{explain}"
    answer = cache.get(key)
    if answer is None:
        answer = _filtered(customer, source, ranked, version_id, limit=limit, category=category,
                           max_price=max_price, explain=explain)  # fmt: skip
        cache.set(key, answer, timeout=FILTERED_TTL)
    return answer


def _filtered(customer, source, ranked, version_id, *, limit, category, max_price, explain) -> Recommendations:
    products = Product.objects.in_bulk([sku for sku, _ in ranked], field_name="sku")
    items = _pick(ranked, products, _bought_by([customer.pk])[customer.pk], limit, category, max_price)
    if explain and source == Source.MODEL:
        reasons = _because(customer, version_id, [i.product.sku for i in items])
        items = [Recommendation(i.product, i.score, reasons.get(i.product.sku, "")) for i in items]
    return Recommendations(source=source, items=items, model_version=version_id)


def _pick(ranked, products: dict, bought: set[str], limit: int, category: str, max_price) -> list[Recommendation]:
    """The first `limit` candidates in stock, not bought already, in the category and price asked."""
    items = []
    for sku, score in ranked:
        product = products.get(sku)
        if product is None or not product.in_stock or sku in bought:
            continue
        if (category and product.category != category) or (max_price is not None and product.price > max_price):
            continue
        items.append(Recommendation(product=product, score=round(score, 4)))
        if len(items) == limit:
            break
    return items


def _bought_by(customer_ids: list[int]) -> dict[int, set[str]]:
    """The SKUs each customer ordered, in one query."""
    from tracking.models import Event

    bought: dict[int, set[str]] = {customer_id: set() for customer_id in customer_ids}
    orders = Event.objects.filter(customer_id__any_of=customer_ids, type="Order Completed")
    for customer_id, sku, properties in orders.values_list("customer_id", "product_id", "properties"):
        skus = bought[customer_id]
        if sku:
            skus.add(sku)
        products = properties.get("products") if isinstance(properties.get("products"), list) else []
        skus.update(str(p.get("product_id") or p.get("sku")) for p in products if isinstance(p, dict))
    return bought


@dataclass(frozen=True)
class Candidates:
    """A customer's ranked candidates with what filtering them needs, read in bulk: one
    list serves any count, category and price a template asks for."""

    source: str
    ranked: list[tuple[str, float]]
    model_version: int | None
    products: dict[str, Product]
    bought: set[str]

    def pick(self, *, limit: int = 10, category: str = "", max_price: Decimal | None = None) -> Recommendations:
        items = _pick(self.ranked, self.products, self.bought, limit, category, max_price)
        return Recommendations(source=self.source, items=items, model_version=self.model_version)


def recommendation_candidates_many(*, customers: list[Customer], personal_ids: set[int]) -> dict[int, Candidates]:
    """Candidates for many customers at once (`personal_ids`: those whose consent allows
    personalization): cached lists in one round trip, the others ranked and cached, and
    products and past orders in one query each."""
    keys = _list_keys([c.pk for c in customers])
    cached = cache.get_many(keys)
    by_id = {c.pk: c for c in customers}
    missing = [by_id[keys[k]] for k in keys if k not in cached]
    favorites = dict(
        Traits.objects.filter(customer__in=[c for c in missing if c.pk in personal_ids]).values_list(
            "customer_id", "favorite_categories"
        )
    )
    lists = {keys[k]: value for k, value in cached.items()}
    if missing:
        active, shared, ranked_now = model_active(), _SharedLists(), {}
        for key, customer_id in keys.items():
            if customer_id not in lists:
                personal, liked = customer_id in personal_ids, favorites.get(customer_id, [])
                lists[customer_id] = ranked_now[key] = _rank(by_id[customer_id], personal, liked, active, shared)
        cache.set_many(ranked_now, timeout=LIST_TTL)  # the batch's new lists in one round trip
    skus = {sku for _, ranked, _, _ in lists.values() for sku, _ in ranked}
    products = catalog_products(skus=skus)
    bought = _bought_by(list(lists))
    return {
        customer_id: Candidates(source, ranked, version, products, bought[customer_id])
        for customer_id, (source, ranked, version, _) in lists.items()
    }


def model_candidates_many(*, customers: list[Customer], version_id: int) -> dict[int, Candidates]:
    """What one version of the model ranks for each of `customers` it can rank (those with
    product events it knows), whatever the version's status and past the cache: for judging
    a version apart from what is served. Consent is the caller's to check."""
    ranked = {customer.pk: found for customer in customers if (found := _ranked_by_model(customer, version_id))}
    products = Product.objects.in_bulk(list({sku for found in ranked.values() for sku, _ in found}), field_name="sku")
    bought = _bought_by(list(ranked))
    return {
        customer_id: Candidates(Source.MODEL, found, version_id, products, bought[customer_id])
        for customer_id, found in ranked.items()
    }


def _because(customer: Customer, version_id: int, skus: list[str]) -> dict[str, str]:
    """For each recommended product, the product of the customer's history that weighs most
    in it (ALS explain): "because you viewed X"."""
    columns, trained = _columns(version_id), _model(version_id)
    row = _customer_row(customer, version_id)
    weights, strongest = None, {}
    for sku in skus:
        _, contributions, weights = _als(version_id).explain(0, row, columns[sku], user_weights=weights, N=1)
        if contributions:
            strongest[sku] = str(trained.skus[contributions[0][0]])
    names = dict(Product.objects.filter(sku__in=strongest.values()).values_list("sku", "name"))
    return {sku: f"because you viewed {names.get(source, source)}" for sku, source in strongest.items()}


def popular_products(*, limit: int = 8) -> dict[str, list[Product]]:
    """Lists that are the same for everyone, in stock: popular (30 days) and trending (24 hours)."""
    ranked = {
        "popular": _cached("popular", _popular),
        "trending": _cached("trending", lambda: _popular(since=timezone.now() - TRENDING_WINDOW)),
    }
    products = Product.objects.in_bulk([sku for lists in ranked.values() for sku, _ in lists], field_name="sku")
    return {
        name: [item.product for item in _pick(lists, products, set(), limit, "", None)]
        for name, lists in ranked.items()
    }


def recommendations_forget(*, customer_ids=None) -> None:
    """Drop cached lists (of some customers, or all): the next read ranks afresh."""
    if customer_ids is None:
        cache_delete_prefix(CACHE_PREFIX)  # the shared lists, and the generation: a new one starts
        return
    cache.delete_many(list(_list_keys(customer_ids)))


def recommendations_follow_events(*, customer_ids: set[int]) -> int:
    """After new product events: lists someone has read are ranked again now from the
    customers' current events; the others are simply dropped. Returns how many were ranked."""
    keys = _list_keys(customer_ids)
    in_use = cache.get_many(keys)
    cache.delete_many(keys)
    for customer in Customer.objects.filter(pk__in=[keys[k] for k in in_use]):
        _ranked(customer)
    return len(in_use)


def recommendations_catalog_changed() -> None:
    """A product changed (stock, price, category): a new generation of the catalog, so that
    filtered answers and each process's copy (`catalog_products`) start afresh. At once, so
    that the changing transaction's own reads see it, and again at its commit, so that no
    process keeps what it read of the products in between."""
    cache.delete(CATALOG_KEY)
    transaction.on_commit(lambda: cache.delete(CATALOG_KEY))


CATALOG_KEPT = 20_000  # products kept in a process's copy of the catalog


@dataclass
class _CatalogCopy:
    generation: str = ""
    products: dict[str, Product | None] = field(default_factory=dict)  # None: no such product


_catalog = _CatalogCopy()


def catalog_products(*, skus: Iterable[str]) -> dict[str, Product]:
    """{sku: product}, with what a message shows of it, from this process's copy of the
    catalog's current generation: a campaign's batches show the same products over and
    over, and read each once (a batch of 200 recipients read the whole catalog)."""
    generation = cache.get_or_set(CATALOG_KEY, lambda: secrets.token_hex(4), timeout=None)
    if generation != _catalog.generation or len(_catalog.products) > CATALOG_KEPT:
        _catalog.generation, _catalog.products = generation, {}
    known = _catalog.products
    missing = [sku for sku in skus if sku not in known]
    if missing:
        found = products_by_sku(skus=missing)
        known.update({sku: found.get(sku) for sku in missing})
    return {sku: product for sku in skus if (product := known[sku]) is not None}
