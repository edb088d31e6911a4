"""Features for purchase and churn propensity, as of a cutoff moment, from orders and
activity before it; and the labels: what each customer did in the horizon after it.

One code path serves the shop's events (`features_from_events`) and a bare order log
(`features_from_orders`, for evaluate_propensity on CDNOW): both end in `OrderHistory`
rows, so the model sees the same features either way.
"""

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

FEATURES = [
    "days_since_last_order", "orders", "log_spend", "orders_30d", "orders_90d", "orders_180d",
    "average_order", "days_since_first_order", "order_trend", "views_30d", "adds_30d", "visits_30d",
    "email_engagement_30d", "categories", "mean_gap_days", "overdue", "last_order_amount", "orders_365d",
]  # fmt: skip
NEVER = 3650.0  # days, for "no order yet"


@dataclass
class History:
    """What one customer did before the cutoff."""

    orders: list[tuple[datetime, float]] = field(default_factory=list)
    views_30d: int = 0
    adds_30d: int = 0
    visits_30d: int = 0
    email_30d: int = 0
    categories: set = field(default_factory=set)


def _row(history: History, cutoff: datetime) -> list[float]:
    times = sorted(at for at, _ in history.orders)
    spend = sum(amount for _, amount in history.orders)
    days = lambda at: (cutoff - at).total_seconds() / 86400  # noqa: E731
    within = lambda span: sum(1 for at in times if days(at) <= span)  # noqa: E731
    recent, before = within(90), sum(1 for at in times if 90 < days(at) <= 180)
    gap = (days(times[0]) - days(times[-1])) / (len(times) - 1) if len(times) > 1 else 0.0
    last_amount = max(history.orders)[1] if history.orders else 0.0
    return [
        days(times[-1]) if times else NEVER,
        len(times),
        math.log1p(spend),
        within(30),
        recent,
        within(180),
        spend / len(times) if times else 0.0,
        days(times[0]) if times else NEVER,
        recent - before,
        history.views_30d,
        history.adds_30d,
        history.visits_30d,
        history.email_30d,
        len(history.categories),
        gap,
        (days(times[-1]) / gap) if times and gap else 0.0,  # how late against their own rhythm
        last_amount,
        within(365),
    ]


def feature_matrix(histories: dict, cutoff: datetime) -> tuple[list, np.ndarray]:
    ids = sorted(histories)
    return ids, np.array([_row(histories[i], cutoff) for i in ids], dtype=np.float64).reshape(len(ids), len(FEATURES))


def labels_purchase(future_orders: dict, ids: list) -> np.ndarray:
    """1 for customers who order in the horizon after the cutoff."""
    return np.array([1 if future_orders.get(i) else 0 for i in ids])


def features_from_orders(orders: list[tuple[str, datetime, float]], cutoff: datetime, horizon: timedelta):
    """From a bare order log: (ids, features, labels) for everyone who ordered before the cutoff."""
    histories: dict[str, History] = defaultdict(History)
    future: dict[str, int] = defaultdict(int)
    for customer, at, amount in orders:
        if at < cutoff:
            histories[customer].orders.append((at, amount))
        elif at < cutoff + horizon:
            future[customer] += 1
    ids, matrix = feature_matrix(dict(histories), cutoff)
    return ids, matrix, labels_purchase(future, ids)


def features_from_events(*, cutoff: datetime, horizon: timedelta | None = None, customer_ids=None):
    """From the shop's events: (customer ids, features, labels or None) for customers
    active before the cutoff who may be personalized."""
    from django.db.models import Count, Q

    from personalization.recommendations.interactions import personalizable
    from personalization.services import order_value
    from personalization.services.traits import MACHINE
    from tracking.models import Event

    window = cutoff - timedelta(days=30)
    events = Event.objects.filter(customer__isnull=False, occurred_at__lt=cutoff).filter(personalizable())
    if customer_ids is not None:
        events = events.filter(customer_id__any_of=customer_ids)
    histories: dict[int, History] = defaultdict(History)
    orders = events.filter(type="Order Completed").values_list("customer_id", "occurred_at", "properties")
    for customer_id, at, properties in orders.iterator(chunk_size=20_000):
        histories[customer_id].orders.append((at, float(order_value(properties))))
    recent = (
        events.filter(occurred_at__gte=window)
        .values("customer_id")
        .annotate(
            views=Count("id", filter=Q(type="Product Viewed")),
            adds=Count("id", filter=Q(type="Product Added")),
            visits=Count("id", filter=Q(type="Page Viewed")),
            email=Count("id", filter=Q(type__in=["Email Opened", "Email Link Clicked"]) & ~MACHINE),
        )
    )
    for row in recent.iterator(chunk_size=20_000):
        history = histories[row["customer_id"]]
        history.views_30d, history.adds_30d, history.visits_30d, history.email_30d = (
            row["views"],
            row["adds"],
            row["visits"],
            row["email"],
        )
    categories = events.exclude(product__category__isnull=True).values_list("customer_id", "product__category")
    for customer_id, category in categories.distinct().iterator(chunk_size=20_000):
        if customer_id in histories and category:
            histories[customer_id].categories.add(category)
    ids, matrix = feature_matrix(dict(histories), cutoff)
    if horizon is None:
        return ids, matrix, None
    later = Event.objects.filter(type="Order Completed", customer_id__any_of=ids, occurred_at__gte=cutoff,
                                 occurred_at__lt=cutoff + horizon)  # fmt: skip
    future = dict(later.values("customer_id").annotate(n=Count("id")).values_list("customer_id", "n"))
    return ids, matrix, labels_purchase(future, ids)
