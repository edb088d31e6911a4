"""Event rules count each customer's own events of one type, in a window, with filters,
and optionally with no other event after them; expectations are counted by hand."""

from datetime import timedelta

import pytest

from tests.factories import CustomerFactory, EventFactory, ProductFactory
from tests.segments.rules_support import NOW, audience, ids
from tracking.models import EventType

pytestmark = pytest.mark.django_db

VIEWED = EventType.PRODUCT_VIEWED
ADDED = EventType.PRODUCT_ADDED
ORDERED = EventType.ORDER_COMPLETED
SECOND, MINUTE, HOUR, DAY = timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


def did(customer, event_type=VIEWED, *, ago=HOUR, times=1, **fields):
    for _ in range(times):
        EventFactory(customer=customer, type=event_type, occurred_at=NOW - ago, **fields)
    return customer


def viewed(op: str = ">=", count: int = 1, **node) -> dict:
    return {"type": "event", "event": VIEWED, "op": op, "count": count, **node}


# --- how many times, within a window --------------------------------------------------------


@pytest.fixture
def viewers():
    """Product views in the last 7 days: 0, 1, 2 and 3; `lapsed` viewed twice, 8 days ago."""
    return {
        "never": CustomerFactory(),
        "once": did(CustomerFactory(), ago=DAY),
        "twice": did(CustomerFactory(), ago=2 * DAY, times=2),
        "thrice": did(CustomerFactory(), ago=6 * DAY, times=3),
        "lapsed": did(CustomerFactory(), ago=8 * DAY, times=2),
    }


@pytest.mark.parametrize(
    ("op", "count", "expected"),
    [
        (">=", 1, {"once", "twice", "thrice"}),
        (">=", 2, {"twice", "thrice"}),
        (">=", 4, set()),
        ("=", 1, {"once"}),
        ("=", 2, {"twice"}),
        ("<=", 2, {"never", "once", "twice", "lapsed"}),
        ("<=", 1, {"never", "once", "lapsed"}),
        ("=", 0, {"never", "lapsed"}),
        ("<=", 0, {"never", "lapsed"}),
        (">=", 0, {"never", "once", "twice", "thrice", "lapsed"}),
    ],
)
def test_a_count_within_a_window_counts_each_customers_events_in_it(viewers, op, count, expected):
    assert audience(viewed(op, count, within="7d")) == ids(*(viewers[name] for name in expected))


def test_without_a_window_every_event_counts(viewers):
    assert audience(viewed(">=", 2)) == ids(viewers["twice"], viewers["thrice"], viewers["lapsed"])


def test_an_event_rule_means_at_least_once_by_default(viewers):
    rule = {"type": "event", "event": VIEWED, "within": "7d"}
    assert audience(rule) == ids(viewers["once"], viewers["twice"], viewers["thrice"])


def test_people_with_no_events_at_all_match_zero_and_at_most_one():
    nobody = CustomerFactory()

    assert audience(viewed("=", 0)) == ids(nobody)
    assert audience(viewed("<=", 1)) == ids(nobody)
    assert audience(viewed(">=", 1)) == set()


def test_the_window_includes_its_first_moment():
    edge = did(CustomerFactory(), ago=7 * DAY)
    did(CustomerFactory(), ago=7 * DAY + SECOND)

    assert audience(viewed(within="7d")) == ids(edge)


@pytest.mark.parametrize(
    ("within", "ago", "inside"),
    [
        ("30m", 30 * MINUTE, True),
        ("30m", 31 * MINUTE, False),
        ("24h", 24 * HOUR, True),
        ("24h", 25 * HOUR, False),
        ("2w", 14 * DAY, True),
        ("2w", 15 * DAY, False),
    ],
)
def test_each_unit_of_a_window_is_honoured(within, ago, inside):
    customer = did(CustomerFactory(), ago=ago)
    assert audience(viewed(within=within)) == (ids(customer) if inside else set())


def test_older_than_leaves_out_events_that_are_too_recent():
    rule = {"type": "event", "event": ADDED, "within": "24h", "older_than": "1h"}
    just_now = did(CustomerFactory(), ADDED, ago=30 * MINUTE)
    an_hour = did(CustomerFactory(), ADDED, ago=HOUR)
    two_hours = did(CustomerFactory(), ADDED, ago=2 * HOUR)
    a_day = did(CustomerFactory(), ADDED, ago=DAY)
    did(CustomerFactory(), ADDED, ago=DAY + SECOND)

    assert audience(rule) == ids(an_hour, two_hours, a_day)
    assert just_now.pk not in audience(rule)


def test_older_than_counts_only_the_old_enough_events():
    both = did(did(CustomerFactory(), ago=10 * MINUTE), ago=2 * HOUR)

    assert audience(viewed("=", 1, older_than="1h")) == ids(both)
    assert audience(viewed("=", 2)) == ids(both)


# --- only the customer's own events, of the type named ---------------------------------------


def test_events_of_other_types_are_not_counted():
    did(CustomerFactory(), ADDED, times=3)
    did(CustomerFactory(), ORDERED)

    assert audience(viewed(">=", 1)) == set()


def test_each_customer_is_counted_alone():
    did(CustomerFactory())
    did(CustomerFactory())

    assert audience(viewed(">=", 2)) == set()


def test_events_with_no_customer_are_ignored():
    EventFactory(customer=None, user_id="", anonymous_id="visitor-1", type=VIEWED, occurred_at=NOW - HOUR)
    nobody = CustomerFactory()

    assert audience(viewed(">=", 1)) == set()
    assert audience(viewed("=", 0)) == ids(nobody)
    assert audience(viewed("<=", 0)) == ids(nobody)


# --- filters on the event's properties and product -------------------------------------------


@pytest.fixture
def browsing():
    """Views with properties: red at 30, blue at 10, and one with a price and no color."""
    return {
        "red": did(CustomerFactory(), properties={"color": "red", "price": 30, "name": "Blue Suede Shoes"}),
        "blue": did(CustomerFactory(), properties={"color": "blue", "price": 10, "name": "Sandals"}),
        "uncolored": did(CustomerFactory(), properties={"price": 50}),
    }


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"field": "color", "op": "=", "value": "red"}, {"red"}),
        ({"field": "color", "op": "!=", "value": "red"}, {"blue"}),
        ({"field": "price", "op": ">", "value": 20}, {"red", "uncolored"}),
        ({"field": "price", "op": ">=", "value": 30}, {"red", "uncolored"}),
        ({"field": "price", "op": "<", "value": 30}, {"blue"}),
        ({"field": "price", "op": "<=", "value": 10}, {"blue"}),
        ({"field": "price", "op": "=", "value": 50}, {"uncolored"}),
        ({"field": "color", "op": "in", "value": ["red", "blue"]}, {"red", "blue"}),
        ({"field": "name", "op": "contains", "value": "suede"}, {"red"}),
        ({"field": "color", "op": "is set"}, {"red", "blue"}),
        ({"field": "color", "op": "is not set"}, {"uncolored"}),
    ],
)
def test_a_property_filter_counts_only_the_events_it_matches(browsing, where, expected):
    assert audience(viewed(where=[where])) == ids(*(browsing[name] for name in expected))


def test_a_property_sent_as_null_is_not_set_but_false_is():
    null = did(CustomerFactory(), properties={"bot": None})
    false = did(CustomerFactory(), properties={"bot": False})
    true = did(CustomerFactory(), properties={"bot": True})
    missing = did(CustomerFactory(), properties={})

    assert audience(viewed(where=[{"field": "bot", "op": "is set"}])) == ids(false, true)
    assert audience(viewed(where=[{"field": "bot", "op": "is not set"}])) == ids(null, missing)


def test_all_property_filters_must_hold_on_the_same_event():
    did(CustomerFactory(), properties={"color": "red", "price": 5})
    did(did(CustomerFactory(), properties={"color": "red", "price": 5}), properties={"color": "blue", "price": 50})
    both = did(CustomerFactory(), properties={"color": "red", "price": 50})
    where = [{"field": "color", "op": "=", "value": "red"}, {"field": "price", "op": ">", "value": 20}]

    assert audience(viewed(where=where)) == ids(both)


def test_a_count_with_a_filter_counts_only_matching_events():
    red_twice = did(CustomerFactory(), properties={"color": "red"}, times=2)
    did(did(CustomerFactory(), properties={"color": "red"}), properties={"color": "blue"})

    assert audience(viewed(">=", 2, where=[{"field": "color", "op": "=", "value": "red"}])) == ids(red_twice)


@pytest.fixture
def catalog_views():
    shoe, bag = ProductFactory(category="Shoes", price=80), ProductFactory(category="Bags", price=30)
    return {
        "shoes": did(CustomerFactory(), product=shoe),
        "bags": did(CustomerFactory(), product=bag),
        "uncategorized": did(CustomerFactory(), product=ProductFactory(category="", price=5)),
        "not in catalog": did(CustomerFactory(), product_id="NOT-SYNCED-YET"),
        "no product": did(CustomerFactory()),
    }


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"field": "product.category", "op": "=", "value": "Shoes"}, {"shoes"}),
        ({"field": "product.category", "op": "!=", "value": "Shoes"}, {"bags", "uncategorized"}),
        ({"field": "product.category", "op": "in", "value": ["Shoes", "Bags"]}, {"shoes", "bags"}),
        ({"field": "product.category", "op": "contains", "value": "sho"}, {"shoes"}),
        ({"field": "product.category", "op": "is set"}, {"shoes", "bags"}),
        ({"field": "product.category", "op": "is not set"}, {"uncategorized", "not in catalog", "no product"}),
        ({"field": "product.price", "op": ">", "value": 50}, {"shoes"}),
        ({"field": "product.price", "op": "<", "value": 50}, {"bags", "uncategorized"}),
        ({"field": "product.price", "op": "is set"}, {"shoes", "bags", "uncategorized"}),
        ({"field": "product.price", "op": "is not set"}, {"not in catalog", "no product"}),
    ],
)
def test_a_product_filter_reads_the_catalog(catalog_views, where, expected):
    assert audience(viewed(where=[where])) == ids(*(catalog_views[name] for name in expected))


# --- one event and not another since (cart abandonment) --------------------------------------

ABANDONED = {"type": "event", "event": ADDED, "within": "24h", "older_than": "1h", "without": ORDERED}


def test_an_add_with_no_order_after_it_is_an_abandoned_cart():
    abandoner = did(CustomerFactory(), ADDED, ago=3 * HOUR)

    assert audience(ABANDONED) == ids(abandoner)


def test_an_order_after_the_add_removes_them():
    buyer = did(CustomerFactory(), ADDED, ago=3 * HOUR)
    did(buyer, ORDERED, ago=2 * HOUR)

    assert audience(ABANDONED) == set()


def test_an_order_after_the_add_removes_them_even_if_it_was_a_moment_ago():
    buyer = did(CustomerFactory(), ADDED, ago=3 * HOUR)
    did(buyer, ORDERED, ago=SECOND)

    assert audience(ABANDONED) == set()


def test_an_order_before_the_add_does_not_remove_them():
    returning = did(CustomerFactory(), ORDERED, ago=5 * HOUR)
    did(returning, ADDED, ago=3 * HOUR)

    assert audience(ABANDONED) == ids(returning)


def test_a_new_add_after_an_order_abandons_again():
    again = did(CustomerFactory(), ADDED, ago=5 * HOUR)
    did(again, ORDERED, ago=4 * HOUR)
    did(again, ADDED, ago=3 * HOUR)

    assert audience(ABANDONED) == ids(again)


def test_someone_elses_order_does_not_remove_them():
    abandoner = did(CustomerFactory(), ADDED, ago=3 * HOUR)
    did(CustomerFactory(), ORDERED, ago=2 * HOUR)

    assert audience(ABANDONED) == ids(abandoner)


def test_an_add_too_recent_or_too_old_is_not_an_abandoned_cart_yet_or_any_more():
    did(CustomerFactory(), ADDED, ago=30 * MINUTE)
    did(CustomerFactory(), ADDED, ago=25 * HOUR)

    assert audience(ABANDONED) == set()


def test_without_counts_each_unanswered_event():
    rule = {"type": "event", "event": ADDED, "op": ">=", "count": 2, "without": ORDERED}
    two_left = did(CustomerFactory(), ADDED, ago=3 * HOUR, times=2)
    one_left = did(CustomerFactory(), ADDED, ago=5 * HOUR)
    did(one_left, ORDERED, ago=4 * HOUR)
    did(one_left, ADDED, ago=3 * HOUR)

    assert audience(rule) == ids(two_left)
