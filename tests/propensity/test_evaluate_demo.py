"""evaluate_demo, purchase propensity: AUC, log loss and Brier score against who buys in the
30 days after the data, for the active purchase model's probabilities, the recency-frequency
baseline and the planted probability (the ceiling), on planted worlds whose answer is known."""

import json
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.propensity.support import (
    consenting_customer,
    events_save,
    order,
    personalization_withdraw,
    purchase_model_activate,
    shop_build,
)

pytestmark = pytest.mark.django_db

ROW = re.compile(r"^\| (?P<model>[^|]+) \| (?P<auc>\d\.\d{3}|—) \| (?P<log_loss>\d\.\d{4}) \| (?P<brier>\d\.\d{4}) \|$")
CEILING, BASELINE = "planted probability (ceiling)", "recency-frequency baseline"


def truth_write(path, planted: dict[str, tuple[float, bool]], *, until, horizon_days=30):
    """`planted`: external id -> (purchase probability, buys in the next 30 days)."""
    customers = {
        external_id: {"preferred_categories": ["Books"], "category_weights": {"Books": 1.0},
                      "purchase_probability_30d": probability, "will_buy_next_30d": buys}
        for external_id, (probability, buys) in planted.items()
    }  # fmt: skip
    path.write_text(json.dumps({"until": until.isoformat(), "horizon_days": horizon_days, "customers": customers}))
    return path


def evaluate(path) -> str:
    out = StringIO()
    call_command("evaluate_demo", "--ground-truth", str(path), stdout=out)
    return out.getvalue()


def table(output: str) -> dict[str, dict]:
    rows = (ROW.match(line) for line in output.splitlines())
    return {m["model"]: {k: None if m[k] == "—" else float(m[k]) for k in ("auc", "log_loss", "brier")}
            for m in rows if m}  # fmt: skip


@pytest.fixture
def separable(tmp_path):
    """Customers ordering every two weeks up to now buy next month; those who stopped one to
    seven months ago do not: recency tells them apart entirely."""
    now = timezone.now()
    shop = shop_build(now=now, active=30, slow=0, lapsed=30)
    planted = {c.external_id: (0.9, True) for c in shop.active} | {c.external_id: (0.1, False) for c in shop.lapsed}
    return shop, truth_write(tmp_path / "truth.json", planted, until=now)


def test_the_ceiling_is_the_planted_probability_scored_against_who_buys(tmp_path):
    now = timezone.now()
    planted = {"a": (0.9, True), "b": (0.6, False), "c": (0.4, True), "d": (0.1, False)}
    events_save(order(consenting_customer(external_id=name), now - timedelta(days=10)) for name in planted)

    ceiling = table(evaluate(truth_write(tmp_path / "truth.json", planted, until=now)))[CEILING]

    # Buyers 0.9 and 0.4 against 0.6 and 0.1: 3 of 4 pairs in order. Log loss -(ln 0.9 + ln 0.4) / 2;
    # Brier (0.1² + 0.6² + 0.6² + 0.1²) / 4.
    assert ceiling == {"auc": 0.75, "log_loss": 0.5108, "brier": 0.185}


def test_when_recency_separates_buyers_the_model_and_the_baseline_rank_them_all_first(separable):
    _, path = separable
    version = purchase_model_activate()

    output = evaluate(path)

    assert "60 customers Tailor scores, 30 of them buy" in output
    rows = table(output)
    assert rows[f"XGBoost (active version #{version.pk})"]["auc"] == 1.0
    assert rows[BASELINE]["auc"] == 1.0
    assert rows[CEILING] == {"auc": 1.0, "log_loss": 0.1054, "brier": 0.01}


def test_without_an_active_model_the_output_says_so_and_still_gives_the_baseline_and_ceiling(separable):
    _, path = separable

    output = evaluate(path)

    assert "No purchase_30d model is trained yet" in output
    assert set(table(output)) == {BASELINE, CEILING}


def test_customers_without_consent_to_personalization_are_not_scored_and_counted(separable):
    shop, path = separable
    personalization_withdraw(shop.active[0])

    output = evaluate(path)

    assert "59 customers Tailor scores, 29 of them buy (1 of the ground truth not scored" in output


def test_a_world_with_too_little_history_for_the_baseline_says_why_it_is_missing(tmp_path):
    now = timezone.now()
    events_save([order(consenting_customer(external_id="a"), now - timedelta(days=2))])

    output = evaluate(truth_write(tmp_path / "truth.json", {"a": (0.5, True)}, until=now))

    assert "The recency-frequency baseline cannot be fitted: its 0 training rows have 0 buyers." in output
    assert table(output)[CEILING]["auc"] is None


def test_a_ground_truth_for_another_horizon_is_refused(tmp_path):
    path = truth_write(tmp_path / "truth.json", {"a": (0.5, True)}, until=timezone.now(), horizon_days=90)

    with pytest.raises(CommandError, match='"horizon_days" is 90; the purchase model predicts the next 30 days'):
        evaluate(path)
