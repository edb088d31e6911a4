"""Trait rules select exactly the customers whose traits, as stored, satisfy them.

Every expectation is computed by hand from Traits rows and profiles built with known
values; the rules are evaluated at a fixed moment, NOW.
"""

from datetime import timedelta
from decimal import Decimal

import pytest

from personalization.models import Customer
from personalization.segments.selectors import segment_audience
from personalization.services.traits import engagement_add
from tests.factories import CustomerFactory, TraitsFactory
from tests.segments.rules_support import NOW, audience, ids, trait

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)


def with_traits(**values):
    return TraitsFactory(**values).customer


# --- numbers ---------------------------------------------------------------------------


@pytest.fixture
def orders():
    """Customers by number of orders; `unknown` has no traits row at all."""
    return {
        "none": with_traits(order_count=0),
        "one": with_traits(order_count=1),
        "two": with_traits(order_count=2),
        "five": with_traits(order_count=5),
        "unknown": CustomerFactory(),
    }


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("=", 2, {"two"}),
        ("!=", 2, {"none", "one", "five"}),
        (">", 1, {"two", "five"}),
        (">=", 2, {"two", "five"}),
        ("<", 2, {"none", "one"}),
        ("<=", 1, {"none", "one"}),
        ("between", [1, 2], {"one", "two"}),
        ("between", [2, 2], {"two"}),
    ],
)
def test_a_number_trait_compares_the_stored_count(orders, op, value, expected):
    assert audience(trait("order_count", op, value)) == ids(*(orders[name] for name in expected))


def test_a_customer_with_no_traits_row_matches_no_number_comparison(orders):
    for op, value in [("=", 0), ("!=", 2), ("<", 1), ("<=", 0), ("between", [0, 10])]:
        assert orders["unknown"].pk not in audience(trait("order_count", op, value)), op


def test_between_includes_both_ends_of_a_money_range():
    below = with_traits(revenue=Decimal("9.99"))
    low = with_traits(revenue=Decimal("10.00"))
    high = with_traits(revenue=Decimal("50.00"))
    with_traits(revenue=Decimal("50.01"))

    assert audience(trait("lifetime_value", "between", [10, 50])) == ids(low, high)
    assert audience(trait("lifetime_value", "between", [9.99, 10])) == ids(below, low)


def test_a_money_trait_compares_with_a_fractional_number():
    with_traits(average_order_value=Decimal("49.99"))
    above = with_traits(average_order_value=Decimal("50.00"))

    assert audience(trait("average_order_value", ">", 49.995)) == ids(above)


def test_a_number_trait_is_set_when_it_has_a_value():
    scored = with_traits(order_count=2, rfm_recency=3)
    with_traits(order_count=0, rfm_recency=None)
    CustomerFactory()

    assert audience(trait("rfm_recency", "is set")) == ids(scored)


def test_a_number_trait_is_not_set_without_a_value_or_without_traits():
    with_traits(order_count=2, rfm_recency=3)
    unscored = with_traits(order_count=0, rfm_recency=None)
    unknown = CustomerFactory()

    assert audience(trait("rfm_recency", "is not set")) == ids(unscored, unknown)


def test_a_count_never_equals_a_fraction():
    one, two = with_traits(order_count=1), with_traits(order_count=2)

    assert audience(trait("order_count", "=", 1.5)) == set()
    assert audience(trait("order_count", "!=", 1.5)) == ids(one, two)
    assert audience(trait("order_count", "=", 2.0)) == ids(two)


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        (">=", 1.5, {"two"}),
        (">", 1.5, {"two"}),
        ("<", 1.5, {"one"}),
        ("<=", 1.5, {"one"}),
        ("between", [1.5, 9], {"two"}),
    ],
)
def test_a_count_compares_with_a_fraction_as_a_number(op, value, expected):
    counts = {"one": with_traits(order_count=1), "two": with_traits(order_count=2)}

    assert audience(trait("order_count", op, value)) == ids(*(counts[name] for name in expected))


def test_each_thirty_day_counter_is_its_own_trait():
    opener = with_traits(email_opens_30d=3)
    clicker = with_traits(email_clicks_30d=3)
    visitor = with_traits(site_visits_30d=3)

    assert audience(trait("email_opens_30d", ">=", 3)) == ids(opener)
    assert audience(trait("email_clicks_30d", ">=", 3)) == ids(clicker)
    assert audience(trait("site_visits_30d", ">=", 3)) == ids(visitor)


# --- the engagement score --------------------------------------------------------------


def scored(score: float, *, days_ago: int):
    """A customer whose engagement score was `score` `days_ago` days before NOW."""
    return with_traits(engagement_log=engagement_add(None, score, NOW - timedelta(days=days_ago)))


@pytest.fixture
def engagement():
    return {
        "eight_now": scored(8, days_ago=0),
        "four_now": scored(8, days_ago=14),  # one half-life ago: 4 now
        "two_now": scored(8, days_ago=28),  # two half-lives ago: 2 now
    }


def test_a_score_of_8_as_of_14_days_ago_is_4_now(engagement):
    assert engagement["four_now"].traits.engagement_score(NOW) == 4.0
    assert engagement["two_now"].traits.engagement_score(NOW) == 2.0


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        (">=", 4, {"eight_now", "four_now"}),
        (">", 4, {"eight_now"}),
        ("<=", 4, {"four_now", "two_now"}),
        ("<", 4, {"two_now"}),
        (">", 3.9, {"eight_now", "four_now"}),
        ("<", 4.1, {"four_now", "two_now"}),
        (">=", 8, {"eight_now"}),
        (">", 8, set()),
    ],
)
def test_a_score_rule_compares_the_decayed_score_now(engagement, op, value, expected):
    assert audience(trait("engagement_score", op, value)) == ids(*(engagement[name] for name in expected))


def test_the_same_score_rule_lets_a_customer_go_as_their_score_decays():
    customer = scored(8, days_ago=0)
    rule = trait("engagement_score", ">=", 5)

    assert audience(rule) == ids(customer)
    later = NOW + timedelta(days=14)  # 4 by then
    assert not segment_audience(rules=rule, now=later).filter(pk=customer.pk).exists()


def test_no_activity_scores_zero_so_it_is_below_any_positive_score():
    quiet = with_traits(engagement_log=None)
    unknown = CustomerFactory()
    busy = scored(8, days_ago=0)

    assert quiet.traits.engagement_score(NOW) == 0.0
    assert audience(trait("engagement_score", "<", 1)) == ids(quiet, unknown)
    assert audience(trait("engagement_score", "<=", 8)) == ids(quiet, unknown, busy)


def test_a_score_above_zero_means_any_activity_at_all():
    with_traits(engagement_log=None)
    CustomerFactory()
    faint = scored(0.01, days_ago=60)

    assert audience(trait("engagement_score", ">", 0)) == ids(faint)


def test_a_score_of_at_least_zero_is_everyone():
    quiet = with_traits(engagement_log=None)
    busy = scored(8, days_ago=0)

    assert audience(trait("engagement_score", ">=", 0)) == ids(quiet, busy)
    assert audience(trait("engagement_score", "<", 0)) == set()


# --- days since a moment ---------------------------------------------------------------


@pytest.fixture
def last_orders():
    """Customers by whole days since their last order, at the edges of a day."""
    return {
        "29": with_traits(last_order_at=NOW - 30 * DAY + SECOND),  # 29 days 23:59:59
        "30": with_traits(last_order_at=NOW - 30 * DAY),  # exactly 30 days
        "30 and a bit": with_traits(last_order_at=NOW - 31 * DAY + SECOND),  # 30 days 23:59:59
        "31": with_traits(last_order_at=NOW - 31 * DAY),  # exactly 31 days
        "never": with_traits(last_order_at=None),
        "unknown": CustomerFactory(),
    }


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        (">=", {"30", "30 and a bit", "31"}),
        (">", {"31"}),
        ("<=", {"29", "30", "30 and a bit"}),
        ("<", {"29"}),
        ("=", {"30", "30 and a bit"}),
    ],
)
def test_days_since_the_last_order_counts_whole_days(last_orders, op, expected):
    rule = trait("days_since_last_order", op, 30)
    assert audience(rule) == ids(*(last_orders[name] for name in expected))


def test_days_since_the_last_order_is_set_for_people_who_ordered(last_orders):
    ordered = ids(*(last_orders[name] for name in ("29", "30", "30 and a bit", "31")))
    assert audience(trait("days_since_last_order", "is set")) == ordered


def test_days_since_the_last_order_is_not_set_for_people_who_never_ordered(last_orders):
    never = ids(last_orders["never"], last_orders["unknown"])
    assert audience(trait("days_since_last_order", "is not set")) == never


def test_zero_days_since_an_order_means_within_the_last_24_hours():
    just_now = with_traits(last_order_at=NOW)
    this_morning = with_traits(last_order_at=NOW - DAY + SECOND)
    with_traits(last_order_at=NOW - DAY)

    assert audience(trait("days_since_last_order", "=", 0)) == ids(just_now, this_morning)


def test_days_since_the_first_order_reads_the_first_order():
    old_hand = with_traits(first_order_at=NOW - 400 * DAY, last_order_at=NOW - DAY)
    with_traits(first_order_at=NOW - 10 * DAY, last_order_at=NOW - 10 * DAY)

    assert audience(trait("days_since_first_order", ">=", 365)) == ids(old_hand)


def test_days_since_signup_reads_when_the_profile_was_made():
    new = CustomerFactory()
    seasoned = CustomerFactory()
    Customer.objects.filter(pk=new.pk).update(created_at=NOW - 7 * DAY + SECOND)  # 6 days
    Customer.objects.filter(pk=seasoned.pk).update(created_at=NOW - 7 * DAY)  # 7 days

    assert audience(trait("days_since_signup", "<", 7)) == ids(new)
    assert audience(trait("days_since_signup", ">=", 7)) == ids(seasoned)


def test_days_since_last_seen_reads_the_last_activity():
    lately = CustomerFactory(last_seen_at=NOW - 2 * DAY)
    long_ago = CustomerFactory(last_seen_at=NOW - 90 * DAY)
    CustomerFactory(last_seen_at=None)

    assert audience(trait("days_since_last_seen", "<=", 2)) == ids(lately)
    assert audience(trait("days_since_last_seen", ">", 60)) == ids(long_ago)
    assert audience(trait("days_since_last_seen", "is set")) == ids(lately, long_ago)


# --- texts -----------------------------------------------------------------------------


@pytest.fixture
def people():
    return {
        "ada": CustomerFactory(email="ada@lovelace.org", first_name="Ada", locale="fr-FR", timezone="Europe/Paris"),
        "bob": CustomerFactory(email="bob@example.com", first_name="Bob", locale="en-US", timezone="America/New_York"),
        "cy": CustomerFactory(email="", first_name="", locale="en-GB", timezone="Europe/London"),
    }


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (trait("first_name", "=", "Ada"), {"ada"}),
        (trait("locale", "!=", "en-US"), {"ada", "cy"}),
        (trait("email", "contains", "@EXAMPLE."), {"bob"}),
        (trait("first_name", "contains", "o"), {"bob"}),
        (trait("locale", "starts with", "en"), {"bob", "cy"}),
        (trait("timezone", "starts with", "europe/"), {"ada", "cy"}),
        (trait("locale", "in", ["fr-FR", "en-GB"]), {"ada", "cy"}),
        (trait("first_name", "is set"), {"ada", "bob"}),
        (trait("first_name", "is not set"), {"cy"}),
        (trait("email", "is set"), {"ada", "bob"}),
        (trait("email", "is not set"), {"cy"}),
    ],
)
def test_a_text_trait_compares_the_profile_field(people, rule, expected):
    assert audience(rule) == ids(*(people[name] for name in expected))


def test_starts_with_does_not_match_in_the_middle(people):
    assert audience(trait("locale", "starts with", "US")) == set()


# --- lists -----------------------------------------------------------------------------


@pytest.fixture
def favorites():
    return {
        "shoes and bags": with_traits(favorite_categories=["Shoes", "Bags"]),
        "bags": with_traits(favorite_categories=["Bags"]),
        "shoe care": with_traits(favorite_categories=["Shoe Care", "Socks"]),
        "none yet": with_traits(favorite_categories=[]),
        "unknown": CustomerFactory(),
    }


def test_favorite_categories_contains_a_whole_category(favorites):
    assert audience(trait("favorite_categories", "contains", "Shoes")) == ids(favorites["shoes and bags"])
    assert audience(trait("favorite_categories", "contains", "Bags")) == ids(
        favorites["shoes and bags"], favorites["bags"]
    )


def test_favorite_categories_does_not_match_part_of_a_category(favorites):
    assert audience(trait("favorite_categories", "contains", "Shoe")) == set()
    assert audience(trait("favorite_categories", "contains", "Care")) == set()


def test_favorite_categories_ignores_case(favorites):
    assert audience(trait("favorite_categories", "contains", "shoes")) == ids(favorites["shoes and bags"])


def test_favorite_categories_does_not_contain_is_everyone_else(favorites):
    expected = ids(*(favorites[name] for name in ("bags", "shoe care", "none yet", "unknown")))
    assert audience(trait("favorite_categories", "does not contain", "Shoes")) == expected


# --- attributes sent by the shop ---------------------------------------------------------


@pytest.fixture
def plans():
    return {
        "gold": CustomerFactory(attributes={"plan": "gold", "team": "Red Sox"}),
        "silver": CustomerFactory(attributes={"plan": "silver"}),
        "blank": CustomerFactory(attributes={"plan": ""}),
        "none": CustomerFactory(attributes={}),
    }


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (trait("attributes.plan", "=", "gold"), {"gold"}),
        (trait("attributes.plan", "in", ["gold", "silver"]), {"gold", "silver"}),
        (trait("attributes.plan", "contains", "OLD"), {"gold"}),
        (trait("attributes.plan", "starts with", "sil"), {"silver"}),
        (trait("attributes.plan", "is set"), {"gold", "silver"}),
        (trait("attributes.plan", "is not set"), {"blank", "none"}),
        (trait("attributes.team", "=", "Red Sox"), {"gold"}),
        (trait("attributes.team", "is not set"), {"silver", "blank", "none"}),
    ],
)
def test_an_attribute_compares_the_value_the_shop_sent(plans, rule, expected):
    assert audience(rule) == ids(*(plans[name] for name in expected))


def test_an_attribute_differs_only_where_the_shop_sent_it(plans):
    assert audience(trait("attributes.plan", "!=", "gold")) == ids(plans["silver"], plans["blank"])


def test_an_attribute_sent_as_null_is_not_set():
    null = CustomerFactory(attributes={"plan": None})
    gold = CustomerFactory(attributes={"plan": "gold"})

    assert audience(trait("attributes.plan", "is set")) == ids(gold)
    assert audience(trait("attributes.plan", "is not set")) == ids(null)


@pytest.mark.parametrize("name", ["in", "contains", "exact", "range", "isnull", "has_key", "gt"])
def test_an_attribute_named_like_a_lookup_is_still_an_attribute(name):
    sent = CustomerFactory(attributes={name: "x"})
    blank = CustomerFactory(attributes={name: ""})
    missing = CustomerFactory(attributes={})

    assert audience(trait(f"attributes.{name}", "is set")) == ids(sent)
    assert audience(trait(f"attributes.{name}", "is not set")) == ids(blank, missing)
    assert audience(trait(f"attributes.{name}", "=", "x")) == ids(sent)
