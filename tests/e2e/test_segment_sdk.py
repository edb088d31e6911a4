"""A shop's existing Segment SDK works against Tailor by changing one URL."""

import time

import pytest
from segment.analytics import Client
from segment.analytics.request import APIError

from tracking.models import ConsentMode, Event, Source

pytestmark = pytest.mark.e2e


def stored(message_count: int, timeout: float = 10) -> list[Event]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = list(Event.objects.order_by("id"))
        if len(events) >= message_count:
            return events
        time.sleep(0.1)
    return list(Event.objects.order_by("id"))


@pytest.fixture
def source(transactional_db):
    return Source.objects.create(name="shop", consent_mode=ConsentMode.UPSTREAM)


def sdk(server, source) -> Client:
    errors = []
    client = Client(source.write_key, host=server.url, sync_mode=True, on_error=lambda e, batch: errors.append(e))
    client.errors = errors
    return client


def test_the_segment_python_sdk_sends_track_identify_page_and_alias(server, source):
    client = sdk(server, source)
    client.identify("shop-42", {"email": "ada@example.com", "firstName": "Ada"}, anonymous_id="anon-1")
    client.track("shop-42", "Product Viewed", {"product_id": "SKU-1", "price": 9.5, "category": "Shoes"})
    client.page("shop-42", category="Docs", name="Pricing", properties={"url": "https://shop.example/pricing"})
    client.alias("anon-1", "shop-42")
    client.flush()
    assert client.errors == []
    events = stored(4)
    assert [e.type for e in events] == ["Identify", "Product Viewed", "Page Viewed", "Alias"]
    assert events[1].product_id == "SKU-1" and events[1].properties["price"] == 9.5
    assert events[0].properties["email"] == "ada@example.com"
    assert all(e.source_id == source.pk for e in events)
    assert events[1].context["library"]["name"] == "analytics-python"


def test_a_retry_of_the_same_message_is_stored_once(server, source):
    client = sdk(server, source)
    client.track("shop-42", "Product Added", {"product_id": "SKU-2"}, message_id="the-same-id")
    client.track("shop-42", "Product Added", {"product_id": "SKU-2"}, message_id="the-same-id")
    client.flush()
    assert client.errors == []
    time.sleep(0.5)
    assert Event.objects.filter(message_id="the-same-id").count() == 1


def test_a_wrong_write_key_is_reported_to_the_sdk(server, source):
    client = Client("wk_not-a-key", host=server.url, sync_mode=True, max_retries=0)
    with pytest.raises(APIError) as error:
        client.track("shop-42", "Product Viewed")
    assert error.value.status == 401
    assert "Unknown or inactive write key" in str(error.value)
    assert not Event.objects.exists()
