"""Who gets which variant: a hash of the campaign and the customer, so the same answer
every time and in every process, in the shares the weights and the holdout ask for, with
the holdout, the test group and the variant drawn independently of one another."""

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from scipy import stats

from campaigns.experiments.assignment import assignment_for, variant_by_weight
from campaigns.models import AudienceGroup

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGN = 42
A, B = 101, 102
WEIGHTS = [(A, 1), (B, 3)]
PEOPLE = range(1, 20_001)
SIGNIFICANCE = 0.001  # a share this unlikely under the stated shares is a fault, not luck


def assign(customer_id: int, *, campaign_id: int = CAMPAIGN, holdout: int = 10, test: int | None = None):
    return assignment_for(
        campaign_id=campaign_id, customer_id=customer_id, variants=WEIGHTS, holdout_percent=holdout,
        test_percent=test,
    )  # fmt: skip


def arm(customer_id: int, **options) -> str:
    assignment = assign(customer_id, **options)
    return "holdout" if assignment.group == AudienceGroup.HOLDOUT else str(assignment.variant_id)


# --- deterministic --------------------------------------------------------------------


def test_the_same_campaign_and_customer_get_the_same_assignment_every_time():
    first = [assign(c, test=20) for c in PEOPLE]
    second = [assign(c, test=20) for c in PEOPLE]

    assert first == second


def test_another_process_with_another_hash_seed_assigns_everyone_the_same():
    script = (
        "import json, django; django.setup()\n"
        "from campaigns.experiments.assignment import assignment_for\n"
        f"print(json.dumps([list(vars(assignment_for(campaign_id={CAMPAIGN}, customer_id=c, variants={WEIGHTS}, "
        "holdout_percent=10, test_percent=20)).values()) for c in range(1, 2001)]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "DJANGO_SETTINGS_MODULE": "config.settings"}
    output = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            check=True, timeout=60).stdout  # fmt: skip

    elsewhere = json.loads(output.splitlines()[-1])
    here = [[a.group, a.variant_id] for a in (assign(c, test=20) for c in range(1, 2001))]
    assert elsewhere == here


def test_another_campaign_draws_its_own_holdout():
    ours = {c for c in PEOPLE if assign(c).group == AudienceGroup.HOLDOUT}
    theirs = {c for c in PEOPLE if assign(c, campaign_id=CAMPAIGN + 1).group == AudienceGroup.HOLDOUT}

    # Independent draws: being held out of one campaign says nothing about the next.
    table = [[len(ours & theirs), len(ours - theirs)], [len(theirs - ours), len(PEOPLE) - len(ours | theirs)]]
    assert stats.chi2_contingency(table).pvalue > SIGNIFICANCE
    assert ours != theirs


# --- shares ------------------------------------------------------------------------------


def test_the_holdout_and_the_weights_give_their_shares():
    counts = Counter(arm(c) for c in PEOPLE)

    # 10% held out; the other 90% split 1:3.
    expected = {"holdout": 0.10, str(A): 0.90 * 1 / 4, str(B): 0.90 * 3 / 4}
    observed = [counts[name] for name in expected]
    result = stats.chisquare(observed, [share * len(PEOPLE) for share in expected.values()])
    assert result.pvalue > SIGNIFICANCE, (counts, result)
    assert sum(observed) == len(PEOPLE)


def test_weights_that_are_equal_split_evenly():
    counts = Counter(
        assignment_for(campaign_id=7, customer_id=c, variants=[(1, 2), (2, 2), (3, 2)], holdout_percent=0,
                       test_percent=None).variant_id
        for c in PEOPLE
    )  # fmt: skip

    assert stats.chisquare([counts[1], counts[2], counts[3]]).pvalue > SIGNIFICANCE


def test_no_holdout_holds_nobody_out():
    assert {assign(c, holdout=0).group for c in PEOPLE} == {AudienceGroup.MAIN}


def test_a_draw_falls_to_the_variant_whose_share_holds_it():
    assert variant_by_weight(0.0, WEIGHTS) == A
    assert variant_by_weight(0.2499, WEIGHTS) == A
    assert variant_by_weight(0.25, WEIGHTS) == B
    assert variant_by_weight(0.999999, WEIGHTS) == B


# --- independence --------------------------------------------------------------------------


def test_the_holdout_does_not_change_anyone_elses_variant():
    without = {c: assign(c, holdout=0).variant_id for c in PEOPLE}
    with_holdout = {c: assign(c, holdout=10) for c in PEOPLE}

    kept = {c: a.variant_id for c, a in with_holdout.items() if a.group != AudienceGroup.HOLDOUT}
    assert kept == {c: without[c] for c in kept}


def test_the_holdout_takes_from_every_variant_alike():
    held = {c for c in PEOPLE if assign(c).group == AudienceGroup.HOLDOUT}
    would_get = {c: assign(c, holdout=0).variant_id for c in PEOPLE}

    table = [[sum(1 for c in group if would_get[c] == v) for v in (A, B)] for group in (held, set(PEOPLE) - held)]
    assert stats.chi2_contingency(table).pvalue > SIGNIFICANCE, table


def test_the_test_group_is_its_share_of_those_not_held_out_and_of_every_variant_alike():
    assignments = {c: assign(c, holdout=10, test=20) for c in PEOPLE}
    split = {c: assign(c, holdout=10).variant_id for c in PEOPLE}
    not_held = [c for c, a in assignments.items() if a.group != AudienceGroup.HOLDOUT]
    tested = [c for c in not_held if assignments[c].group == AudienceGroup.TEST]

    share = stats.binomtest(len(tested), len(not_held), 0.20)
    assert share.pvalue > SIGNIFICANCE, (len(tested), len(not_held))
    table = [[sum(1 for c in group if split[c] == v) for v in (A, B)]
             for group in (tested, sorted(set(not_held) - set(tested)))]  # fmt: skip
    assert stats.chi2_contingency(table).pvalue > SIGNIFICANCE, table


def test_the_test_group_gets_its_variant_now_and_the_rest_waits_for_the_winner():
    assignments = {c: assign(c, holdout=10, test=20) for c in PEOPLE}
    split = {c: assign(c, holdout=10) for c in PEOPLE}

    tested = {c: a for c, a in assignments.items() if a.group == AudienceGroup.TEST}
    waiting = {c: a for c, a in assignments.items() if a.group == AudienceGroup.MAIN}
    assert all(a.variant_id == split[c].variant_id for c, a in tested.items())
    assert {a.variant_id for a in waiting.values()} == {None}
    held = {c for c, a in assignments.items() if a.group == AudienceGroup.HOLDOUT}
    assert held == {c for c, a in split.items() if a.group == AudienceGroup.HOLDOUT}
