"""Derived traits: folded in as events are processed (engagement, email and site activity in
30 days, favorite categories, average order value, RFM against the last quintiles) and
recomputed in full by `traits_recompute`, which also sets those quintiles."""

import math
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from personalization.models import Traits, TraitsRun
from personalization.services.traits import engagement_now, rfm_breakpoints_current, rfm_scores, traits_recompute
from tests.factories import CustomerFactory, EventFactory, ProductFactory, TraitsFactory
from tracking.services import EventDraft, events_process, events_store

pytestmark = pytest.mark.django_db

# A fixed moment for the full recompute, two weeks (one half-life) after the default event time.
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
DAY_OF_EVENTS = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SCANNER = {"bot": "link-scanner"}


@pytest.fixture
def track(django_capture_on_commit_callbacks):
    """Store an event and process it, as the worker would (the hook runs on commit)."""

    def track(customer, event_type: str, *, at=None, sku: str = "", **properties) -> None:
        draft = EventDraft(message_id=str(uuid.uuid4()), type=event_type, occurred_at=at or timezone.now(),
                           customer_id=customer.pk, product_sku=sku, properties=properties)  # fmt: skip
        assert events_store(drafts=[draft]).stored == 1
        with django_capture_on_commit_callbacks(execute=True):
            events_process()

    return track


def traits_of(customer) -> Traits:
    return Traits.objects.get(customer=customer)


# --- folded as events are processed ---------------------------------------------------------


def test_engagement_adds_the_weight_of_each_kind_of_activity(track):
    customer, at = CustomerFactory(), timezone.now()
    for event_type in ("Product Viewed", "Product Added", "Order Completed"):  # 1 + 3 + 5
        track(customer, event_type, at=at)

    assert engagement_now(traits_of(customer).engagement_log, at) == pytest.approx(9)


def test_email_clicks_and_checkouts_weigh_three_and_page_views_and_opens_one(track):
    customer, at = CustomerFactory(), timezone.now()
    for event_type in ("Email Link Clicked", "Checkout Started", "Page Viewed", "Email Opened"):
        track(customer, event_type, at=at)

    assert engagement_now(traits_of(customer).engagement_log, at) == pytest.approx(8)


def test_events_that_are_not_activity_add_no_engagement(track):
    customer, at = CustomerFactory(), timezone.now()
    track(customer, "Product Viewed", at=at)
    track(customer, "Coupon Entered", at=at)

    assert engagement_now(traits_of(customer).engagement_log, at) == pytest.approx(1)


def test_engagement_halves_every_fourteen_days(track):
    customer, at = CustomerFactory(), timezone.now()
    track(customer, "Order Completed", at=at, revenue=10)

    traits = traits_of(customer)
    assert traits.engagement_score(at + timedelta(days=14)) == 2.5
    assert traits.engagement_score(at + timedelta(days=28)) == 1.25


def test_older_activity_counts_for_less(track):
    customer, now = CustomerFactory(), timezone.now()
    track(customer, "Product Added", at=now - timedelta(days=14))  # 3, halved once
    track(customer, "Product Viewed", at=now)  # 1

    assert engagement_now(traits_of(customer).engagement_log, now) == pytest.approx(2.5)


def test_opens_and_clicks_flagged_as_a_link_scanner_add_no_engagement(track):
    customer, at = CustomerFactory(), timezone.now()
    track(customer, "Product Viewed", at=at)
    track(customer, "Email Opened", at=at, **SCANNER)
    track(customer, "Email Link Clicked", at=at, bot="too-fast-after-sending")

    assert engagement_now(traits_of(customer).engagement_log, at) == pytest.approx(1)


def test_email_opens_in_30_days_count_human_opens_of_the_last_30_days(track):
    customer, now = CustomerFactory(), timezone.now()
    track(customer, "Email Opened", at=now - timedelta(days=2))
    track(customer, "Email Opened", at=now - timedelta(days=29))
    track(customer, "Email Opened", at=now - timedelta(days=40))
    track(customer, "Email Opened", at=now - timedelta(days=1), **SCANNER)

    assert traits_of(customer).email_opens_30d == 2


def test_clicks_and_site_visits_in_30_days_are_counted_alike(track):
    customer, now = CustomerFactory(), timezone.now()
    track(customer, "Email Link Clicked", at=now - timedelta(days=3))
    track(customer, "Email Link Clicked", at=now - timedelta(days=3), **SCANNER)
    track(customer, "Page Viewed", at=now)
    track(customer, "Page Viewed", at=now - timedelta(days=31))

    traits = traits_of(customer)
    assert (traits.email_clicks_30d, traits.site_visits_30d) == (1, 1)


def test_favorite_categories_come_from_the_event_category_property(track):
    customer = CustomerFactory()
    track(customer, "Product Viewed", category="Bags")  # 1
    track(customer, "Product Added", category="Hats")  # 3
    track(customer, "Product Viewed", category="Bags")  # 2 in all

    traits = traits_of(customer)
    assert traits.favorite_categories == ["Hats", "Bags"]
    assert traits.category_weights == {"Hats": 3, "Bags": 2}


def test_favorite_categories_come_from_the_catalog_when_the_event_names_a_product(track):
    customer = CustomerFactory()
    sandal = ProductFactory(category="Shoes")
    track(customer, "Product Added", sku=sandal.sku)  # 3
    track(customer, "Product Viewed", category="Bags")  # 1

    assert traits_of(customer).favorite_categories == ["Shoes", "Bags"]


def test_the_category_the_event_gives_wins_over_the_catalog(track):
    customer = CustomerFactory()
    track(customer, "Product Viewed", sku=ProductFactory(category="Shoes").sku, category="Sale")

    assert traits_of(customer).favorite_categories == ["Sale"]


def test_only_the_three_strongest_categories_are_favorites_ties_by_name(track):
    customer = CustomerFactory()
    track(customer, "Order Completed", category="Watches", revenue=90)  # 5
    for category in ("Hats", "Bags", "Belts"):  # 1 each
        track(customer, "Product Viewed", category=category)

    assert traits_of(customer).favorite_categories == ["Watches", "Bags", "Belts"]


def test_events_other_than_views_adds_and_orders_say_nothing_about_categories(track):
    customer = CustomerFactory()
    track(customer, "Product Removed", category="Hats")
    track(customer, "Product Viewed", category="Bags")

    assert traits_of(customer).category_weights == {"Bags": 1}


def test_average_order_value_is_revenue_over_orders(track):
    customer = CustomerFactory()
    track(customer, "Order Completed", revenue=30)
    track(customer, "Order Completed", revenue="50.00")
    track(customer, "Order Completed", revenue=20)

    traits = traits_of(customer)
    assert (traits.order_count, traits.revenue, traits.average_order_value) == (3, Decimal("100"), Decimal("33.33"))


def test_orders_are_not_scored_before_any_full_recompute(track):
    customer = CustomerFactory()

    track(customer, "Order Completed", revenue=30)

    traits = traits_of(customer)
    assert (traits.rfm_recency, traits.rfm_frequency, traits.rfm_monetary) == (None, None, None)


# --- the full recompute: 30-day counts, engagement, categories, average -------------------------


def test_the_recompute_counts_exactly_the_last_30_days_dropping_older_events():
    traits = TraitsFactory(email_opens_30d=7, email_clicks_30d=4, site_visits_30d=9)
    customer = traits.customer
    for days_ago in (1, 29, 31, 200):
        EventFactory(customer=customer, type="Email Opened", occurred_at=NOW - timedelta(days=days_ago))
    EventFactory(customer=customer, type="Email Opened", occurred_at=NOW - timedelta(days=2), properties=SCANNER)
    EventFactory(customer=customer, type="Email Link Clicked", occurred_at=NOW - timedelta(days=40))
    EventFactory(customer=customer, type="Page Viewed", occurred_at=NOW - timedelta(days=5))

    traits_recompute(now=NOW)

    traits.refresh_from_db()
    assert (traits.email_opens_30d, traits.email_clicks_30d, traits.site_visits_30d) == (2, 0, 1)
    assert traits.computed_at == NOW


def test_the_recompute_sums_engagement_with_its_decay_and_without_scanners():
    customer = TraitsFactory().customer
    for event_type in ("Product Added", "Order Completed", "Email Opened"):  # 3 + 5 + 1, two weeks before NOW
        EventFactory(customer=customer, type=event_type, occurred_at=DAY_OF_EVENTS)
    EventFactory(customer=customer, type="Email Opened", occurred_at=DAY_OF_EVENTS, properties=SCANNER)

    traits_recompute(now=NOW)

    assert engagement_now(traits_of(customer).engagement_log, NOW) == pytest.approx(4.5)


def test_the_recompute_leaves_out_activity_older_than_half_a_year():
    customer = TraitsFactory(engagement_log=100.0).customer
    EventFactory(customer=customer, type="Order Completed", occurred_at=NOW - timedelta(days=181))

    traits_recompute(now=NOW)

    assert traits_of(customer).engagement_log is None


def test_the_recompute_gives_traits_to_customers_whose_activity_had_none_yet():
    customer = CustomerFactory()
    EventFactory(customer=customer, type="Product Viewed", occurred_at=DAY_OF_EVENTS, properties={"category": "Hats"})

    traits_recompute(now=NOW)

    traits = traits_of(customer)
    assert traits.favorite_categories == ["Hats"]
    assert engagement_now(traits.engagement_log, NOW) == pytest.approx(0.5)


def test_the_recompute_finds_favorite_categories_from_properties_and_the_catalog():
    customer = TraitsFactory(category_weights={"Old": 100}, favorite_categories=["Old"]).customer
    shoes = ProductFactory(category="Shoes")
    EventFactory(customer=customer, type="Product Added", product=shoes)  # 3
    EventFactory(customer=customer, type="Order Completed", product=shoes)  # 5
    EventFactory(customer=customer, type="Product Viewed", properties={"category": "Bags"})  # 1
    EventFactory(customer=customer, type="Product Viewed", product=shoes, properties={"category": "Sale"})  # 1

    traits_recompute(now=NOW)

    traits = traits_of(customer)
    assert traits.category_weights == {"Shoes": 8, "Bags": 1, "Sale": 1}
    assert traits.favorite_categories == ["Shoes", "Bags", "Sale"]


def test_the_recompute_agrees_with_the_fold_on_categories(track):
    customer = CustomerFactory()
    shoes = ProductFactory(category="Shoes")
    track(customer, "Product Added", sku=shoes.sku)
    track(customer, "Product Viewed", category="Bags")
    folded = traits_of(customer).category_weights

    traits_recompute()

    assert traits_of(customer).category_weights == folded


def test_the_recompute_sets_the_average_order_value():
    traits = TraitsFactory(order_count=3, revenue=Decimal("100.00"), last_order_at=NOW)

    traits_recompute(now=NOW)

    traits.refresh_from_db()
    assert traits.average_order_value == Decimal("33.33")


# --- RFM: quintiles of the buyers, 1 to 5 ----------------------------------------------------------


def ten_buyers(now: datetime) -> dict[int, Traits]:
    """Buyer i (1 to 10) ordered i times, spent 10 x (11 - i) and last ordered 10 x (11 - i) days
    (and some hours) ago: the frequent buyers are the recent ones, and the smallest spenders."""
    return {
        i: TraitsFactory(order_count=i, revenue=Decimal(10 * (11 - i)),
                         last_order_at=now - timedelta(days=10 * (11 - i), hours=6))
        for i in range(1, 11)
    }  # fmt: skip


def scores(traits: Traits) -> tuple[int, int, int]:
    traits.refresh_from_db()
    return traits.rfm_recency, traits.rfm_frequency, traits.rfm_monetary


def test_rfm_scores_put_two_of_ten_buyers_in_each_fifth():
    buyers = ten_buyers(NOW)

    traits_recompute(now=NOW)

    expected = {i: (math.ceil(i / 2), math.ceil(i / 2), math.ceil((11 - i) / 2)) for i in buyers}
    assert {i: scores(t) for i, t in buyers.items()} == expected


def test_rfm_scores_of_a_few_buyers():
    buyers = ten_buyers(NOW)

    traits_recompute(now=NOW)

    assert scores(buyers[1]) == (1, 1, 5)  # one order, 100 days ago, the biggest spend
    assert scores(buyers[4]) == (2, 2, 4)
    assert scores(buyers[7]) == (4, 4, 2)
    assert scores(buyers[10]) == (5, 5, 1)  # ten orders, the latest 10 days ago, the smallest spend


def test_the_best_of_five_buyers_scores_five():
    best = TraitsFactory(order_count=5, revenue=Decimal(500), last_order_at=NOW - timedelta(days=1))
    for n in range(1, 5):
        TraitsFactory(order_count=n, revenue=Decimal(100 * n), last_order_at=NOW - timedelta(days=10 * (6 - n)))

    traits_recompute(now=NOW)

    assert scores(best) == (5, 5, 5)


def test_buyers_who_tie_get_the_same_score():
    alike = [TraitsFactory(order_count=1, revenue=Decimal(40), last_order_at=NOW - timedelta(days=3)) for _ in range(4)]

    traits_recompute(now=NOW)

    assert len({scores(t) for t in alike}) == 1


def test_customers_who_never_ordered_have_no_rfm_scores_and_are_not_in_the_base():
    ten_buyers(NOW)
    browser = TraitsFactory(order_count=0, rfm_recency=3, rfm_frequency=3, rfm_monetary=3)

    run = traits_recompute(now=NOW)

    assert scores(browser) == (None, None, None)
    assert run.rfm_breakpoints["customers"] == 10


def test_a_recompute_is_recorded_as_a_run_with_its_breakpoints():
    ten_buyers(NOW)
    TraitsFactory()

    run = traits_recompute(now=NOW)

    assert run.succeeded is True and run.finished_at is not None and run.error == ""
    assert run.customers == 11
    assert run.rfm_breakpoints == {
        "recency_days": [20, 40, 60, 80],
        "frequency": [2, 4, 6, 8],
        "monetary": [20.0, 40.0, 60.0, 80.0],
        "customers": 10,
    }
    assert TraitsRun.objects.get() == run


def test_a_recompute_with_no_buyers_records_no_breakpoints():
    TraitsFactory()

    run = traits_recompute(now=NOW)

    assert run.succeeded is True and run.rfm_breakpoints == {}
    assert rfm_breakpoints_current() == {}


def test_the_breakpoints_of_the_last_successful_run_are_the_current_ones():
    ten_buyers(NOW)

    run = traits_recompute(now=NOW)

    assert rfm_breakpoints_current() == run.rfm_breakpoints


def test_a_new_order_after_a_recompute_is_scored_against_its_breakpoints(track):
    now = timezone.now()
    ten_buyers(now)
    run = traits_recompute(now=now)
    newcomer = CustomerFactory()

    track(newcomer, "Order Completed", revenue=85)  # today; one order; above the top monetary bound (80)

    assert scores(traits_of(newcomer)) == (5, 1, 5)
    assert rfm_breakpoints_current() == run.rfm_breakpoints  # the base is not re-cut by one order


def test_a_buyer_s_new_order_rescores_them_against_the_last_breakpoints(track):
    now = timezone.now()
    buyers = ten_buyers(now)
    traits_recompute(now=now)
    rare = buyers[1]  # one order 100 days ago: recency 1, frequency 1
    customer = rare.customer

    for _ in range(8):
        track(customer, "Order Completed", revenue=1)

    assert scores(traits_of(customer)) == (5, 5, 5)  # nine orders now (> 8), 108 spent (> 80), today


def test_the_fold_and_the_recompute_score_alike():
    buyers = ten_buyers(NOW)

    run = traits_recompute(now=NOW)

    for traits in buyers.values():
        assert rfm_scores(traits, run.rfm_breakpoints, now=NOW) == scores(traits)
