"""Each process keeps a copy of the products it shows, per generation of the catalog
(`catalog_products`): read once, and never shown once a product has changed, been
imported again or deleted."""

from decimal import Decimal

import pytest

from campaigns.templating.selectors import templates_render
from personalization.models import Product
from personalization.recommendations.serving import catalog_products
from personalization.services import ProductRow, products_upsert
from tests.templates.support import boots_and_cap, consenting, main, version_of

pytestmark = pytest.mark.django_db

PICKS = "{% assign picks = recommendations | recommend: 2 %}{% for p in picks %}{{ p.name }} {{ p.price }};{% endfor %}"


@pytest.fixture
def shop(db):
    boots_and_cap()


def picks(customer) -> str:
    [rendered] = templates_render(version=version_of(PICKS), customers=[customer])
    return main(rendered)


def test_the_copy_reads_a_product_once_per_generation(shop, django_assert_num_queries):
    catalog_products(skus=["BOOT", "CAP", "NONE"])

    with django_assert_num_queries(0):
        found = catalog_products(skus=["CAP", "BOOT", "NONE"])

    assert sorted(found) == ["BOOT", "CAP"]


def test_a_product_saved_with_a_new_price_shows_it_in_the_next_render(shop):
    customer = consenting()
    assert picks(customer) == "Boots 120.00;Cap 25.00;"

    boots = Product.objects.get(sku="BOOT")
    boots.price = Decimal("99.00")
    boots.save()

    assert picks(customer) == "Boots 99.00;Cap 25.00;"


def test_a_product_imported_out_of_stock_is_no_longer_shown(shop, django_capture_on_commit_callbacks):
    customer = consenting()
    assert picks(customer) == "Boots 120.00;Cap 25.00;"

    with django_capture_on_commit_callbacks(execute=True):
        products_upsert(rows=[ProductRow(sku="BOOT", name="Boots", category="Shoes", price=Decimal("120.00"),
                                         in_stock=False)])  # fmt: skip

    assert picks(customer) == "Cap 25.00;"


def test_a_deleted_product_is_no_longer_shown(shop):
    customer = consenting()
    assert picks(customer) == "Boots 120.00;Cap 25.00;"

    Product.objects.get(sku="CAP").delete()

    assert picks(customer) == "Boots 120.00;"
