"""Customer profiles and the product catalog: creating and updating them."""

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction

from core.errors import ValidationError
from core.normalize import email_normalize
from personalization.models import Customer, Identity, IdentityKind, Product, validate_timezone


@dataclass(frozen=True)
class CustomerRow:
    external_id: str
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    timezone: str = "UTC"
    locale: str = "en-US"
    attributes: dict = field(default_factory=dict)
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None


@dataclass(frozen=True)
class ProductRow:
    sku: str
    name: str
    price: Decimal
    category: str = ""
    currency: str = "USD"
    url: str = ""
    image_url: str = ""
    in_stock: bool = True
    attributes: dict = field(default_factory=dict)


def _customer_row_problems(row: CustomerRow) -> list[str]:
    problems = []
    if not row.external_id:
        problems.append("external_id is empty")
    if row.email:
        try:
            validate_email(email_normalize(row.email))
        except DjangoValidationError:
            problems.append(f"{row.email!r} is not an email address")
    try:
        validate_timezone(row.timezone)
    except DjangoValidationError as exc:
        problems.append(exc.messages[0])
    return problems


def _product_row_problems(row: ProductRow) -> list[str]:
    problems = []
    if not row.sku:
        problems.append("sku is empty")
    if row.price < 0:
        problems.append("price is negative")
    if not (len(row.currency) == 3 and row.currency.isalpha() and row.currency.isupper()):
        problems.append(f"currency {row.currency!r} is not a 3-letter ISO 4217 code such as 'EUR'")
    return problems


def _refuse_invalid_rows(rows: list, row_problems, *, what: str) -> None:
    problems = [f"row {index}: {problem}" for index, row in enumerate(rows) for problem in row_problems(row)]
    if problems:
        raise ValidationError(f"{len(problems)} problem(s) in the {what} rows; nothing was saved.", details=problems)


@transaction.atomic
def customers_upsert(*, rows: Iterable[CustomerRow]) -> list[Customer]:
    """Create or update customers by external id, with their user-id identity; all rows or none."""
    rows = list(rows)
    _refuse_invalid_rows(rows, _customer_row_problems, what="customer")
    customers = Customer.objects.bulk_create(
        [Customer(**{**asdict(row), "email": email_normalize(row.email)}) for row in rows],
        update_conflicts=True,
        unique_fields=["external_id"],
        update_fields=["email", "first_name", "last_name", "timezone", "locale", "attributes", "updated_at"],
        batch_size=1000,
    )
    Identity.objects.bulk_create(
        [Identity(customer=c, kind=IdentityKind.USER_ID, value=c.external_id) for c in customers],
        ignore_conflicts=True,
        batch_size=1000,
    )
    return customers


@transaction.atomic
def products_upsert(*, rows: Iterable[ProductRow]) -> list[Product]:
    """Create or update catalog products by SKU; all rows or none."""
    from personalization.recommendations.serving import recommendations_catalog_changed

    rows = list(rows)
    _refuse_invalid_rows(rows, _product_row_problems, what="product")
    recommendations_catalog_changed()  # stock and prices filter recommendations
    return Product.objects.bulk_create(
        [Product(**asdict(row)) for row in rows],
        update_conflicts=True,
        unique_fields=["sku"],
        update_fields=[
            "name",
            "category",
            "price",
            "currency",
            "url",
            "image_url",
            "in_stock",
            "attributes",
            "updated_at",
        ],
        batch_size=1000,
    )


def customer_for_email(*, email: str, first_name: str = "", last_name: str = "") -> tuple[Customer, bool]:
    """The customer with this address, created if there is none; (customer, created)."""
    address = email_normalize(email)
    try:
        validate_email(address)
    except DjangoValidationError as exc:
        raise ValidationError(f"{email!r} is not an email address.", details={"email": [exc.messages[0]]}) from exc
    customer = Customer.objects.filter(email=address).order_by("id").first()
    if customer is not None:
        return customer, False
    return Customer.objects.create(email=address, first_name=first_name, last_name=last_name), True


def customers_for_emails(*, emails: Iterable[str]) -> tuple[dict[str, Customer], int]:
    """Customers by normalized address, creating the missing ones in one statement;
    (customers, how many were created)."""
    addresses = {email_normalize(e) for e in emails}
    found: dict[str, Customer] = {}
    for customer in Customer.objects.filter(email__in=addresses).order_by("-id"):
        found[customer.email] = customer  # the oldest profile wins when an address appears twice
    created = Customer.objects.bulk_create(
        [Customer(email=a) for a in sorted(addresses - found.keys())], batch_size=1000
    )
    found.update((customer.email, customer) for customer in created)
    return found, len(created)


def customer_erase(*, customer: Customer) -> None:
    """Delete a customer and everything that cascades from the profile (identities …)."""
    customer.delete()
