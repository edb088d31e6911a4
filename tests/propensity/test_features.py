"""Features as of a cutoff, from a bare order log and from the shop's events, checked
against values computed by hand; and the labels: who ordered in the horizon after it."""

import math
from datetime import UTC, datetime, timedelta

import pytest

from personalization.propensity.features import FEATURES, NEVER, features_from_events, features_from_orders
from personalization.services.identities import customer_merge
from tests.factories import CustomerFactory, ProductFactory
from tests.propensity.support import consenting_customer, event, events_save, order, personalization_withdraw
from tracking.models import EventType

CUTOFF = datetime(2026, 7, 1, tzinfo=UTC)
HORIZON = timedelta(days=30)
DAY = timedelta(days=1)

# "ada": four orders before the cutoff, one just after; "bob": one old order, then one
# exactly at the end of the horizon and one after it; "cy": only orders after the cutoff.
LOG = [
    ("ada", CUTOFF - 200 * DAY, 100.0),
    ("ada", CUTOFF - 100 * DAY, 50.0),
    ("ada", CUTOFF - 40 * DAY, 20.0),
    ("ada", CUTOFF - 10 * DAY, 30.0),
    ("ada", CUTOFF + 5 * DAY, 70.0),
    ("bob", CUTOFF - 400 * DAY, 80.0),
    ("bob", CUTOFF + HORIZON, 10.0),
    ("bob", CUTOFF + 45 * DAY, 10.0),
    ("cy", CUTOFF + DAY, 25.0),
]


def rows(ids, matrix) -> dict:
    """{customer: {feature: value}}."""
    return {i: dict(zip(FEATURES, row.tolist(), strict=True)) for i, row in zip(ids, matrix, strict=True)}


def from_orders(log=LOG, cutoff=CUTOFF) -> tuple[dict, dict]:
    ids, matrix, labels = features_from_orders(log, cutoff, HORIZON)
    return rows(ids, matrix), dict(zip(ids, labels.tolist(), strict=True))


# --- from a bare order log -------------------------------------------------------------


def test_only_customers_who_ordered_before_the_cutoff_get_a_row():
    features, _ = from_orders()

    assert sorted(features) == ["ada", "bob"]


def test_a_regular_customers_features_match_the_hand_computed_values():
    ada = from_orders()[0]["ada"]

    assert ada == pytest.approx({
        "days_since_last_order": 10, "orders": 4, "log_spend": math.log1p(200), "orders_30d": 1, "orders_90d": 2,
        "orders_180d": 3, "orders_365d": 4, "average_order": 50, "days_since_first_order": 200,
        "order_trend": 2 - 1,  # two orders in the last 90 days, one in the 90 before
        "mean_gap_days": (200 - 10) / 3, "overdue": 10 / ((200 - 10) / 3), "last_order_amount": 30,
        "views_30d": 0, "adds_30d": 0, "visits_30d": 0, "email_engagement_30d": 0, "categories": 0,
    })  # fmt: skip


def test_a_one_order_customer_has_no_gap_and_is_never_overdue():
    bob = from_orders()[0]["bob"]

    assert bob == pytest.approx({
        "days_since_last_order": 400, "orders": 1, "log_spend": math.log1p(80), "orders_30d": 0, "orders_90d": 0,
        "orders_180d": 0, "orders_365d": 0, "average_order": 80, "days_since_first_order": 400, "order_trend": 0,
        "mean_gap_days": 0, "overdue": 0, "last_order_amount": 80,
        "views_30d": 0, "adds_30d": 0, "visits_30d": 0, "email_engagement_30d": 0, "categories": 0,
    })  # fmt: skip


def test_an_order_exactly_at_a_window_edge_counts_in_that_window():
    features, _ = from_orders([("di", CUTOFF - 30 * DAY, 10.0), ("di", CUTOFF - 90 * DAY, 10.0)])

    assert features["di"]["orders_30d"] == 1
    assert features["di"]["orders_90d"] == 2
    assert features["di"]["order_trend"] == 2


def test_the_last_order_amount_is_the_latest_orders_whatever_the_log_order():
    log = [("ed", CUTOFF - 3 * DAY, 15.0), ("ed", CUTOFF - 60 * DAY, 500.0), ("ed", CUTOFF - 20 * DAY, 99.0)]

    assert from_orders(log)[0]["ed"]["last_order_amount"] == 15


def test_a_customer_who_orders_within_the_horizon_is_labelled_1():
    assert from_orders()[1]["ada"] == 1


def test_an_order_at_the_cutoff_itself_is_a_label_not_a_feature():
    features, labels = from_orders([("fa", CUTOFF - 50 * DAY, 10.0), ("fa", CUTOFF, 10.0)])

    assert features["fa"]["orders"] == 1
    assert labels["fa"] == 1


def test_orders_at_or_after_the_end_of_the_horizon_are_ignored():
    features, labels = from_orders()

    assert labels["bob"] == 0
    assert features["bob"]["orders"] == 1


def test_features_do_not_change_with_orders_after_the_cutoff():
    before_only = [line for line in LOG if line[1] < CUTOFF]

    assert from_orders(before_only)[0] == from_orders()[0]


# --- from the shop's events --------------------------------------------------------------


@pytest.fixture
def catalog(db):
    return {
        "shoe": ProductFactory(sku="SHOE", category="Shoes"),
        "book": ProductFactory(sku="BOOK", category="Books"),
        "game": ProductFactory(sku="GAME", category="Games"),
        "nameless": ProductFactory(sku="NOCAT", category=""),
    }


def features_at(cutoff=CUTOFF, *, horizon=HORIZON) -> tuple[dict, dict]:
    ids, matrix, labels = features_from_events(cutoff=cutoff, horizon=horizon)
    return rows(ids, matrix), dict(zip(ids, labels.tolist(), strict=True))


@pytest.fixture
def browser(catalog):
    """A consenting customer with two orders and a month of browsing and email."""
    customer = consenting_customer()
    at = lambda days: CUTOFF - days * DAY  # noqa: E731
    events_save([
        order(customer, at(50), amount=60.0),
        event(customer, EventType.ORDER_COMPLETED, at(5), properties={"total": "40.00"}),
        event(customer, EventType.PRODUCT_VIEWED, at(2), product_id="SHOE"),
        event(customer, EventType.PRODUCT_VIEWED, at(3), product_id="SHOE"),
        event(customer, EventType.PRODUCT_VIEWED, at(20), product_id="BOOK"),
        event(customer, EventType.PRODUCT_VIEWED, at(45), product_id="GAME"),  # before the 30 days
        event(customer, EventType.PRODUCT_VIEWED, at(1), product_id="NOCAT"),
        event(customer, EventType.PRODUCT_VIEWED, at(1), product_id="NOT-IN-CATALOG"),
        event(customer, EventType.PRODUCT_ADDED, at(2), product_id="SHOE"),
        event(customer, EventType.PAGE_VIEWED, at(4)),
        event(customer, EventType.PAGE_VIEWED, at(29)),
        event(customer, EventType.EMAIL_OPENED, at(6)),
        event(customer, EventType.EMAIL_OPENED, at(6), properties={"bot": None}),  # no verdict: a person
        event(customer, EventType.EMAIL_OPENED, at(7), properties={"bot": "apple-mpp"}),
        event(customer, EventType.EMAIL_LINK_CLICKED, at(7), properties={"bot": True}),
        event(customer, EventType.EMAIL_LINK_CLICKED, at(8)),
        event(customer, EventType.PRODUCT_VIEWED, CUTOFF, product_id="SHOE"),  # at the cutoff: the future
        event(customer, EventType.PRODUCT_ADDED, CUTOFF + DAY, product_id="SHOE"),
        order(customer, CUTOFF + 10 * DAY),
    ])  # fmt: skip
    return customer


def test_order_features_come_from_order_completed_events_and_their_value(browser):
    row = features_at()[0][browser.pk]

    assert row["orders"] == 2
    assert row["days_since_last_order"] == pytest.approx(5)
    assert row["days_since_first_order"] == pytest.approx(50)
    assert row["log_spend"] == pytest.approx(math.log1p(100))
    assert row["average_order"] == pytest.approx(50)
    assert row["last_order_amount"] == pytest.approx(40)
    assert row["mean_gap_days"] == pytest.approx(45)
    assert row["overdue"] == pytest.approx(5 / 45)


def test_views_adds_and_visits_count_the_30_days_before_the_cutoff(browser):
    row = features_at()[0][browser.pk]

    assert (row["views_30d"], row["adds_30d"], row["visits_30d"]) == (5, 1, 2)


def test_email_engagement_counts_opens_and_clicks_but_not_those_of_machines(browser):
    assert features_at()[0][browser.pk]["email_engagement_30d"] == 3


def test_categories_are_the_distinct_catalog_categories_of_the_products_touched(browser):
    # Shoes, Books and Games; the product with no category and the unknown SKU add none.
    assert features_at()[0][browser.pk]["categories"] == 3


def test_events_labels_say_who_ordered_in_the_horizon(browser, catalog):
    quiet = consenting_customer()
    events_save([order(quiet, CUTOFF - 10 * DAY), order(quiet, CUTOFF + HORIZON + DAY)])

    labels = features_at()[1]

    assert labels == {browser.pk: 1, quiet.pk: 0}


def test_without_a_horizon_there_are_no_labels(browser):
    assert features_from_events(cutoff=CUTOFF)[2] is None


def test_a_customer_who_only_browsed_gets_a_row_with_no_orders(catalog):
    looker = consenting_customer()
    events_save([event(looker, EventType.PRODUCT_VIEWED, CUTOFF - 3 * DAY, product_id="BOOK")])

    row = features_at()[0][looker.pk]

    assert (row["orders"], row["views_30d"], row["categories"]) == (0, 1, 1)
    assert row["days_since_last_order"] == row["days_since_first_order"] == NEVER


def test_a_customer_with_only_old_browsing_and_no_order_gets_no_row(catalog):
    events_save([event(consenting_customer(), EventType.PRODUCT_VIEWED, CUTOFF - 40 * DAY, product_id="BOOK")])

    assert features_at()[0] == {}


def test_customer_ids_narrow_the_rows_to_those_customers(browser):
    other = consenting_customer()
    events_save([order(other, CUTOFF - DAY)])

    ids, _, _ = features_from_events(cutoff=CUTOFF, customer_ids=[other.pk])

    assert ids == [other.pk]


# --- consent -------------------------------------------------------------------------------


def ordered_once(customer):
    events_save([order(customer, CUTOFF - 3 * DAY)])
    return customer


def test_under_opt_in_a_customer_never_asked_is_left_out(settings, db):
    settings.CONSENT_REGIME = "opt-in"
    asked = ordered_once(consenting_customer())
    ordered_once(CustomerFactory())

    assert set(features_at()[0]) == {asked.pk}


def test_under_opt_out_a_customer_never_asked_is_included(settings, db):
    settings.CONSENT_REGIME = "opt-out"
    never_asked = ordered_once(CustomerFactory())

    assert set(features_at()[0]) == {never_asked.pk}


@pytest.mark.parametrize("regime", ["opt-in", "opt-out"])
def test_a_customer_who_withdrew_personalization_is_left_out(settings, db, regime):
    settings.CONSENT_REGIME = regime
    withdrawn = ordered_once(consenting_customer())
    personalization_withdraw(withdrawn)

    assert features_at()[0] == {}


def test_a_profile_merged_into_another_is_left_out(db):
    tombstone, survivor = ordered_once(consenting_customer()), ordered_once(consenting_customer())
    customer_merge(source=tombstone, into=survivor)

    assert tombstone.pk not in features_at()[0]
