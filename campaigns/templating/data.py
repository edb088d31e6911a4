"""What a template may see of a recipient, built in bulk for a batch of recipients.

Only what the template's static analysis says it uses is read (traits, scores,
segments, recommendations, products), each in one query for the whole batch.
Everything is plain dictionaries, lists, strings and numbers: Liquid can only index
them, so nothing else of Tailor is reachable from a template.

Personalization consent is asked once per batch (`consent.selectors`). For a customer
without it, behavior-based data (traits, scores, segments, recommendations) is empty,
so that the template's fallback content shows; profile fields stay.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from consent.models import Purpose
from consent.selectors import customers_consenting, preferences_url, unsubscribe_url
from personalization.models import Customer, Product, Traits
from personalization.recommendations.serving import (
    Candidates,
    catalog_products,
    popular_products,
    recommendation_candidates_many,
)
from personalization.selectors import scores_by_customer, segment_names_by_customer, traits_by_customer

ROOTS = (
    "customer",
    "recommendations",
    "products",
    "campaign",
    "links",
    "shop",
    "now",
    "locale",
    "timezone",
    "currency",
)
# The fields of each object a template can name, for validation (lint.py).
CUSTOMER_FIELDS = (
    "id", "email", "first_name", "last_name", "full_name", "timezone", "locale", "attributes",
    "traits", "scores", "segments",
)  # fmt: skip
TRAIT_FIELDS = (
    "order_count", "lifetime_value", "average_order_value", "days_since_last_order", "last_order_at", "rfm",
    "engagement_score", "email_opens_30d", "email_clicks_30d", "site_visits_30d", "favorite_categories",
    "last_viewed", "cart",
)  # fmt: skip
PRODUCT_FIELDS = ("sku", "name", "category", "price", "currency", "url", "image_url", "in_stock", "because")
PRODUCT_LISTS = ("popular", "trending")
CAMPAIGN_FIELDS = ("id", "name", "utm_campaign", "variant")
LINK_FIELDS = ("unsubscribe", "preferences", "view_in_browser")
SHOP_FIELDS = ("name", "address", "url")
KNOWN_FIELDS = {
    "customer": CUSTOMER_FIELDS,
    "products": PRODUCT_LISTS,
    "campaign": CAMPAIGN_FIELDS,
    "links": LINK_FIELDS,
    "shop": SHOP_FIELDS,
}
DEFAULT_COUNT = 10  # recommendations when a template loops over them without `recommend`


@dataclass(frozen=True)
class Needs:
    """The data a template uses, from its static analysis."""

    traits: bool = False
    scores: bool = False
    segments: bool = False
    recommendations: bool = False
    products: bool = False

    @classmethod
    def of(cls, paths: Iterable[Sequence[str]]) -> "Needs":
        used = {tuple(str(part) for part in path[:2]) for path in paths}
        roots = {path[0] for path in used}
        return cls(
            traits=("customer", "traits") in used,
            scores=("customer", "scores") in used,
            segments=("customer", "segments") in used,
            recommendations="recommendations" in roots,
            products="products" in roots,
        )

    def __or__(self, other: "Needs") -> "Needs":
        return Needs(**{name: getattr(self, name) or getattr(other, name) for name in self.__dataclass_fields__})


def product_data(product: Product, *, because: str = "") -> dict:
    return {
        "sku": product.sku, "name": product.name, "category": product.category, "price": product.price,
        "currency": product.currency, "url": product.url, "image_url": product.image_url,
        "in_stock": product.in_stock, "because": because,
    }  # fmt: skip


class RecommendationsDrop(Sequence):
    """A recipient's recommendations: the batch's candidates are read before any render (so
    the fetch never counts against one recipient's time limit); each list is picked from
    them only when the template reads it."""

    __slots__ = ("_candidates", "_default")

    def __init__(self, candidates: Candidates | None):
        self._candidates, self._default = candidates, None

    def pick(self, *, count: int, category: str = "", max_price=None) -> list[dict]:
        if self._candidates is None:
            return []
        chosen = self._candidates.pick(limit=count, category=category, max_price=max_price)
        return [product_data(item.product, because=item.because) for item in chosen.items]

    def _items(self) -> list[dict]:
        if self._default is None:
            self._default = self.pick(count=DEFAULT_COUNT)
        return self._default

    def __getitem__(self, index):
        return self._items()[index]

    def __len__(self) -> int:
        return len(self._items())

    def __liquid__(self) -> list[dict]:
        # What Liquid compares and tests: `{% if recommendations == empty %}` is true when there are none.
        return self._items()

    @property
    def source(self) -> str:
        return self._candidates.source if self._candidates else ""


def _candidates_by_customer(customers: list[Customer], personal: set[int]) -> dict[int, Candidates]:
    consenting = [c for c in customers if c.pk in personal]
    return recommendation_candidates_many(customers=consenting, personal_ids=personal)


def _traits_data(traits: Traits, products: dict[str, dict], now: datetime) -> dict:
    return {
        "order_count": traits.order_count,
        "lifetime_value": traits.revenue,
        "average_order_value": traits.average_order_value,
        "days_since_last_order": (now - traits.last_order_at).days if traits.last_order_at else None,
        "last_order_at": traits.last_order_at,
        "rfm": {"recency": traits.rfm_recency, "frequency": traits.rfm_frequency, "monetary": traits.rfm_monetary},
        "engagement_score": traits.engagement_score(now),
        "email_opens_30d": traits.email_opens_30d,
        "email_clicks_30d": traits.email_clicks_30d,
        "site_visits_30d": traits.site_visits_30d,
        "favorite_categories": list(traits.favorite_categories),
        "last_viewed": [products[item["sku"]] for item in traits.last_viewed if item.get("sku") in products],
        "cart": [dict(item) for item in traits.cart],
    }


@dataclass
class Recipient:
    """One recipient's render data, and whether their consent allowed personalization."""

    customer: Customer
    data: dict
    personalized: bool


def shop_data() -> dict:
    return {"name": settings.SHOP_NAME, "address": settings.SHOP_POSTAL_ADDRESS, "url": settings.SHOP_URL}


def products_data() -> dict:
    """Lists that are the same for everyone: the fallbacks of personal content."""
    return {name: [product_data(p) for p in products] for name, products in popular_products().items()}


def recipients_data(
    *,
    customers: list[Customer],
    needs: Needs,
    campaign: dict | None = None,
    links: dict[int, dict] | None = None,
    now: datetime | None = None,
) -> list[Recipient]:
    """The render data of each customer, in the order given, read in one query per kind.
    `links` gives some customers links of their own (a sent message's unsubscribe, with its
    topic, and view in browser), in place of the default ones."""
    now = now or timezone.now()
    ids = [c.pk for c in customers]
    personal = set(
        customers_consenting(customers=Customer.objects.filter(pk__any_of=ids), purpose=Purpose.PERSONALIZATION)
        .values_list("pk", flat=True)
    )  # fmt: skip
    candidates = _candidates_by_customer(customers, personal) if needs.recommendations else None
    traits = _traits_by_customer(personal, now) if needs.traits else {}
    scores = scores_by_customer(customer_ids=personal) if needs.scores else {}
    segments = segment_names_by_customer(customer_ids=personal) if needs.segments else {}
    shared = {
        "shop": shop_data(),
        "campaign": campaign or {},
        "products": products_data() if needs.products else {},
        "now": now,
        "currency": settings.SHOP_CURRENCY,
    }
    return [
        Recipient(
            customer=customer,
            personalized=customer.pk in personal,
            data={
                **shared,
                "customer": {
                    **_profile_data(customer),
                    "traits": traits.get(customer.pk, {}),
                    "scores": scores.get(customer.pk, {}),
                    "segments": segments.get(customer.pk, []),
                },
                "recommendations": RecommendationsDrop(candidates.get(customer.pk)) if candidates is not None else [],
                "links": _links(customer, (links or {}).get(customer.pk, {})),
                "locale": customer.locale,
                "timezone": customer.timezone,
            },
        )
        for customer in customers
    ]


def _profile_data(customer: Customer) -> dict:
    return {
        "id": customer.pk, "email": customer.email, "first_name": customer.first_name,
        "last_name": customer.last_name, "full_name": customer.full_name, "timezone": customer.timezone,
        "locale": customer.locale, "attributes": dict(customer.attributes or {}),
    }  # fmt: skip


def _links(customer: Customer, given: dict) -> dict:
    # view_in_browser names a sent message; campaigns give it when a message exists.
    unsubscribe = given["unsubscribe"] if "unsubscribe" in given else unsubscribe_url(customer=customer)
    preferences = given["preferences"] if "preferences" in given else preferences_url(customer=customer)
    return {**given, "unsubscribe": unsubscribe, "preferences": preferences}


def _traits_by_customer(customer_ids: set[int], now: datetime) -> dict[int, dict]:
    rows = traits_by_customer(customer_ids=customer_ids)
    skus = {item.get("sku") for traits in rows.values() for item in traits.last_viewed}
    products = {sku: product_data(p) for sku, p in catalog_products(skus=skus).items()}
    return {customer_id: _traits_data(traits, products, now) for customer_id, traits in rows.items()}
