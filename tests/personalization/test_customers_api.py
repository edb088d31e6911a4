from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.factories import CustomerFactory, EventFactory, IdentityFactory, TraitsFactory

pytestmark = pytest.mark.django_db


def test_the_list_is_paginated_newest_first(api_client):
    customers = CustomerFactory.create_batch(3)
    body = api_client.get("/api/v1/customers/", {"page_size": 2}).json()
    assert body["count"] == 3
    assert [c["id"] for c in body["results"]] == [customers[2].pk, customers[1].pk]
    assert body["next"]


def test_the_list_filters_by_email_whatever_its_case(api_client):
    wanted = CustomerFactory(email="ada@example.com")
    CustomerFactory(email="bob@example.com")
    body = api_client.get("/api/v1/customers/", {"email": " Ada@Example.COM "}).json()
    assert [c["id"] for c in body["results"]] == [wanted.pk]


def test_the_list_filters_by_external_id(api_client):
    wanted = CustomerFactory(external_id="shop-42")
    CustomerFactory(external_id="shop-43")
    body = api_client.get("/api/v1/customers/", {"external_id": "shop-42"}).json()
    assert [c["id"] for c in body["results"]] == [wanted.pk]


def test_the_detail_shows_the_profile_and_identities(api_client):
    customer = CustomerFactory(email="ada@example.com", timezone="Asia/Tokyo")
    IdentityFactory(customer=customer, value="anon-7")
    body = api_client.get(f"/api/v1/customers/{customer.pk}/").json()
    assert body["email"] == "ada@example.com"
    assert body["timezone"] == "Asia/Tokyo"
    assert {"kind": "anonymous_id", "value": "anon-7"}.items() <= body["identities"][0].items()


def test_the_detail_shows_the_50_most_recent_events_newest_first(api_client):
    customer = CustomerFactory()
    start = datetime(2026, 10, 1, tzinfo=UTC)
    for minutes in range(55):
        EventFactory(customer=customer, occurred_at=start + timedelta(minutes=minutes), message_id=f"m-{minutes}")
    EventFactory(message_id="someone-else")
    events = api_client.get(f"/api/v1/customers/{customer.pk}/").json()["recent_events"]
    assert len(events) == 50
    assert events[0]["message_id"] == "m-54"
    assert events[-1]["message_id"] == "m-5"


def test_the_profile_shows_the_customers_traits(api_client):
    traits = TraitsFactory(order_count=2, revenue=Decimal("80.00"), average_order_value=Decimal("40.00"),
                           rfm_monetary=4, favorite_categories=["Shoes"])  # fmt: skip
    body = api_client.get(f"/api/v1/customers/{traits.customer_id}/").json()
    assert body["traits"]["order_count"] == 2
    assert body["traits"]["lifetime_value"] == "80.00"
    assert body["traits"]["rfm"]["monetary"] == 4
    assert body["traits"]["favorite_categories"] == ["Shoes"]


def test_a_customer_without_activity_has_no_traits_yet(api_client):
    customer = CustomerFactory()
    assert api_client.get(f"/api/v1/customers/{customer.pk}/").json()["traits"] is None
