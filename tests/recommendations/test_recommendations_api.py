"""GET /api/v1/customers/{id}/recommendations/: where the list came from, the model version
and the products, with limit, category, max_price and explain; errors in the one shape of
DESIGN.md, and only a secret key may ask."""

from decimal import Decimal

import pytest

from personalization.models import ModelStatus
from personalization.recommendations.training import recommender_train
from tests.factories import CustomerFactory
from tests.recommendations.support import GAMES, shop_build

pytestmark = pytest.mark.django_db

ITEM_FIELDS = {"sku", "name", "category", "price", "currency", "url", "image_url", "score", "because"}


def url(customer_id: int) -> str:
    return f"/api/v1/customers/{customer_id}/recommendations/"


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert list(body) == ["error"] and set(body["error"]) == {"code", "message", "details"}
    return body["error"]


@pytest.fixture
def shop(db, django_capture_on_commit_callbacks):
    shop = shop_build()
    with django_capture_on_commit_callbacks(execute=True):
        version = recommender_train()
    assert version.status == ModelStatus.ACTIVE
    shop.version = version
    return shop


@pytest.fixture
def reader(shop):
    return shop.taste_a[0]


def test_a_customers_recommendations_say_their_source_and_model_version(api_client, shop, reader):
    response = api_client.get(url(reader.pk))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"source", "model_version", "items"}
    assert (body["source"], body["model_version"]) == ("model", shop.version.pk)


def test_each_item_has_its_product_its_score_and_an_empty_reason(api_client, shop, reader):
    items = api_client.get(url(reader.pk)).json()["items"]

    assert len(items) == 10 and all(set(item) == ITEM_FIELDS for item in items)
    first = items[0]
    assert first["sku"] in shop.books and first["name"].startswith("Book ")
    assert Decimal(first["price"]) >= Decimal("10.00") and isinstance(first["score"], float)
    assert first["because"] == ""


def test_limit_caps_the_items(api_client, reader):
    assert len(api_client.get(url(reader.pk), {"limit": 3}).json()["items"]) == 3


def test_category_keeps_only_that_category(api_client, reader):
    items = api_client.get(url(reader.pk), {"category": GAMES}).json()["items"]

    assert items and {item["category"] for item in items} == {GAMES}


def test_max_price_keeps_only_products_at_or_under_it(api_client, reader):
    items = api_client.get(url(reader.pk), {"max_price": "20.00"}).json()["items"]

    assert items and all(Decimal(item["price"]) <= Decimal("20.00") for item in items)


def test_explain_says_why_each_was_chosen(api_client, reader):
    items = api_client.get(url(reader.pk), {"explain": "true"}).json()["items"]

    assert items and all(item["because"].startswith("because you viewed Book ") for item in items)


def test_a_customer_the_model_does_not_know_gets_a_cold_start_list_without_version(api_client, shop):
    body = api_client.get(url(CustomerFactory().pk)).json()

    assert body["source"] in ("popular_in_viewed_categories", "trending_24h", "popular")
    assert body["model_version"] is None and body["items"]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": "0"}, "limit"), ({"limit": "51"}, "limit"), ({"limit": "ten"}, "limit"),
     ({"max_price": "cheap"}, "max_price"), ({"explain": "perhaps"}, "explain")],
)  # fmt: skip
def test_a_bad_parameter_gets_400_naming_it(api_client, params, field):
    error = error_of(api_client.get(url(CustomerFactory().pk), params), 400)

    assert field in error["details"]


def test_an_unknown_customer_gets_404(api_client, db):
    error = error_of(api_client.get(url(999_999_999)), 404)

    assert error["code"] == "not_found" and "999999999" in error["message"]


def test_without_a_key_the_api_answers_401(anonymous_client, db):
    error = error_of(anonymous_client.get(url(CustomerFactory().pk)), 401)

    assert error["code"] == "not_authenticated"


def test_a_wrong_key_gets_401(anonymous_client, db):
    anonymous_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-key")

    assert anonymous_client.get(url(CustomerFactory().pk)).status_code == 401
