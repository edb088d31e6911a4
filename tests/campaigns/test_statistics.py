"""The statistics campaigns are judged by agree with SciPy's on known inputs."""

import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import betaln

from campaigns.experiments.stats import (
    chi_square_homogeneity,
    probability_to_beat,
    proportions_z_test,
    welch_t_test,
    wilson_interval,
)

RATES = [
    ((120, 1000), (150, 1000)),
    ((30, 400), (22, 380)),
    ((5, 60), (14, 75)),
    ((480, 5000), (560, 5100)),
    ((0, 50), (3, 50)),
]


@pytest.mark.parametrize(("control", "variant"), RATES)
def test_the_z_test_squared_is_pearsons_chi_square_of_the_two_by_two_table(control, variant):
    (s1, n1), (s2, n2) = control, variant

    test = proportions_z_test(control, variant)

    scipy_result = stats.chi2_contingency([[s1, n1 - s1], [s2, n2 - s2]], correction=False)
    assert test.statistic**2 == pytest.approx(scipy_result.statistic, rel=1e-9)
    assert test.p_value == pytest.approx(scipy_result.pvalue, rel=1e-9)


@pytest.mark.parametrize(("control", "variant"), RATES)
def test_the_z_test_says_which_way_and_by_how_much(control, variant):
    (s1, n1), (s2, n2) = control, variant

    test = proportions_z_test(control, variant)

    assert test.difference == pytest.approx(s2 / n2 - s1 / n1)
    assert math.copysign(1, test.statistic) == math.copysign(1, test.difference) or test.statistic == 0
    assert test.interval.low < test.difference < test.interval.high


def test_the_z_test_of_an_arm_with_nobody_is_no_evidence():
    test = proportions_z_test((10, 100), (0, 0))

    assert (test.statistic, test.p_value) == (0.0, 1.0)


@pytest.mark.parametrize(("successes", "trials"), [(0, 10), (1, 10), (7, 20), (50, 100), (998, 1000), (20, 20)])
def test_the_wilson_interval_is_scipys(successes, trials):
    interval = wilson_interval(successes, trials)

    expected = stats.binomtest(successes, trials).proportion_ci(confidence_level=0.95, method="wilson")
    assert interval.low == pytest.approx(expected.low, abs=1e-12)
    assert interval.high == pytest.approx(expected.high, abs=1e-12)


def test_the_wilson_interval_at_another_confidence_is_scipys():
    interval = wilson_interval(33, 120, confidence=0.99)

    expected = stats.binomtest(33, 120).proportion_ci(confidence_level=0.99, method="wilson")
    assert (interval.low, interval.high) == pytest.approx((expected.low, expected.high), abs=1e-12)


def revenue(seed: int, size: int, *, buyers: float, mean: float) -> np.ndarray:
    """Revenue per recipient: mostly zeros, some orders of varying size."""
    rng = np.random.default_rng(seed)
    return np.where(rng.random(size) < buyers, rng.gamma(2.0, mean / 2, size), 0.0)


@pytest.mark.parametrize(
    ("control", "variant"),
    [
        (revenue(1, 800, buyers=0.05, mean=60), revenue(2, 750, buyers=0.07, mean=55)),
        (revenue(3, 200, buyers=0.3, mean=20), revenue(4, 40, buyers=0.1, mean=200)),
        (np.array([0.0, 10.0, 0.0, 25.5]), np.array([3.0, 0.0, 0.0, 0.0, 90.0, 1.0])),
    ],
)
def test_welchs_t_test_is_scipys(control, variant):
    test = welch_t_test(control, variant)

    expected = stats.ttest_ind(variant, control, equal_var=False)
    assert test.statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert test.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert test.difference == pytest.approx(variant.mean() - control.mean())
    interval = expected.confidence_interval(0.95)
    assert (test.interval.low, test.interval.high) == pytest.approx((interval.low, interval.high), rel=1e-9)


def test_welchs_t_test_is_symmetric_in_its_sign():
    a, b = revenue(5, 300, buyers=0.1, mean=40), revenue(6, 300, buyers=0.2, mean=40)

    assert welch_t_test(a, b).statistic == pytest.approx(-welch_t_test(b, a).statistic)
    assert stats.ttest_ind(a, b, equal_var=False).statistic == pytest.approx(welch_t_test(b, a).statistic)


def test_chi_square_homogeneity_of_three_arms_is_scipys():
    arms = [(120, 1000), (150, 1000), (95, 900)]

    statistic, p_value = chi_square_homogeneity(arms)

    expected = stats.chi2_contingency([[s, n - s] for s, n in arms], correction=False)
    assert statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert expected.dof == 2


def test_chi_square_homogeneity_of_arms_with_one_rate_finds_nothing():
    statistic, p_value = chi_square_homogeneity([(100, 1000), (100, 1000), (50, 500)])

    assert statistic == pytest.approx(0.0)
    assert p_value == pytest.approx(1.0)


def exact_probability_to_beat(control: tuple[int, int], variant: tuple[int, int]) -> float:
    """P(p_variant > p_control) for Beta(1 + s, 1 + n - s) posteriors, in closed form
    (a sum over the variant's integer alpha)."""
    (s1, n1), (s2, n2) = control, variant
    a1, b1, a2, b2 = 1 + s1, 1 + n1 - s1, 1 + s2, 1 + n2 - s2
    return sum(
        math.exp(betaln(a1 + i, b1 + b2) - math.log(b2 + i) - betaln(1 + i, b2) - betaln(a1, b1)) for i in range(a2)
    )


@pytest.mark.parametrize(
    ("control", "variant"), [((100, 1000), (150, 1000)), ((100, 1000), (115, 1000)), ((12, 80), (9, 85))]
)
def test_the_probability_to_beat_control_is_the_closed_forms(control, variant):
    exact = exact_probability_to_beat(control, variant)

    assert probability_to_beat(control, variant) == pytest.approx(exact, abs=0.005)  # 100,000 draws: error < 0.002


def test_the_probability_to_beat_control_of_a_clear_winner_is_near_certain():
    assert probability_to_beat((100, 1000), (200, 1000)) > 0.9999


def test_the_probability_to_beat_an_identical_arm_is_a_coin_toss():
    assert probability_to_beat((150, 1000), (150, 1000)) == pytest.approx(0.5, abs=0.01)


def test_the_probability_to_beat_reads_the_same_twice():
    assert probability_to_beat((40, 500), (52, 500)) == probability_to_beat((40, 500), (52, 500))
