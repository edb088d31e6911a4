"""segment_why says which of a segment's conditions hold for a customer and which fail,
with what was observed, and its verdict is the segment's own: the customer is in the
audience exactly when the root holds."""

from datetime import timedelta
from decimal import Decimal

import pytest

from personalization.models import Traits
from personalization.segments.selectors import segment_why
from personalization.services.traits import engagement_add
from tests.factories import CustomerFactory, EventFactory, SegmentFactory, SegmentMembershipFactory, TraitsFactory
from tests.segments.rules_support import NOW, audience, trait
from tracking.models import EventType

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
VIEWED_TWICE = {"type": "event", "event": EventType.PRODUCT_VIEWED, "op": ">=", "count": 2, "within": "7d"}
ORDERED = trait("order_count", ">=", 1)
NO_BAGS = {"type": "not", "rule": trait("favorite_categories", "contains", "Bags")}
RULES = {"type": "all", "rules": [VIEWED_TWICE, ORDERED, NO_BAGS]}


def viewed(customer, *, times=1, ago=DAY):
    for _ in range(times):
        EventFactory(customer=customer, type=EventType.PRODUCT_VIEWED, occurred_at=NOW - ago)
    return customer


def why(rules, customer):
    return segment_why(segment=SegmentFactory(rules=rules), customer=customer, now=NOW)


@pytest.fixture
def one_view():
    """Viewed once (twice needed), ordered twice, no favorite categories."""
    return viewed(TraitsFactory(order_count=2).customer)


def test_a_count_that_falls_short_says_how_many_times_it_happened(one_view):
    explanation = why(RULES, one_view).children[0]

    assert explanation.holds is False
    assert explanation.observed == "1 time"
    assert explanation.text == "Product Viewed at least 2 times in the last 7d"


def test_a_count_that_is_met_says_how_many_times_it_happened():
    customer = viewed(TraitsFactory(order_count=0).customer, times=3)
    explanation = why(RULES, customer).children[0]

    assert (explanation.holds, explanation.observed) == (True, "3 times")


def test_a_count_observes_only_the_events_in_its_window():
    customer = viewed(viewed(CustomerFactory()), ago=8 * DAY)

    assert why(VIEWED_TWICE, customer).observed == "1 time"


def test_a_trait_that_holds_shows_the_value_it_held_with(one_view):
    explanation = why(RULES, one_view).children[1]

    assert (explanation.holds, explanation.observed) == (True, "is 2")
    assert explanation.text == "Number of orders >= 1"


def test_all_holds_only_when_every_child_holds(one_view):
    explanation = why(RULES, one_view)

    assert [child.holds for child in explanation.children] == [False, True, True]
    assert explanation.holds is False
    assert explanation.text == "All of these hold"


def test_any_holds_when_one_child_holds(one_view):
    explanation = why({"type": "any", "rules": [VIEWED_TWICE, ORDERED]}, one_view)

    assert [child.holds for child in explanation.children] == [False, True]
    assert explanation.holds is True


def test_not_holds_when_its_condition_fails_and_shows_that_condition(one_view):
    Traits.objects.filter(customer=one_view).update(favorite_categories=["Shoes"])
    explanation = why(NO_BAGS, one_view)

    assert explanation.holds is True
    (inner,) = explanation.children
    assert (inner.holds, inner.observed) == (False, 'is ["Shoes"]')


def test_a_days_trait_shows_whole_days_or_never():
    lapsed = TraitsFactory(last_order_at=NOW - 45 * DAY - timedelta(hours=3)).customer
    never = TraitsFactory(last_order_at=None).customer
    rule = trait("days_since_last_order", ">=", 60)

    assert (why(rule, lapsed).holds, why(rule, lapsed).observed) == (False, "45 days")
    assert (why(rule, never).holds, why(rule, never).observed) == (False, "never")


def test_the_engagement_score_shows_its_decayed_value():
    customer = TraitsFactory(engagement_log=engagement_add(None, 8, NOW - 14 * DAY)).customer
    explanation = why(trait("engagement_score", ">=", 5), customer)

    assert (explanation.holds, explanation.observed) == (False, "is 4.0")


def test_the_engagement_score_of_someone_never_active_is_no_activity():
    explanation = why(trait("engagement_score", ">=", 5), CustomerFactory())

    assert (explanation.holds, explanation.observed) == (False, "no activity yet")


def test_no_activity_shows_a_score_of_zero_which_is_below_any_positive_score():
    quiet = TraitsFactory(engagement_log=None).customer
    explanation = why(trait("engagement_score", "<", 1), quiet)

    assert (explanation.holds, explanation.observed) == (True, "is 0.0")


def test_a_money_trait_shows_its_amount():
    customer = TraitsFactory(revenue=Decimal("120.50")).customer
    explanation = why(trait("lifetime_value", ">", 100), customer)

    assert explanation.holds is True
    assert explanation.observed == "is 120.50"


def test_a_text_trait_shows_the_text_or_that_it_is_not_set():
    french = CustomerFactory(locale="fr-FR", first_name="")

    assert why(trait("locale", "=", "en-US"), french).observed == 'is "fr-FR"'
    assert why(trait("first_name", "is set"), french).observed == "is not set"
    assert why(trait("attributes.plan", "=", "gold"), french).observed == "is not set"


def test_why_is_asked_at_the_moment_given():
    customer = viewed(CustomerFactory(), times=2, ago=6 * DAY)
    segment = SegmentFactory(rules=VIEWED_TWICE)

    assert segment_why(segment=segment, customer=customer, now=NOW).holds is True
    assert segment_why(segment=segment, customer=customer, now=NOW + 2 * DAY).holds is False


# --- the verdict is the segment's own ----------------------------------------------------------

TREE = {
    "type": "any",
    "rules": [
        {"type": "all", "rules": [VIEWED_TWICE, {"type": "not", "rule": ORDERED}]},
        {
            "type": "all",
            "rules": [
                trait("days_since_last_order", "<", 30),
                {"type": "not", "rule": trait("favorite_categories", "contains", "Bags")},
            ],
        },
        trait("engagement_score", ">=", 5),
    ],
}


@pytest.fixture
def crowd():
    """Customers meant to land on each side of each branch of TREE."""
    member_elsewhere = SegmentMembershipFactory().customer
    return [
        viewed(CustomerFactory(), times=2),  # viewer with no traits row: branch 1
        viewed(TraitsFactory(order_count=1).customer, times=2),  # viewer who ordered: not branch 1
        TraitsFactory(order_count=1, last_order_at=NOW - 3 * DAY).customer,  # branch 2
        TraitsFactory(order_count=1, last_order_at=NOW - 3 * DAY, favorite_categories=["Bags"]).customer,
        TraitsFactory(order_count=4, last_order_at=NOW - 30 * DAY).customer,  # 30 days: not < 30
        TraitsFactory(engagement_log=engagement_add(None, 10, NOW - DAY)).customer,  # branch 3
        TraitsFactory(engagement_log=engagement_add(None, 8, NOW - 14 * DAY)).customer,  # 4 now: not branch 3
        TraitsFactory(engagement_log=None).customer,
        member_elsewhere,
        CustomerFactory(),
    ]


def test_the_root_holds_exactly_for_the_audience(crowd):
    segment = SegmentFactory(rules=TREE)
    members = audience(TREE)

    verdicts = {customer.pk: segment_why(segment=segment, customer=customer, now=NOW).holds for customer in crowd}

    assert verdicts == {customer.pk: customer.pk in members for customer in crowd}
    assert members == {crowd[0].pk, crowd[2].pk, crowd[5].pk}


def test_the_root_of_a_negated_tree_holds_exactly_for_the_rest(crowd):
    negated = {"type": "not", "rule": TREE}
    segment = SegmentFactory(rules=negated)
    members = audience(negated)

    for customer in crowd:
        assert segment_why(segment=segment, customer=customer, now=NOW).holds == (customer.pk in members)


def test_a_merged_profile_is_never_a_member_whatever_its_conditions_say():
    survivor = CustomerFactory()
    merged = viewed(CustomerFactory(merged_into=survivor), times=2)
    segment = SegmentFactory(rules=VIEWED_TWICE)

    explanation = segment_why(segment=segment, customer=merged, now=NOW)

    assert merged.pk not in audience(VIEWED_TWICE)
    assert explanation.holds is False
    assert explanation.text == f"Merged into customer {survivor.pk}: only that profile can be a member"
    (own,) = explanation.children
    assert (own.holds, own.observed) == (True, "2 times")
