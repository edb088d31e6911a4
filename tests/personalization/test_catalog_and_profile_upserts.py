from decimal import Decimal

import pytest

from core.errors import ValidationError
from personalization.models import Customer, Identity, IdentityKind, Product
from personalization.services import CustomerRow, ProductRow, customers_upsert, products_upsert

pytestmark = pytest.mark.django_db


def test_customers_are_created_with_a_user_id_identity_and_a_normalized_email():
    [customer] = customers_upsert(rows=[CustomerRow(external_id="u-1", email=" Ada@Example.com ")])
    assert customer.email == "ada@example.com"
    assert Identity.objects.get(kind=IdentityKind.USER_ID, value="u-1").customer == customer


def test_upserting_an_existing_external_id_updates_that_customer():
    customers_upsert(rows=[CustomerRow(external_id="u-1", first_name="Ada")])
    customers_upsert(rows=[CustomerRow(external_id="u-1", first_name="Ada Lovelace")])
    assert Customer.objects.get().first_name == "Ada Lovelace"
    assert Identity.objects.count() == 1


def test_invalid_customer_rows_are_all_reported_and_nothing_is_saved():
    rows = [
        CustomerRow(external_id="u-1", email="fine@example.com"),
        CustomerRow(external_id="u-2", email="not-an-email"),
        CustomerRow(external_id="u-3", timezone="Mars/Olympus"),
    ]
    with pytest.raises(ValidationError) as error:
        customers_upsert(rows=rows)
    assert error.value.details == [
        "row 1: 'not-an-email' is not an email address",
        "row 2: 'Mars/Olympus' is not an IANA time zone name such as 'Europe/Paris'.",
    ]
    assert not Customer.objects.exists()


def test_products_are_upserted_by_sku():
    products_upsert(rows=[ProductRow(sku="S-1", name="Boot", price=Decimal("80"), category="Shoes")])
    products_upsert(rows=[ProductRow(sku="S-1", name="Boot", price=Decimal("70"), category="Shoes", in_stock=False)])
    product = Product.objects.get()
    assert (product.price, product.in_stock) == (Decimal("70.00"), False)


def test_invalid_product_rows_are_refused_whole():
    rows = [
        ProductRow(sku="S-1", name="Boot", price=Decimal("80")),
        ProductRow(sku="S-2", name="Hat", price=Decimal("-1"), currency="euro"),
    ]
    with pytest.raises(ValidationError) as error:
        products_upsert(rows=rows)
    assert error.value.details == [
        "row 1: price is negative",
        "row 1: currency 'euro' is not a 3-letter ISO 4217 code such as 'EUR'",
    ]
    assert not Product.objects.exists()
