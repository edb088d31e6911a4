"""all / any / not combine conditions as sets do, NOT being an exact complement even where
a condition cannot be known (no traits row, no attribute: NULL in SQL); the consent and
membership conditions agree with the consent app and with SegmentMembership rows."""

from datetime import timedelta

import pytest

from consent.models import ConsentSource, Purpose, SuppressionReason
from consent.selectors import can_email, can_personalize
from consent.services import consent_grant, consent_withdraw, preferences_change, suppression_add
from personalization.models import Customer
from tests.factories import CustomerFactory, EventFactory, SegmentFactory, SegmentMembershipFactory, TraitsFactory
from tests.segments.rules_support import NOW, audience, ids, trait
from tracking.models import EventType

pytestmark = pytest.mark.django_db

REGULAR = trait("order_count", ">=", 2)
SHOE_LOVER = trait("favorite_categories", "contains", "Shoes")
DAY = timedelta(days=1)
VIEWED = {"type": "event", "event": EventType.PRODUCT_VIEWED, "within": "7d"}


def everyone() -> set[int]:
    return set(Customer.objects.values_list("pk", flat=True))


@pytest.fixture
def base():
    """a: regular, loves shoes; b: one order, loves bags; c: no orders, loves shoes;
    d: no traits row at all, viewed a product yesterday."""
    d = CustomerFactory(attributes={"plan": "gold"})
    EventFactory(customer=d, type=EventType.PRODUCT_VIEWED, occurred_at=NOW - DAY)
    return {
        "a": TraitsFactory(order_count=3, favorite_categories=["Shoes"], last_order_at=NOW - 3 * DAY).customer,
        "b": TraitsFactory(order_count=1, favorite_categories=["Bags"], last_order_at=NOW - 90 * DAY).customer,
        "c": TraitsFactory(order_count=0, favorite_categories=["Shoes", "Bags"]).customer,
        "d": d,
    }


def members(base, *names) -> set[int]:
    return ids(*(base[name] for name in names))


def test_all_holds_where_every_condition_holds(base):
    assert audience({"type": "all", "rules": [REGULAR, SHOE_LOVER]}) == members(base, "a")


def test_any_holds_where_at_least_one_condition_holds(base):
    assert audience({"type": "any", "rules": [REGULAR, SHOE_LOVER]}) == members(base, "a", "c")


def test_any_of_a_trait_and_an_event_includes_people_with_only_the_event(base):
    assert audience({"type": "any", "rules": [REGULAR, VIEWED]}) == members(base, "a", "d")


def test_all_with_one_condition_is_that_condition(base):
    assert audience({"type": "all", "rules": [REGULAR]}) == audience(REGULAR) == members(base, "a")


def test_not_includes_people_for_whom_the_condition_cannot_be_known(base):
    assert audience({"type": "not", "rule": REGULAR}) == members(base, "b", "c", "d")


def test_not_not_is_the_condition_itself(base):
    assert audience({"type": "not", "rule": {"type": "not", "rule": REGULAR}}) == members(base, "a")


def test_not_inside_all_removes_its_condition_from_the_others(base):
    rules = {"type": "all", "rules": [SHOE_LOVER, {"type": "not", "rule": REGULAR}]}
    assert audience(rules) == members(base, "c")


def test_not_of_any_is_all_of_the_nots(base):
    rules = {"type": "not", "rule": {"type": "any", "rules": [REGULAR, SHOE_LOVER]}}
    assert audience(rules) == members(base, "b", "d")


def test_nesting_combines_as_written(base):
    rules = {
        "type": "any",
        "rules": [
            {"type": "all", "rules": [SHOE_LOVER, {"type": "not", "rule": REGULAR}]},
            {"type": "all", "rules": [VIEWED, trait("attributes.plan", "=", "gold")]},
        ],
    }
    assert audience(rules) == members(base, "c", "d")


@pytest.mark.parametrize(
    "rule",
    [
        REGULAR,
        SHOE_LOVER,
        VIEWED,
        trait("order_count", "!=", 1),
        trait("favorite_categories", "does not contain", "Shoes"),
        trait("days_since_last_order", "<", 30),
        trait("days_since_last_order", ">=", 30),
        trait("rfm_recency", "is not set"),
        trait("engagement_score", ">=", 1),
        trait("attributes.plan", "=", "gold"),
        trait("attributes.plan", "!=", "gold"),
        {"type": "event", "event": EventType.PRODUCT_VIEWED, "op": "=", "count": 0},
        {"type": "any", "rules": [REGULAR, VIEWED]},
    ],
    ids=lambda rule: str(rule.get("trait") or rule.get("event") or rule["type"]) + " " + str(rule.get("op", "")),
)
def test_not_is_the_exact_complement(base, rule):
    held, not_held = audience(rule), audience({"type": "not", "rule": rule})

    assert held | not_held == everyone()
    assert not (held & not_held)


def test_not_is_the_exact_complement_of_the_hand_computed_sets(base):
    assert audience(trait("order_count", "!=", 1)) == members(base, "a", "c")
    assert audience({"type": "not", "rule": trait("order_count", "!=", 1)}) == members(base, "b", "d")
    assert audience(trait("days_since_last_order", "<", 30)) == members(base, "a")
    assert audience({"type": "not", "rule": trait("days_since_last_order", "<", 30)}) == members(base, "b", "c", "d")


# --- consent ---------------------------------------------------------------------------------


def _grant(customer, purpose=Purpose.EMAIL_MARKETING, topic=None):
    consent_grant(customer=customer, purpose=purpose, topic=topic, source=ConsentSource.API, actor="api-key:tests")
    return customer


@pytest.fixture
def audiences():
    """One customer for each way of being, or not being, allowed marketing email."""
    granted = _grant(CustomerFactory())
    withdrawn = _grant(CustomerFactory())
    consent_withdraw(customer=withdrawn, purpose=Purpose.EMAIL_MARKETING, source=ConsentSource.API, actor="tests")
    suppressed = _grant(CustomerFactory(email="Bounced@Example.com"))
    suppression_add(email="bounced@example.com", reason=SuppressionReason.HARD_BOUNCE)
    paused = _grant(CustomerFactory())
    preferences_change(customer=paused, source=ConsentSource.PREFERENCE_CENTER, actor="person", proof={}, pause_days=7)
    no_address = _grant(CustomerFactory())
    Customer.objects.filter(pk=no_address.pk).update(email="")
    offers = _grant(_grant(CustomerFactory()), topic="offers")
    personalized = _grant(CustomerFactory(), purpose=Purpose.PERSONALIZATION)
    return {
        "granted": granted,
        "withdrawn": withdrawn,
        "never asked": CustomerFactory(),
        "suppressed": suppressed,
        "paused": paused,
        "no address": no_address,
        "offers": offers,
        "personalized": personalized,
    }


def test_the_email_consent_rule_selects_who_may_be_emailed(audiences):
    rule = {"type": "consent", "purpose": Purpose.EMAIL_MARKETING}
    assert audience(rule) == ids(audiences["granted"], audiences["offers"])


def test_the_email_consent_rule_agrees_with_can_email_for_each_customer(audiences):
    rule = {"type": "consent", "purpose": Purpose.EMAIL_MARKETING}
    selected = audience(rule)
    for name, customer in audiences.items():
        customer.refresh_from_db()
        assert (customer.pk in selected) == can_email(customer), name


def test_a_topic_consent_rule_agrees_with_can_email_on_that_topic(audiences):
    rule = {"type": "consent", "purpose": Purpose.EMAIL_MARKETING, "topic": "offers"}
    selected = audience(rule)

    assert selected == ids(audiences["offers"])
    for name, customer in audiences.items():
        customer.refresh_from_db()
        assert (customer.pk in selected) == can_email(customer, "offers"), name


def test_the_personalization_consent_rule_agrees_with_can_personalize(audiences):
    selected = audience({"type": "consent", "purpose": Purpose.PERSONALIZATION})
    for name, customer in audiences.items():
        assert (customer.pk in selected) == can_personalize(customer), name


def test_not_consented_is_everyone_who_may_not_be_emailed(audiences):
    rule = {"type": "not", "rule": {"type": "consent", "purpose": Purpose.EMAIL_MARKETING}}
    assert audience(rule) == everyone() - ids(audiences["granted"], audiences["offers"])


# --- membership of another segment -----------------------------------------------------------


def test_a_segment_rule_selects_the_current_members_of_that_segment():
    segment, other = SegmentFactory(), SegmentFactory()
    current = SegmentMembershipFactory(segment=segment).customer
    left = SegmentMembershipFactory(segment=segment, exited_at=NOW - DAY).customer
    SegmentMembershipFactory(segment=other)
    CustomerFactory()

    assert audience({"type": "segment", "segment": segment.pk}) == ids(current)
    assert left.pk not in audience({"type": "segment", "segment": segment.pk})


def test_a_customer_who_left_and_came_back_is_a_member():
    segment = SegmentFactory()
    back = SegmentMembershipFactory(segment=segment, exited_at=NOW - 3 * DAY).customer
    SegmentMembershipFactory(segment=segment, customer=back, entered_at=NOW - DAY)

    assert audience({"type": "segment", "segment": segment.pk}) == ids(back)


def test_not_in_a_segment_is_everyone_else():
    segment = SegmentFactory()
    member = SegmentMembershipFactory(segment=segment).customer
    left = SegmentMembershipFactory(segment=segment, exited_at=NOW - DAY).customer
    stranger = CustomerFactory()

    assert member.pk not in audience({"type": "not", "rule": {"type": "segment", "segment": segment.pk}})
    assert audience({"type": "not", "rule": {"type": "segment", "segment": segment.pk}}) == ids(left, stranger)


def test_membership_combines_with_other_conditions():
    segment = SegmentFactory()
    regular_member = TraitsFactory(order_count=5).customer
    SegmentMembershipFactory(segment=segment, customer=regular_member)
    SegmentMembershipFactory(segment=segment, customer=TraitsFactory(order_count=0).customer)
    TraitsFactory(order_count=5)

    rules = {"type": "all", "rules": [{"type": "segment", "segment": segment.pk}, REGULAR]}
    assert audience(rules) == ids(regular_member)
