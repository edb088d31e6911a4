"""Derived traits: engagement (decaying with time), favorite categories, email and
site activity in the last 30 days, average order value and RFM scores.

They are folded in as events are processed (`traits_fold`) and recomputed in full
from all events by a scheduled task (`traits_recompute`), which also sets the RFM
quintiles that the incremental updates score new orders against.
"""

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Case, CharField, Count, F, IntegerField, Q, Value, When
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, NullIf, TruncDate
from django.utils import timezone

from core.db import rows_upsert
from personalization.models import Traits, TraitsRun

HALF_LIFE = timedelta(days=14)
# Scores are kept as log2 of their value at this moment, so that a score's decay
# needs no write and "score >= X now" is a plain comparison with a number.
REFERENCE = datetime(2026, 1, 1, tzinfo=UTC)
ENGAGEMENT_WEIGHTS = {
    "Page Viewed": 1, "Product Viewed": 1, "Product Added": 3, "Checkout Started": 3, "Order Completed": 5,
    "Email Opened": 1, "Email Link Clicked": 3,
}  # fmt: skip
ENGAGEMENT_EVENTS = frozenset(ENGAGEMENT_WEIGHTS)
ENGAGEMENT_HORIZON = timedelta(days=180)  # older activity weighs under 1/7000: left out of the recompute
CATEGORY_WEIGHTS = {"Product Viewed": 1, "Product Added": 3, "Order Completed": 5}
FAVORITES = 3
WINDOW_COUNTS = {"email_opens_30d": "Email Opened", "email_clicks_30d": "Email Link Clicked",
                 "site_visits_30d": "Page Viewed"}  # fmt: skip
WINDOW = timedelta(days=30)
UPSERT_CHUNK = 10_000  # rows of the full recompute written a statement at a time


def _halvings(at: datetime) -> float:
    return (at - REFERENCE) / HALF_LIFE


def engagement_add(log: float | None, weight: float, at: datetime) -> float:
    """The score with `weight` more at moment `at`, in log form (log-sum-exp keeps it finite)."""
    term = math.log2(weight) + _halvings(at)
    if log is None:
        return term
    high, low = max(log, term), min(log, term)
    return high + math.log2(1 + 2 ** (low - high))


def engagement_now(log: float | None, now: datetime) -> float:
    return 0.0 if log is None else 2 ** (log - _halvings(now))


def engagement_log_threshold(score: float, now: datetime) -> float:
    """The stored value at which the score is exactly `score` at `now` (score > 0)."""
    return math.log2(score) + _halvings(now)


# Tracking flags scanner opens and clicks with a "bot" property; one meaning everywhere
# (here, the full recompute and the rule "bot is not set"): present and not null.
MACHINE = Q(properties__has_key="bot") & ~Q(properties__bot=None)


def _machine(event) -> bool:
    """Opens and clicks from link scanners say nothing about a person."""
    return event.properties.get("bot") is not None


def traits_fold(traits: Traits, events, *, categories: dict[str, str], breakpoints: dict, now: datetime) -> None:
    """Add a customer's newly processed events (oldest first) to their derived traits."""
    weights = dict(traits.category_weights)
    for event in events:
        weight = ENGAGEMENT_WEIGHTS.get(event.type)
        if weight and not _machine(event):
            traits.engagement_log = engagement_add(traits.engagement_log, weight, event.occurred_at)
            traits.engagement_at = max(filter(None, [traits.engagement_at, event.occurred_at]))
        for field, event_type in WINDOW_COUNTS.items():
            if event.type == event_type and event.occurred_at >= now - WINDOW and not _machine(event):
                setattr(traits, field, getattr(traits, field) + 1)
        category = event.properties.get("category") or categories.get(event.product_sku, "")
        if event.type in CATEGORY_WEIGHTS and isinstance(category, str) and category:
            weights[category] = weights.get(category, 0) + CATEGORY_WEIGHTS[event.type]
    traits.category_weights = weights
    traits.favorite_categories = favorites(weights)
    traits.average_order_value = _average(traits)
    if breakpoints and traits.order_count:
        traits.rfm_recency, traits.rfm_frequency, traits.rfm_monetary = rfm_scores(traits, breakpoints, now=now)


def traits_derived_merge(ours: Traits, theirs: Traits) -> None:
    """Add what was derived on a merged profile (RFM waits for the next recompute)."""
    if theirs.engagement_log is not None:
        # Both logs are expressed at REFERENCE, so adding theirs at REFERENCE is exact.
        ours.engagement_log = engagement_add(ours.engagement_log, 2**theirs.engagement_log, REFERENCE)
        ours.engagement_at = max(filter(None, [ours.engagement_at, theirs.engagement_at]))
    weights = dict(ours.category_weights)
    for category, weight in theirs.category_weights.items():
        weights[category] = weights.get(category, 0) + weight
    ours.category_weights, ours.favorite_categories = weights, favorites(weights)
    for field in WINDOW_COUNTS:
        setattr(ours, field, getattr(ours, field) + getattr(theirs, field))
    ours.average_order_value = _average(ours)


def _average(traits: Traits) -> Decimal:
    return (traits.revenue / traits.order_count).quantize(Decimal("0.01")) if traits.order_count else Decimal(0)


def favorites(weights: dict[str, float]) -> list[str]:
    return [name for name, _ in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:FAVORITES]]


# --- RFM ---------------------------------------------------------------------------------


def _quintile_bounds(values: list[float]) -> list[float]:
    """The four values that cut `values` into fifths: the highest value of each of the first four."""
    ordered = sorted(values)
    # The q-th fifth ends at rank ceil(n q / 5) (1-based), so that ten values make fifths of two.
    return [ordered[max(0, -(-len(ordered) * q // 5) - 1)] for q in (1, 2, 3, 4)]


def _score(value: float, bounds: list[float]) -> int:
    """1 to 5: how many fifths of the base this value reaches (ties score alike)."""
    return 1 + sum(value > bound for bound in bounds)


def rfm_scores(traits: Traits, breakpoints: dict, *, now: datetime) -> tuple[int, int, int]:
    days = (now - traits.last_order_at).days if traits.last_order_at else 10**6
    return (
        6 - _score(days, breakpoints["recency_days"]),  # fewer days since the last order is better
        _score(traits.order_count, breakpoints["frequency"]),
        _score(float(traits.revenue), breakpoints["monetary"]),
    )


def _rfm_breakpoints(now: datetime) -> dict:
    rows = list(Traits.objects.filter(order_count__gt=0).values_list("last_order_at", "order_count", "revenue"))
    if not rows:
        return {}
    return {
        "recency_days": _quintile_bounds([(now - last).days for last, _, _ in rows]),
        "frequency": _quintile_bounds([count for _, count, _ in rows]),
        "monetary": _quintile_bounds([float(revenue) for _, _, revenue in rows]),
        "customers": len(rows),
    }


def _score_case(column, bounds: list[float]) -> Case:
    """_score in SQL."""
    whens = [When(**{f"{column}__lte": bound}, then=Value(i)) for i, bound in enumerate(bounds, 1)]
    return Case(*whens, default=Value(5), output_field=IntegerField())


def _rfm_apply(breakpoints: dict, now: datetime) -> None:
    """Score everyone who ordered in three UPDATEs; scoring by days since the last order
    is done on the date itself (a later order means fewer days)."""
    buyers = Traits.objects.filter(order_count__gt=0)
    # whole days <= bound  <=>  last_order_at > now - (bound + 1) days: 5 for the most recent fifth
    recency_dates = [now - timedelta(days=days + 1) for days in breakpoints["recency_days"]]
    whens = [When(last_order_at__gt=at, then=Value(6 - i)) for i, at in enumerate(recency_dates, 1)]
    buyers.update(
        rfm_recency=Case(*whens, default=Value(1), output_field=IntegerField()),
        rfm_frequency=_score_case("order_count", breakpoints["frequency"]),
        rfm_monetary=_score_case("revenue", breakpoints["monetary"]),
    )
    Traits.objects.filter(order_count=0).update(rfm_recency=None, rfm_frequency=None, rfm_monetary=None)


def rfm_breakpoints_current() -> dict:
    """The quintiles of the last successful full recompute ({} before the first)."""
    run = TraitsRun.objects.filter(succeeded=True).only("rfm_breakpoints").first()
    return run.rfm_breakpoints if run else {}


# --- the full recompute --------------------------------------------------------------------


def traits_recompute(*, now: datetime | None = None) -> TraitsRun:
    """Recompute everyone's derived traits from their events, and the RFM quintiles."""
    now = now or timezone.now()
    run = TraitsRun.objects.create()
    try:
        with transaction.atomic():
            _window_counts_recompute(now)
            _engagement_recompute(now)
            _categories_recompute()
            Traits.objects.filter(order_count__gt=0).update(average_order_value=F("revenue") / F("order_count"))
            breakpoints = _rfm_breakpoints(now)
            if breakpoints:
                _rfm_apply(breakpoints, now)
            customers = Traits.objects.update(computed_at=now)
    except Exception as error:
        TraitsRun.objects.filter(pk=run.pk).update(finished_at=timezone.now(), succeeded=False, error=str(error))
        raise
    TraitsRun.objects.filter(pk=run.pk).update(
        finished_at=timezone.now(), succeeded=True, customers=customers, rfm_breakpoints=breakpoints
    )
    run.refresh_from_db()
    return run


def _window_counts_recompute(now: datetime) -> None:
    from tracking.models import Event

    # One pass over the window's events, grouped by customer (a subquery per customer was
    # a hundred times slower).
    counts = (
        Event.objects.filter(customer__isnull=False, type__in=WINDOW_COUNTS.values(), occurred_at__gte=now - WINDOW)
        .exclude(MACHINE)
        .values("customer")
        .annotate(**{field: Count("id", filter=Q(type=event_type)) for field, event_type in WINDOW_COUNTS.items()})
    )
    Traits.objects.update(**dict.fromkeys(WINDOW_COUNTS, 0))
    _upsert([Traits(customer_id=row.pop("customer"), **row) for row in counts.iterator(chunk_size=20_000)],
            list(WINDOW_COUNTS))  # fmt: skip


def _engagement_recompute(now: datetime) -> None:
    """Summed per day (decay within a day is under 5%), in Python: portable and one pass."""
    from tracking.models import Event

    daily = (
        Event.objects.filter(
            customer__isnull=False, type__in=ENGAGEMENT_EVENTS, occurred_at__gte=now - ENGAGEMENT_HORIZON
        )
        .exclude(MACHINE)
        .annotate(day=TruncDate("occurred_at"))
        .values_list("customer", "type", "day")
        .annotate(n=Count("id"))
    )
    logs: dict[int, float] = {}
    for customer_id, event_type, day, n in daily.iterator(chunk_size=20_000):
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        logs[customer_id] = engagement_add(logs.get(customer_id), ENGAGEMENT_WEIGHTS[event_type] * n, min(noon, now))
    Traits.objects.update(engagement_log=None, engagement_at=None)
    _upsert([Traits(customer_id=c, engagement_log=log, engagement_at=now) for c, log in logs.items()],
            ["engagement_log", "engagement_at"])  # fmt: skip


def _categories_recompute() -> None:
    from tracking.models import Event

    rows = (
        Event.objects.filter(customer__isnull=False, type__in=CATEGORY_WEIGHTS)
        # As the fold does: the event's own category, else the catalog's (an empty one counts as none).
        .annotate(
            category=Coalesce(
                NullIf(KT("properties__category"), Value("")), "product__category", output_field=CharField()
            )
        )
        .exclude(Q(category__isnull=True) | Q(category=""))
        .values_list("customer", "type", "category")
        .annotate(n=Count("id"))
    )
    weights: dict[int, dict[str, int]] = defaultdict(dict)
    for customer_id, event_type, category, n in rows.iterator(chunk_size=20_000):
        weights[customer_id][category] = weights[customer_id].get(category, 0) + CATEGORY_WEIGHTS[event_type] * n
    Traits.objects.update(category_weights={}, favorite_categories=[])
    _upsert([Traits(customer_id=c, category_weights=w, favorite_categories=favorites(w)) for c, w in weights.items()],
            ["category_weights", "favorite_categories"])  # fmt: skip


def _upsert(rows: list[Traits], fields: list[str]) -> None:
    for start in range(0, len(rows), UPSERT_CHUNK):
        rows_upsert(Traits, rows[start : start + UPSERT_CHUNK], unique_fields=["customer"], update_fields=fields)
