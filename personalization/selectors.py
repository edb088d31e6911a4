"""Reads of the personalization app."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils import timezone

from core.errors import NotFound
from core.normalize import email_normalize
from personalization.models import Customer, CustomerScore, Identity, IdentityKind, Product, SegmentMembership, Traits


def customer_list(*, email: str = "", external_id: str = "") -> QuerySet[Customer]:
    customers = Customer.objects.order_by("-id")
    if email:
        customers = customers.filter(email=email_normalize(email))
    if external_id:
        customers = customers.filter(external_id=external_id)
    return customers


def customer_get(*, customer_id: int) -> Customer:
    customer = Customer.objects.prefetch_related("identities").filter(pk=customer_id).first()
    if customer is None:
        raise NotFound(f"There is no customer with id {customer_id}.")
    return customer


def customers_exist() -> bool:
    return Customer.objects.exists()


def customer_export(*, customer: Customer) -> dict:
    """The profile and identities of a customer, for their data export."""
    return {
        "id": customer.pk,
        "external_id": customer.external_id,
        "email": customer.email,
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "timezone": customer.timezone,
        "locale": customer.locale,
        "attributes": customer.attributes,
        "first_seen_at": customer.first_seen_at.isoformat() if customer.first_seen_at else None,
        "last_seen_at": customer.last_seen_at.isoformat() if customer.last_seen_at else None,
        "created_at": customer.created_at.isoformat(),
        "identities": [
            {"kind": i.kind, "value": i.value, "since": i.created_at.isoformat()} for i in customer.identities.all()
        ],
    }


@dataclass(frozen=True)
class CustomerIdentifiers:
    """Every id a customer was known by."""

    email: str
    user_ids: list[str]
    anonymous_ids: list[str]


def customer_identifiers(*, customer: Customer) -> CustomerIdentifiers:
    identities = list(customer.identities.values_list("kind", "value"))
    user_ids = {value for kind, value in identities if kind == IdentityKind.USER_ID}
    if customer.external_id:
        user_ids.add(customer.external_id)
    return CustomerIdentifiers(
        email=customer.email,
        user_ids=sorted(user_ids),
        anonymous_ids=sorted(value for kind, value in identities if kind == IdentityKind.ANONYMOUS_ID),
    )


def customer_find(*, customer_id: int | None = None, email: str = "", external_id: str = "") -> Customer | None:
    """The customer named by exactly one of id, email or external id."""
    if customer_id is not None:
        return Customer.objects.filter(pk=customer_id).first()
    if external_id:
        return Customer.objects.filter(external_id=external_id).first()
    if email:
        return Customer.objects.filter(email=email_normalize(email)).order_by("id").first()
    return None


def customer_ids_by_identity(*, user_ids: list[str], anonymous_ids: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    """({user id: customer id}, {anonymous id: customer id}) for the ids already known, in one query."""
    known = Identity.objects.filter(
        Q(kind=IdentityKind.USER_ID, value__in=[v for v in user_ids if v])
        | Q(kind=IdentityKind.ANONYMOUS_ID, value__in=[v for v in anonymous_ids if v])
    ).values_list("kind", "value", "customer_id")
    by_user, by_anonymous = {}, {}
    for kind, value, customer_id in known:
        (by_user if kind == IdentityKind.USER_ID else by_anonymous)[value] = customer_id
    return by_user, by_anonymous


def traits_of(*, customer: Customer) -> dict | None:
    """The customer's traits as values (None before any activity)."""
    traits = Traits.objects.filter(customer=customer).first()
    if traits is None:
        return None
    now = timezone.now()
    return {
        "order_count": traits.order_count,
        "lifetime_value": str(traits.revenue),
        "average_order_value": str(traits.average_order_value),
        "days_since_last_order": (now - traits.last_order_at).days if traits.last_order_at else None,
        "rfm": {"recency": traits.rfm_recency, "frequency": traits.rfm_frequency, "monetary": traits.rfm_monetary},
        "engagement_score": traits.engagement_score(now),
        "email_opens_30d": traits.email_opens_30d,
        "email_clicks_30d": traits.email_clicks_30d,
        "site_visits_30d": traits.site_visits_30d,
        "favorite_categories": traits.favorite_categories,
        "last_viewed": [item["sku"] for item in traits.last_viewed],
        "cart": traits.cart,
        "event_counts": traits.event_counts,
        "recomputed_at": traits.computed_at,
    }


def traits_summary(*, customer: Customer) -> list[tuple[str, str]]:
    """The customer's traits in words, for the admin ([] before any activity)."""
    traits = traits_of(customer=customer)
    if traits is None:
        return []
    rfm = "/".join(str(score) for score in traits["rfm"].values() if score) or "no orders"
    cart = ", ".join(f"{item['quantity']} x {item.get('name') or item['sku']}" for item in traits["cart"]) or "empty"
    last_order = traits["days_since_last_order"]
    return [
        ("orders", f"{traits['order_count']}"),
        ("lifetime value", traits["lifetime_value"]),
        ("average order value", traits["average_order_value"]),
        ("days since last order", "never ordered" if last_order is None else f"{last_order}"),
        ("RFM (recency/frequency/monetary, 1-5)", rfm),
        ("engagement score", f"{traits['engagement_score']}"),
        ("email opens / clicks in 30 days", f"{traits['email_opens_30d']} / {traits['email_clicks_30d']}"),
        ("site visits in 30 days", f"{traits['site_visits_30d']}"),
        ("favorite categories", ", ".join(traits["favorite_categories"]) or "none yet"),
        ("last viewed", ", ".join(traits["last_viewed"][:5]) or "nothing"),
        ("cart", cart),
        ("fully recomputed", f"{traits['recomputed_at']:%Y-%m-%d %H:%M}" if traits["recomputed_at"] else "not yet"),
    ]


def scores_of(*, customer: Customer) -> dict[str, int]:
    """The customer's propensity scores, 0-100, by model kind."""
    return dict(CustomerScore.objects.filter(customer=customer).values_list("kind", "score"))


# --- in bulk, for rendering many emails -----------------------------------------------

# What a message shows of a product: a batch reads only these (no attributes, no timestamps
# to parse, for the thousands of products a campaign's batches show).
PRODUCT_SHOWN = ("sku", "name", "category", "price", "currency", "url", "image_url", "in_stock")


def traits_by_customer(*, customer_ids: Iterable[int]) -> dict[int, Traits]:
    """{customer: traits}, without the counters that only the traits' own folding reads."""
    rows = Traits.objects.filter(customer_id__any_of=list(customer_ids)).defer("event_counts", "category_weights")
    return {traits.customer_id: traits for traits in rows}


def scores_by_customer(*, customer_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """{customer: {model kind: score 0-100}}."""
    scores: dict[int, dict[str, int]] = {}
    rows = CustomerScore.objects.filter(customer_id__any_of=list(customer_ids)).values_list(
        "customer_id", "kind", "score"
    )
    for customer_id, kind, score in rows:
        scores.setdefault(customer_id, {})[kind] = score
    return scores


def segment_names_by_customer(*, customer_ids: Iterable[int]) -> dict[int, list[str]]:
    """{customer: names of the segments they are in now}, alphabetically."""
    names: dict[int, list[str]] = {}
    current = SegmentMembership.objects.filter(customer_id__any_of=list(customer_ids), exited_at__isnull=True)
    for customer_id, name in current.order_by("segment__name").values_list("customer_id", "segment__name"):
        names.setdefault(customer_id, []).append(name)
    return names


def products_by_sku(*, skus: Iterable[str]) -> dict[str, Product]:
    """{sku: product}, with only what a message shows of it."""
    return Product.objects.only(*PRODUCT_SHOWN).in_bulk(list(skus), field_name="sku")


def customers_by_id(*, customer_ids: Iterable[int]) -> dict[int, Customer]:
    return Customer.objects.in_bulk(list(customer_ids))
