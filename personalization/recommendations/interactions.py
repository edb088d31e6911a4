"""What people did with products, as the weighted matrix ALS learns from.

Each event counts by its type (a view says less than an add to cart, which says less
than a purchase) and fades with age, halving every 30 days. Only people whose consent
allows personalization are in it; erased people have no events left to be in it, and
profiles merged into another count under the survivor.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import scipy.sparse as sp
from django.db.models import Count, Q
from django.db.models.functions import TruncDate

from consent.models import Purpose
from consent.selectors import customers_consenting
from personalization.models import Customer

WEIGHTS = {"Product Viewed": 1.0, "Product Clicked": 1.0, "Product Added to Wishlist": 2.0, "Product Added": 3.0,
           "Order Completed": 5.0}  # fmt: skip
HALF_LIFE = timedelta(days=30)
HORIZON = timedelta(days=365)  # older than this weighs under 1/4000


@dataclass(frozen=True)
class Interactions:
    customer_ids: np.ndarray  # row -> customer id
    skus: np.ndarray  # column -> product sku
    matrix: sp.csr_matrix  # customers x products, weights

    def row_of(self) -> dict[int, int]:
        return {int(c): i for i, c in enumerate(self.customer_ids)}

    def column_of(self) -> dict[str, int]:
        return {str(s): i for i, s in enumerate(self.skus)}


def decay(age: timedelta) -> float:
    return 0.5 ** (max(age, timedelta(0)) / HALF_LIFE)


def _product_events(now: datetime):
    """Events that name a product, per customer, product, type and day."""
    from tracking.models import Event

    return (
        Event.objects.filter(
            customer__isnull=False, product__isnull=False, type__in=WEIGHTS, occurred_at__gte=now - HORIZON,
            occurred_at__lte=now,
        )
        .annotate(day=TruncDate("occurred_at"))
        .values_list("customer_id", "product_id", "type", "day")
        .annotate(n=Count("id"))
    )  # fmt: skip


def personalizable() -> Q:
    """Customers who may be personalized: consent allows it, and not a merged tombstone."""
    allowed = customers_consenting(customers=Customer.objects.filter(merged_into__isnull=True),
                                   purpose=Purpose.PERSONALIZATION)  # fmt: skip
    return Q(customer_id__in=allowed.values("pk"))


def interactions_load(*, now: datetime, customer_ids: list[int] | None = None) -> Interactions:
    """The weighted matrix of everyone who may be personalized (or of some customers)."""
    rows = _product_events(now).filter(personalizable())
    if customer_ids is not None:
        rows = rows.filter(customer_id__in=customer_ids)
    weights: dict[tuple[int, str], float] = {}
    for customer_id, sku, event_type, day, n in rows.iterator(chunk_size=50_000):
        age = now - datetime(day.year, day.month, day.day, 12, tzinfo=now.tzinfo)
        key = (customer_id, sku)
        weights[key] = weights.get(key, 0.0) + WEIGHTS[event_type] * n * decay(age)
    customers = np.array(sorted({c for c, _ in weights}), dtype=np.int64)
    skus = np.array(sorted({s for _, s in weights}), dtype=object)
    row = {int(c): i for i, c in enumerate(customers)}
    column = {str(s): i for i, s in enumerate(skus)}
    keys = list(weights)
    matrix = sp.csr_matrix(
        (np.fromiter(weights.values(), dtype=np.float32, count=len(keys)),
         ([row[c] for c, _ in keys], [column[s] for _, s in keys])),
        shape=(len(customers), len(skus)),
    )  # fmt: skip
    return Interactions(customer_ids=customers, skus=skus, matrix=matrix)


def customer_row(*, customer_id: int, skus_column: dict[str, int], now: datetime) -> sp.csr_matrix:
    """One customer's weights over the model's products (products the model does not know are left out)."""
    weights = np.zeros(len(skus_column), dtype=np.float32)
    for _, sku, event_type, day, n in _product_events(now).filter(customer_id=customer_id):
        if sku in skus_column:
            age = now - datetime(day.year, day.month, day.day, 12, tzinfo=now.tzinfo)
            weights[skus_column[sku]] += WEIGHTS[event_type] * n * decay(age)
    return sp.csr_matrix(weights)


def interactions_rows():
    """Every product interaction of people who may be personalized, oldest first:
    (customer id, sku, when, weight of its type)."""
    from tracking.models import Event

    events = Event.objects.filter(customer__isnull=False, product__isnull=False, type__in=WEIGHTS)
    rows = (
        events.filter(personalizable())
        .order_by("occurred_at")
        .values_list("customer_id", "product_id", "occurred_at", "type")
    )
    for customer_id, sku, occurred_at, event_type in rows.iterator(chunk_size=50_000):
        yield customer_id, sku, occurred_at, WEIGHTS[event_type]
