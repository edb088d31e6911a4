"""Folding processed events into profiles: seen times, counts per event type,
orders and revenue, what was viewed last, the cart, and identify traits.

Each update is safe whatever order events arrive in: counts add up, seen times
take the minimum and maximum, lists keep the newest by the time things happened,
and an item added before the last order is not put back in the cart.
"""

from collections import defaultdict
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.utils import timezone

from core.db import rows_update, rows_upsert
from core.normalize import email_normalize
from personalization.models import Customer, Product, Traits, validate_timezone
from personalization.services.traits import CATEGORY_WEIGHTS, rfm_breakpoints_current, traits_derived_merge, traits_fold
from tracking.hooks import EventFact
from tracking.models import OWN_EVENT_TYPES, EventType

SEEN_FIELDS = ["first_seen_at", "last_seen_at", "updated_at"]
PROFILE_FIELDS = [*SEEN_FIELDS, "email", "first_name", "last_name", "timezone", "locale", "attributes"]
LAST_VIEWED = 20  # products remembered as viewed last
# Identify traits that have a column of their own; every other trait goes to attributes.
PROFILE_TRAITS = {
    "email": "email",
    "firstName": "first_name",
    "first_name": "first_name",
    "lastName": "last_name",
    "last_name": "last_name",
    "timezone": "timezone",
    "locale": "locale",
}


def profiles_update(*, facts: list[EventFact]) -> None:
    """Fold a batch of processed events into their customers' profiles and traits."""
    by_customer: dict[int, list[EventFact]] = defaultdict(list)
    for fact in facts:
        if fact.customer_id is not None:
            by_customer[fact.customer_id].append(fact)
    if not by_customer:
        return
    ids = sorted(by_customer)
    now, breakpoints = timezone.now(), rfm_breakpoints_current()
    skus = {f.product_sku for f in facts if f.product_sku and f.type in CATEGORY_WEIGHTS}
    categories = dict(Product.objects.filter(sku__in=skus).values_list("sku", "category")) if skus else {}
    # Locked in id order, so that two batches touching the same people cannot deadlock; and
    # FOR NO KEY UPDATE (keys never change here), so that the foreign-key checks of events
    # stored meanwhile for these people do not wait for the batch to commit.
    locked_traits = Traits.objects.select_for_update(no_key=True).filter(customer_id__any_of=ids).order_by("pk")
    traits = {t.customer_id: t for t in locked_traits}
    identified = {f.customer_id for f in facts if f.type == EventType.IDENTIFY and f.customer_id is not None}
    customers = _customers_locked(ids, identified)
    for customer_id in ids:
        if customer_id not in customers:
            continue  # erased while its events waited
        events = sorted(by_customer[customer_id], key=lambda f: (f.occurred_at, f.id))
        if customer_id not in traits:
            traits[customer_id] = Traits(customer_id=customer_id)
        customer_traits = traits[customer_id]
        _fold(customer_traits, events)
        traits_fold(customer_traits, events, categories=categories, breakpoints=breakpoints, now=now)
        _seen(customers[customer_id], [f for f in events if f.type not in OWN_EVENT_TYPES])
        _identify(customers[customer_id], [f for f in events if f.type == EventType.IDENTIFY])
    rows_upsert(
        Traits,
        [traits[i] for i in ids if i in customers],
        unique_fields=["customer"],
        update_fields=[
            "event_counts", "order_count", "revenue", "first_order_at", "last_order_at", "last_viewed", "cart",
            "cart_updated_at", "updated_at", "average_order_value", "rfm_recency", "rfm_frequency", "rfm_monetary",
            "engagement_log", "engagement_at", "category_weights", "favorite_categories", "email_opens_30d",
            "email_clicks_30d", "site_visits_30d",
        ],
    )  # fmt: skip
    rows_update(Customer, [c for c in customers.values() if c.pk not in identified], fields=SEEN_FIELDS)
    rows_update(Customer, [c for c in customers.values() if c.pk in identified], fields=PROFILE_FIELDS)


def _customers_locked(ids: list[int], identified: set[int]) -> dict[int, Customer]:
    """The batch's customers, locked. Most only need when they were seen: the rows of those
    with identify events are read whole (reading every row whole was a tenth of the worker's time)."""
    locked = Customer.objects.select_for_update(no_key=True).filter(pk__any_of=ids).order_by("pk")
    customers = {c.pk: c for c in locked.only(*SEEN_FIELDS)}
    customers.update((c.pk, c) for c in Customer.objects.filter(pk__any_of=identified & customers.keys()))
    return customers


def _fold(traits: Traits, events: list[EventFact]) -> None:
    counts = dict(traits.event_counts)
    viewed, cart = list(traits.last_viewed), {item["sku"]: item for item in traits.cart}
    for event in events:
        counts[event.type] = counts.get(event.type, 0) + 1
        at = event.occurred_at.isoformat()
        if event.type == EventType.PRODUCT_VIEWED and event.product_sku:
            viewed.append({"sku": event.product_sku, "at": at})
        elif event.type == EventType.PRODUCT_ADDED and event.product_sku:
            if traits.last_order_at is None or event.occurred_at > traits.last_order_at:
                _cart_add(cart, event)
                traits.cart_updated_at = _later(traits.cart_updated_at, event.occurred_at)
        elif event.type == EventType.PRODUCT_REMOVED and event.product_sku:
            cart.pop(event.product_sku, None)
            traits.cart_updated_at = _later(traits.cart_updated_at, event.occurred_at)
        elif event.type == EventType.ORDER_COMPLETED:
            traits.order_count += 1
            traits.revenue += order_value(event.properties)
            traits.first_order_at = min(filter(None, [traits.first_order_at, event.occurred_at]))
            traits.last_order_at = _later(traits.last_order_at, event.occurred_at)
            cart = {sku: item for sku, item in cart.items() if item["added_at"] > at}
            traits.cart_updated_at = _later(traits.cart_updated_at, event.occurred_at)
    traits.event_counts = counts
    traits.last_viewed = newest_first(viewed, key="at")[:LAST_VIEWED]
    traits.cart = sorted(cart.values(), key=lambda item: item["added_at"])


def _later(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None or candidate > current else current


def _cart_add(cart: dict, event: EventFact) -> None:
    quantity = _number(event.properties.get("quantity"), default=1)
    item = cart.get(event.product_sku)
    cart[event.product_sku] = {
        "sku": event.product_sku,
        "name": event.properties.get("name", ""),
        "price": float(_number(event.properties.get("price"), default=0)),
        "quantity": int((item["quantity"] if item else 0) + quantity),
        "added_at": item["added_at"] if item else event.occurred_at.isoformat(),
    }


def _number(value, *, default) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(default)
    except InvalidOperation:
        return Decimal(default)


def order_value(properties: dict) -> Decimal:
    """An order's value as Segment's spec gives it: revenue, else total, else its products."""
    for name in ("revenue", "total", "value"):
        if properties.get(name) not in (None, ""):
            return _number(properties[name], default=0).quantize(Decimal("0.01"))
    products = properties.get("products") if isinstance(properties.get("products"), list) else []
    return sum(
        (
            _number(p.get("price"), default=0) * _number(p.get("quantity"), default=1)
            for p in products
            if isinstance(p, dict)
        ),
        Decimal("0"),
    ).quantize(Decimal("0.01"))


def _seen(customer: Customer, events: list[EventFact]) -> None:
    if not events:
        return
    customer.first_seen_at = min(filter(None, [customer.first_seen_at, events[0].occurred_at]))
    customer.last_seen_at = max(filter(None, [customer.last_seen_at, events[-1].occurred_at]))


def _identify(customer: Customer, identifies: list[EventFact]) -> None:
    """The shop's traits: known ones into their columns, the rest into attributes. The latest wins."""
    for event in identifies:
        traits = dict(event.properties)
        for trait, column in PROFILE_TRAITS.items():
            value = traits.pop(trait, None)
            if isinstance(value, str) and value.strip() and _acceptable(column, value):
                setattr(customer, column, email_normalize(value) if column == "email" else value.strip())
        if isinstance(traits.get("name"), str) and not (customer.first_name or customer.last_name):
            customer.first_name, _, customer.last_name = traits.pop("name").strip().partition(" ")
        customer.attributes = {**customer.attributes, **traits}


def _acceptable(column: str, value: str) -> bool:
    validators = {"email": lambda v: validate_email(email_normalize(v)), "timezone": validate_timezone}
    try:
        validators.get(column, lambda v: None)(value)
    except DjangoValidationError:
        return False
    return True


def traits_merge(*, source: Customer, into: Customer) -> None:
    """Add the traits learned on a merged profile to those of the profile it was merged into."""
    theirs = Traits.objects.filter(customer=source).first()
    if theirs is None:
        return
    ours, _ = Traits.objects.get_or_create(customer=into)
    counts = dict(ours.event_counts)
    for name, count in theirs.event_counts.items():
        counts[name] = counts.get(name, 0) + count
    ours.event_counts = counts
    ours.order_count += theirs.order_count
    ours.revenue += theirs.revenue
    ours.first_order_at = min(filter(None, [ours.first_order_at, theirs.first_order_at]), default=None)
    ours.last_order_at = max(filter(None, [ours.last_order_at, theirs.last_order_at]), default=None)
    ours.last_viewed = newest_first(ours.last_viewed + theirs.last_viewed, key="at")[:LAST_VIEWED]
    cart = {item["sku"]: item for item in sorted(theirs.cart + ours.cart, key=lambda i: i["added_at"])}
    ours.cart = list(cart.values())
    traits_derived_merge(ours, theirs)
    ours.save()
    theirs.delete()


def newest_first(items: list[dict], *, key: str) -> list[dict]:
    """Newest first, one entry per product."""
    seen, kept = set(), []
    for item in sorted(items, key=lambda i: i[key], reverse=True):
        if item["sku"] not in seen:
            seen.add(item["sku"])
            kept.append(item)
    return kept
