"""The "score" rule kind: {"type": "score", "model": "purchase_30d", "op": ">=", "value": 70}.
Refused with the path of the failing node when it cannot be compiled; selects by the
stored scores; and membership follows the scores as events re-score customers."""

import pytest
from django.utils import timezone

from core.errors import ValidationError
from personalization.models import CustomerScore, ModelKind, ModelVersion, SegmentMembership
from personalization.segments.rules import rules_describe
from personalization.segments.selectors import segment_audience, segment_why
from personalization.segments.services import segment_rules_validate, segment_save
from tests.factories import CustomerFactory
from tests.propensity.support import DAY, consenting_customer, events_save, order
from tracking.models import EventType

pytestmark = pytest.mark.django_db


def score(model=ModelKind.PURCHASE, op=">=", value=70) -> dict:
    return {"type": "score", "model": model, "op": op, "value": value}


def scored(value: int, kind=ModelKind.PURCHASE, customer=None):
    """A customer with a stored score (written directly, as a model would)."""
    customer = customer or consenting_customer()
    version, _ = ModelVersion.objects.get_or_create(kind=kind, defaults={"metrics": {"auc": 0.8}})
    CustomerScore.objects.update_or_create(customer=customer, kind=kind, defaults={
        "score": value, "model_version": version, "computed_at": timezone.now()})  # fmt: skip
    return customer


def audience(rules) -> set[int]:
    return set(segment_audience(rules=rules).values_list("pk", flat=True))


def ids(*customers) -> set[int]:
    return {c.pk for c in customers}


# --- validation ---------------------------------------------------------------------------


def refused_at(rules) -> str:
    with pytest.raises(ValidationError) as refusal:
        segment_rules_validate(rules=rules)
    (path,) = refusal.value.details["rules"]
    assert path in refusal.value.message
    return path


@pytest.mark.parametrize(
    ("rules", "path"),
    [
        (score(model="lifetime_value"), "rules.model"),
        (score(model=ModelKind.RECOMMENDER), "rules.model"),  # a model, but it gives no scores
        (score(model=None), "rules.model"),
        (score(op="="), "rules.op"),
        (score(op="between"), "rules.op"),
        (score(op=None), "rules.op"),
        (score(value=101), "rules.value"),
        (score(value=-1), "rules.value"),
        (score(value=100.5), "rules.value"),
        (score(value="70"), "rules.value"),
        (score(value=True), "rules.value"),
        (score(value=None), "rules.value"),
        ({"type": "all", "rules": [score(), score(model=ModelKind.CHURN, value=150)]}, "rules.rules[1].value"),
        ({"type": "not", "rule": score(op="==")}, "rules.rule.op"),
    ],
)
def test_a_score_condition_that_cannot_be_compiled_is_refused_at_its_path(rules, path):
    assert refused_at(rules) == path


def test_an_unknown_model_is_refused_naming_the_models_that_score():
    with pytest.raises(ValidationError) as refusal:
        segment_rules_validate(rules=score(model="ltv"))

    assert "purchase_30d" in refusal.value.message and "churn_90d" in refusal.value.message


def test_a_value_outside_0_to_100_is_refused_saying_so():
    with pytest.raises(ValidationError) as refusal:
        segment_rules_validate(rules=score(value=120))

    assert "0 to 100" in refusal.value.message


@pytest.mark.parametrize("value", [0, 100, 55.5])
def test_values_from_0_to_100_are_accepted(value):
    segment_rules_validate(rules=score(value=value))


# --- audiences -----------------------------------------------------------------------------


def test_at_least_selects_scores_at_and_above_the_value():
    low, edge, high = scored(69), scored(70), scored(95)

    assert audience(score(op=">=", value=70)) == ids(edge, high)
    assert low.pk not in audience(score(op=">=", value=70))


def test_below_selects_scores_strictly_under_the_value():
    low, edge, _ = scored(10), scored(30), scored(80)

    assert audience(score(op="<", value=30)) == ids(low)
    assert edge.pk not in audience(score(op="<", value=30))


def test_above_and_at_most_are_the_strict_and_inclusive_forms():
    at, above = scored(50), scored(51)

    assert audience(score(op=">", value=50)) == ids(above)
    assert audience(score(op="<=", value=50)) == ids(at)


def test_a_fractional_threshold_compares_with_the_exact_value():
    at, above = scored(55), scored(56)

    assert audience(score(op=">=", value=55.5)) == ids(above)
    assert audience(score(op="<", value=55.5)) == ids(at)


def test_a_rule_on_one_model_ignores_the_other_models_scores():
    buyer = scored(90, ModelKind.PURCHASE)
    scored(90, ModelKind.CHURN)

    assert audience(score(ModelKind.PURCHASE, ">=", 70)) == ids(buyer)


def test_a_customer_not_scored_yet_matches_neither_side_of_a_threshold():
    CustomerFactory()

    assert audience(score(op=">=", value=0)) == set()
    assert audience(score(op="<", value=100)) == set()


def test_not_a_score_condition_includes_customers_not_scored_yet():
    high, unscored = scored(90), CustomerFactory()

    assert audience({"type": "not", "rule": score(op=">=", value=70)}) == ids(unscored)
    assert high.pk not in audience({"type": "not", "rule": score(op=">=", value=70)})


def test_score_conditions_combine_with_others():
    likely_buyer_at_risk = scored(60, ModelKind.CHURN, customer=scored(80))
    scored(60, ModelKind.CHURN, customer=scored(20))

    rules = {"type": "all", "rules": [score(ModelKind.PURCHASE, ">=", 50), score(ModelKind.CHURN, ">", 50)]}
    assert audience(rules) == ids(likely_buyer_at_risk)


def test_the_condition_reads_in_words():
    assert rules_describe(score(op="<", value=30)) == "Purchase in the next 30 days (XGBoost) score < 30"


def test_why_shows_the_customers_score(django_capture_on_commit_callbacks):
    customer = scored(42)
    with django_capture_on_commit_callbacks(execute=True):
        segment = segment_save(name="Likely buyers", rules=score(op=">=", value=70))

    why = segment_why(segment=segment, customer=customer)

    assert not why.holds and why.observed == "is 42"


# --- membership follows the scores ----------------------------------------------------------


@pytest.fixture
def likely_buyers(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return segment_save(name="Likely buyers", rules=score(op=">=", value=70))


def member(segment, customer) -> bool:
    return SegmentMembership.objects.filter(segment=segment, customer=customer, exited_at__isnull=True).exists()


def test_the_first_refresh_takes_in_customers_already_above_the_threshold(django_capture_on_commit_callbacks):
    high = scored(90)
    with django_capture_on_commit_callbacks(execute=True):
        segment = segment_save(name="Likely buyers", rules=score(op=">=", value=70))

    assert member(segment, high)


@pytest.mark.parametrize(
    "event_type",
    [EventType.ORDER_COMPLETED, EventType.PRODUCT_VIEWED, EventType.PRODUCT_ADDED, EventType.PAGE_VIEWED,
     EventType.EMAIL_OPENED, EventType.EMAIL_LINK_CLICKED],
)  # fmt: skip
def test_a_customer_whose_score_crossed_the_threshold_enters_at_their_next_scored_event(likely_buyers, track,
                                                                                        event_type):  # fmt: skip
    # Every event after which scores are re-computed must re-check the segments that use them.
    customer = scored(40)
    assert not member(likely_buyers, customer)
    scored(85, customer=customer)  # re-scored, say, by the nightly retraining

    track(customer, event_type)

    assert member(likely_buyers, customer)


def test_a_customer_whose_score_fell_under_the_threshold_leaves_at_their_next_event(
    django_capture_on_commit_callbacks, track
):
    customer = scored(90)
    with django_capture_on_commit_callbacks(execute=True):
        segment = segment_save(name="Likely buyers", rules=score(op=">=", value=70))
    scored(30, customer=customer)

    track(customer, EventType.PRODUCT_VIEWED)

    assert not member(segment, customer)
    assert SegmentMembership.objects.get(segment=segment, customer=customer).exited_at is not None


def test_an_order_re_scores_the_customer_before_the_segments_are_re_checked(
    purchase_model, django_capture_on_commit_callbacks, track
):
    # Scores are written by the batch's first subscriber; the segments subscriber sees them.
    customer = consenting_customer()
    now = timezone.now()
    events_save([order(customer, now - 400 * DAY), order(customer, now - 370 * DAY)])
    with django_capture_on_commit_callbacks(execute=True):
        segment = segment_save(name="Warming up", rules=score(op=">=", value=20))
    track(customer, EventType.PAGE_VIEWED)
    assert not member(segment, customer)

    track(customer, EventType.ORDER_COMPLETED, revenue=40)

    assert member(segment, customer)
