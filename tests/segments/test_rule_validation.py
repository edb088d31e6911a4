"""Rules that cannot be compiled are refused before anything is saved, with a
ValidationError whose details name the exact path of the failing node."""

import pytest

from core.errors import ValidationError
from personalization.models import Segment
from personalization.segments.rules import MAX_DEPTH, MAX_NODES
from personalization.segments.services import segment_rules_validate, segment_save
from tests.factories import SegmentFactory
from tests.segments.rules_support import trait

pytestmark = pytest.mark.django_db

REGULAR = trait("order_count", ">=", 2)
BAD_FIELD = {"field": "a__b", "op": "is set"}


def viewed(**node) -> dict:
    return {"type": "event", "event": "Product Viewed", **node}


def refused_at(rules, *, segment_id=None) -> str:
    """The one path the refusal points at."""
    with pytest.raises(ValidationError) as refusal:
        segment_rules_validate(rules=rules, segment_id=segment_id)
    paths = list(refusal.value.details["rules"])
    assert len(paths) == 1, paths
    assert paths[0] in refusal.value.message
    return paths[0]


def nested_nots(depth: int) -> dict:
    """A leaf under depth - 1 'not' nodes: the leaf sits at `depth`."""
    rules = REGULAR
    for _ in range(depth - 1):
        rules = {"type": "not", "rule": rules}
    return rules


@pytest.mark.parametrize(
    ("rules", "path"),
    [
        # the shape of the tree
        ({"type": "bogus"}, "rules.type"),
        ({"type": "all", "rules": [REGULAR, {"type": "bogus"}]}, "rules.rules[1].type"),
        ({"rules": [REGULAR]}, "rules.type"),
        ("order_count >= 2", "rules"),
        ({"type": "all", "rules": [REGULAR, ["not", "a", "node"]]}, "rules.rules[1]"),
        ({"type": "all", "rules": []}, "rules.rules"),
        ({"type": "any", "rules": []}, "rules.rules"),
        ({"type": "any"}, "rules.rules"),
        ({"type": "not", "rule": {"type": "any", "rules": []}}, "rules.rule.rules"),
        ({"type": "not"}, "rules.rule"),
        # events
        (viewed(count=-1), "rules.count"),
        ({"type": "all", "rules": [REGULAR, viewed(count=-1)]}, "rules.rules[1].count"),
        (viewed(count=1.5), "rules.count"),
        (viewed(count=True), "rules.count"),
        (viewed(op=">"), "rules.op"),
        ({"type": "event", "count": 2}, "rules.event"),
        ({"type": "event", "event": 42}, "rules.event"),
        (viewed(within="7 days"), "rules.within"),
        (viewed(within="0d"), "rules.within"),
        (viewed(within="1y"), "rules.within"),
        (viewed(within=7), "rules.within"),
        (viewed(older_than="soon"), "rules.older_than"),
        (viewed(within="1h", older_than="60m"), "rules.older_than"),
        (viewed(within="1h", older_than="2h"), "rules.older_than"),
        (viewed(without=""), "rules.without"),
        (viewed(without=["Order Completed"]), "rules.without"),
        (viewed(where={"field": "color"}), "rules.where"),
        (viewed(where=[{"field": "a__b", "op": "=", "value": 1}]), "rules.where[0].field"),
        (viewed(where=[{"field": "color", "op": "=", "value": "red"}, {"field": "a b", "op": "is set"}]),
         "rules.where[1].field"),
        (viewed(where=[{"field": "product.colour", "op": "=", "value": "red"}]), "rules.where[0].field"),
        (viewed(where=[{"field": "color", "op": "like", "value": "red"}]), "rules.where[0].op"),
        (viewed(where=[{"field": "color", "op": "="}]), "rules.where[0].value"),
        (viewed(where=[{"field": "price", "op": ">", "value": "cheap"}]), "rules.where[0].value"),
        (viewed(where=[{"field": "color", "op": "in", "value": []}]), "rules.where[0].value"),
        ({"type": "any", "rules": [REGULAR, {"type": "not", "rule": viewed(where=[BAD_FIELD])}]},
         "rules.rules[1].rule.where[0].field"),
        # traits
        (trait("shoe_size", ">=", 42), "rules.trait"),
        ({"type": "trait", "op": ">=", "value": 2}, "rules.trait"),
        (trait("attributes.a__b", "=", "x"), "rules.trait"),
        (trait("attributes.", "=", "x"), "rules.trait"),
        (trait("engagement_score", "=", 3), "rules.op"),
        (trait("engagement_score", "between", [1, 3]), "rules.op"),
        (trait("favorite_categories", "=", "Shoes"), "rules.op"),
        (trait("email", ">", "a"), "rules.op"),
        (trait("days_since_last_order", "!=", 3), "rules.op"),
        (trait("order_count", "contains", "2"), "rules.op"),
        ({"type": "trait", "trait": "order_count", "value": 2}, "rules.op"),
        (trait("order_count", "between", [50, 10]), "rules.value"),
        (trait("order_count", "between", [10]), "rules.value"),
        (trait("order_count", "between", [1, "9"]), "rules.value"),
        (trait("order_count", ">=", "2"), "rules.value"),
        (trait("order_count", ">="), "rules.value"),
        (trait("engagement_score", ">=", True), "rules.value"),
        (trait("days_since_last_order", ">=", -1), "rules.value"),
        (trait("days_since_last_order", ">=", 1.5), "rules.value"),
        (trait("days_since_last_order", ">=", 10**6), "rules.value"),
        (trait("locale", "in", []), "rules.value"),
        (trait("locale", "in", ["fr-FR", 3]), "rules.value"),
        (trait("first_name", "=", ""), "rules.value"),
        (trait("favorite_categories", "contains", 3), "rules.value"),
        # consent
        ({"type": "consent", "purpose": "carrier_pigeons"}, "rules.purpose"),
        ({"type": "consent", "purpose": "tracking", "topic": "offers"}, "rules.topic"),
        ({"type": "consent", "purpose": "email_marketing", "topic": "no-such-topic"}, "rules.topic"),
        # other segments
        ({"type": "segment"}, "rules.segment"),
        ({"type": "segment", "segment": "12"}, "rules.segment"),
        ({"type": "segment", "segment": True}, "rules.segment"),
    ],
)  # fmt: skip
def test_an_invalid_rule_is_refused_at_its_path(rules, path):
    assert refused_at(rules) == path


def test_a_segment_that_does_not_exist_is_refused():
    missing = (Segment.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000
    rules = {"type": "all", "rules": [REGULAR, {"type": "segment", "segment": missing}]}

    assert refused_at(rules) == "rules.rules[1].segment"


def test_nesting_as_deep_as_allowed_is_accepted():
    segment_rules_validate(rules=nested_nots(MAX_DEPTH))


def test_nesting_too_deep_is_refused_at_the_first_node_too_deep():
    assert refused_at(nested_nots(MAX_DEPTH + 1)) == "rules" + ".rule" * MAX_DEPTH


def test_too_many_conditions_are_refused_at_the_first_one_too_many():
    segment_rules_validate(rules={"type": "all", "rules": [REGULAR] * (MAX_NODES - 1)})

    rules = {"type": "all", "rules": [REGULAR] * MAX_NODES}
    assert refused_at(rules) == f"rules.rules[{MAX_NODES - 1}]"


def test_every_kind_of_valid_condition_is_accepted():
    other = SegmentFactory()
    segment_rules_validate(
        rules={
            "type": "all",
            "rules": [
                REGULAR,
                trait("lifetime_value", "between", [10, 99.5]),
                trait("engagement_score", ">", 0),
                trait("days_since_last_order", "=", 0),
                trait("locale", "in", ["fr-FR"]),
                trait("attributes.plan", "is set"),
                trait("favorite_categories", "does not contain", "Shoes"),
                viewed(op="=", count=0, within="2w", older_than="1h", without="Order Completed",
                       where=[{"field": "product.category", "op": "=", "value": "Shoes"},
                              {"field": "bot", "op": "is not set"}]),
                {"type": "consent", "purpose": "email_marketing", "topic": "offers"},
                {"type": "not", "rule": {"type": "segment", "segment": other.pk}},
            ],
        }
    )  # fmt: skip


# --- a segment may not depend on its own membership ------------------------------------------


def test_a_segment_referring_to_itself_is_refused():
    segment = segment_save(name="Loyal", rules=REGULAR)

    rules = {"type": "segment", "segment": segment.pk}
    assert refused_at(rules, segment_id=segment.pk) == "rules.segment"


def test_a_segment_referring_to_itself_inside_others_is_refused_at_that_node():
    segment = segment_save(name="Loyal", rules=REGULAR)

    rules = {"type": "all", "rules": [REGULAR, {"type": "not", "rule": {"type": "segment", "segment": segment.pk}}]}
    assert refused_at(rules, segment_id=segment.pk) == "rules.rules[1].rule.segment"


def test_a_segment_referring_to_itself_through_another_is_refused_at_the_node_that_leads_back():
    first = segment_save(name="First", rules=REGULAR)
    second = segment_save(name="Second", rules={"type": "segment", "segment": first.pk})

    rules = {"type": "any", "rules": [REGULAR, {"type": "segment", "segment": second.pk}]}
    assert refused_at(rules, segment_id=first.pk) == "rules.rules[1].segment"


def test_a_segment_referring_to_itself_through_two_others_is_refused():
    first = segment_save(name="First", rules=REGULAR)
    second = segment_save(name="Second", rules={"type": "segment", "segment": first.pk})
    third = segment_save(
        name="Third", rules={"type": "all", "rules": [REGULAR, {"type": "segment", "segment": second.pk}]}
    )

    with pytest.raises(ValidationError):
        segment_save(name="First", rules={"type": "segment", "segment": third.pk}, segment=first)


def test_referring_to_the_same_other_segment_twice_is_not_a_cycle():
    shared = segment_save(name="Shared", rules=REGULAR)
    left = segment_save(name="Left", rules={"type": "segment", "segment": shared.pk})

    both = {
        "type": "all",
        "rules": [{"type": "segment", "segment": shared.pk}, {"type": "segment", "segment": left.pk}],
    }
    segment_save(name="Both", rules=both)


def test_segment_save_refuses_a_cycle_when_editing():
    segment = segment_save(name="Loyal", rules=REGULAR)

    with pytest.raises(ValidationError) as refusal:
        segment_save(name="Loyal", rules={"type": "segment", "segment": segment.pk}, segment=segment)
    assert "rules" in refusal.value.details


# --- a refused save writes nothing -----------------------------------------------------------


def test_a_refused_new_segment_is_not_saved(django_capture_on_commit_callbacks):
    before = set(Segment.objects.values_list("pk", flat=True))

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(ValidationError) as refusal:
        segment_save(name="Broken", rules={"type": "all", "rules": [REGULAR, viewed(count=-1)]})

    assert list(refusal.value.details) == ["rules"]
    assert list(refusal.value.details["rules"]) == ["rules.rules[1].count"]
    assert set(Segment.objects.values_list("pk", flat=True)) == before
    assert not Segment.objects.filter(name="Broken").exists()
    assert callbacks == []  # no refresh scheduled


def test_a_refused_edit_leaves_the_segment_as_it_was(django_capture_on_commit_callbacks):
    segment = segment_save(name="Loyal", rules=REGULAR, description="Two orders or more")

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(ValidationError):
        segment_save(name="Renamed", rules=trait("order_count", "between", [5, 1]), description="new", segment=segment)

    segment.refresh_from_db()
    assert (segment.name, segment.description, segment.rules) == ("Loyal", "Two orders or more", REGULAR)
    assert callbacks == []


def test_the_refusal_says_where_and_why_in_its_message():
    with pytest.raises(ValidationError) as refusal:
        segment_rules_validate(rules=trait("order_count", "between", [50, 10]))

    assert refusal.value.message.startswith("The rule at rules.value is not valid:")
    assert refusal.value.details["rules"]["rules.value"] == [
        "The range 50 to 10 is empty: put the smaller number first."
    ]
