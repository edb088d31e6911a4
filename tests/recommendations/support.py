"""A small shop with two planted tastes, for the recommender's tests.

Products P00-P19 are books and P20-P39 games. Customers of taste A view, add to cart and
buy books only; customers of taste B games only. Everyone in it said yes to
personalization (the default regime, opt-in, needs a yes on record).
"""

import random
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from consent.models import ConsentSource, Purpose
from consent.services import consent_grant, consent_withdraw
from personalization.models import Customer, Product
from tests.factories import CustomerFactory, EventFactory, ProductFactory
from tracking.models import Event, EventType

BOOKS, GAMES = "Books", "Games"
PRODUCTS = 40
PER_CUSTOMER = 8  # products each customer touches, all of their taste


@dataclass
class Shop:
    products: list[Product]
    taste_a: list[Customer]
    taste_b: list[Customer]

    @property
    def books(self) -> set[str]:
        return {p.sku for p in self.products if p.category == BOOKS}

    @property
    def games(self) -> set[str]:
        return {p.sku for p in self.products if p.category == GAMES}

    @property
    def customers(self) -> list[Customer]:
        return self.taste_a + self.taste_b


def personalization_grant(customer: Customer) -> None:
    consent_grant(customer=customer, purpose=Purpose.PERSONALIZATION, source=ConsentSource.API,
                  actor="api-key:tests", policy_version="1", wording="Yes, tailor what I see.")  # fmt: skip


def personalization_withdraw(customer: Customer) -> None:
    consent_withdraw(customer=customer, purpose=Purpose.PERSONALIZATION, source=ConsentSource.API,
                     actor="api-key:tests", policy_version="1", wording="No more tailoring.")  # fmt: skip


def interacted(customer: Customer, skus, *, types=(EventType.PRODUCT_VIEWED,), ago=timedelta(days=3)) -> None:
    """Events of `customer` about each product, already processed (no hook runs)."""
    now = timezone.now()
    Event.objects.bulk_create(
        EventFactory.build(customer=customer, type=event_type, product_id=sku, occurred_at=now - ago,
                           message_id=str(uuid.uuid4()))
        for sku in skus
        for event_type in types
    )  # fmt: skip


def product_catalog(count: int = PRODUCTS) -> list[Product]:
    return [
        ProductFactory(sku=f"P{i:02d}", name=f"{'Book' if i < count // 2 else 'Game'} {i:02d}",
                       category=BOOKS if i < count // 2 else GAMES, price=Decimal(10 + i))
        for i in range(count)
    ]  # fmt: skip


def shop_build(*, customers: int = 60, seed: int = 7) -> Shop:
    """60 consenting customers, half of each taste, each touching 8 products of their taste:
    all viewed, some added to cart, a few bought, a few days ago."""
    rng = random.Random(seed)
    products = product_catalog()
    half = len(products) // 2
    groups = {"a": [p.sku for p in products[:half]], "b": [p.sku for p in products[half:]]}
    shop = Shop(products=products, taste_a=[], taste_b=[])
    for n in range(customers):
        taste = "a" if n < customers // 2 else "b"
        customer = CustomerFactory(external_id=f"{taste}-{n}")
        personalization_grant(customer)
        for sku in rng.sample(groups[taste], PER_CUSTOMER):
            types = [EventType.PRODUCT_VIEWED]
            if rng.random() < 0.4:
                types.append(EventType.PRODUCT_ADDED)
            if rng.random() < 0.15:
                types.append(EventType.ORDER_COMPLETED)
            interacted(customer, [sku], types=types, ago=timedelta(days=rng.randint(1, 20)))
        (shop.taste_a if taste == "a" else shop.taste_b).append(customer)
    return shop
