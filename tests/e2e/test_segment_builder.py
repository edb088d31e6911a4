"""A marketer builds a segment in the admin with the rule builder, in a real browser:
"viewed a product in category Shoes twice this week, no order, consented to email",
sees its size while editing, and saves it."""

import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from consent.models import Purpose
from consent.services import consent_grant
from personalization.models import RefreshStatus, Segment, SegmentMembership
from tests.factories import CustomerFactory, EventFactory, ProductFactory
from tracking.models import EventType

pytestmark = pytest.mark.e2e
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
WANTED = {
    "type": "all",
    "rules": [
        {"type": "event", "event": "Product Viewed", "op": ">=", "count": 2, "within": "7d",
         "where": [{"field": "product.category", "op": "=", "value": "Shoes"}]},
        {"type": "event", "event": "Order Completed", "op": "=", "count": 0, "within": "7d"},
        {"type": "consent", "purpose": "email_marketing"},
    ],
}  # fmt: skip


@pytest.fixture
def shop(transactional_db):
    """Four people; only Ada viewed two shoes this week, ordered nothing and said yes to email."""
    shoe, bag = ProductFactory(sku="SHOE-1", category="Shoes"), ProductFactory(sku="BAG-1", category="Bags")
    yesterday = timezone.now() - timedelta(days=1)
    people = {name: CustomerFactory(email=f"{name}@example.com") for name in ("ada", "bob", "cy", "dee")}
    for name in people:
        consent_grant(customer=people[name], purpose=Purpose.EMAIL_MARKETING, source="admin", actor="test")
    for name, product, views in (("ada", shoe, 2), ("bob", shoe, 1), ("cy", shoe, 2), ("dee", bag, 2)):
        for _ in range(views):
            EventFactory(customer=people[name], type=EventType.PRODUCT_VIEWED, product=product, occurred_at=yesterday)
    EventFactory(customer=people["cy"], type=EventType.ORDER_COMPLETED, occurred_at=yesterday)
    User.objects.create_superuser("marketer", "m@example.com", "a-long-password-1")
    return people


def members_of(segment: Segment, *, timeout: float = 15) -> set[str]:
    """The segment's members once the worker has refreshed it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        segment.refresh_from_db()
        if segment.refresh_status == RefreshStatus.FRESH:
            break
        time.sleep(0.2)
    current = SegmentMembership.objects.filter(segment=segment, exited_at__isnull=True)
    return set(current.values_list("customer__email", flat=True))


def test_a_marketer_builds_sees_the_size_of_and_saves_a_segment(server, worker_factory, shop, browser_context):
    worker_factory()
    page = browser_context.new_page()
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{server.url}/admin/login/")
    page.fill("#id_username", "marketer")
    page.fill("#id_password", "a-long-password-1")
    page.click("input[type=submit]")
    page.goto(f"{server.url}/admin/personalization/segment/add/")
    page.fill("#id_name", "Shoe browsers, no order")

    first = page.locator(".rb-row").nth(0)
    first.get_by_label("number of times").fill("2")
    first.get_by_role("button", name="+ filter").click()
    page.get_by_label("filter value").fill("Shoes")

    page.get_by_role("button", name="+ condition").click()
    second = page.locator("[data-path='rules.rules[1]']")
    second.get_by_label("event", exact=True).select_option("Order Completed")
    second.get_by_label("count comparison").select_option("=")
    second.get_by_label("number of times").fill("0")

    page.get_by_role("button", name="+ condition").click()
    page.locator("[data-path='rules.rules[2]']").get_by_label("kind of condition").select_option("consent")

    page.wait_for_function("document.getElementById('rb-size').textContent === '1 customer'")
    assert page.locator("#rb-sample").inner_text() == "ada@example.com"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "segment-builder.png", full_page=True)

    page.click("input[name=_save]")
    page.wait_for_url("**/admin/personalization/segment/")
    segment = Segment.objects.get(name="Shoe browsers, no order")
    assert segment.rules == WANTED
    assert members_of(segment) == {"ada@example.com"}
