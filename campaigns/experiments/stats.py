"""The statistics that say whether a difference between variants is real.

Rates (opens, clicks, conversions per recipient): Wilson intervals for each rate, a
two-proportion z-test (pooled) for a variant against control, with a normal interval
for the difference, and a chi-square test of homogeneity across all arms. Revenue per
recipient: Welch's t-test, since variants' variances differ and revenue is mostly
zeros. Bayesian: the probability that a variant's rate beats control's under uniform
Beta priors, by sampling with a fixed seed so that a report reads the same twice.
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

CONFIDENCE = 0.95
BAYES_DRAWS = 100_000


def _z(confidence: float) -> float:
    return float(scipy_stats.norm.ppf(0.5 + confidence / 2))


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def wilson_interval(successes: int, trials: int, confidence: float = CONFIDENCE) -> Interval:
    """The Wilson score interval of a rate: sound for small counts and rates near 0 or 1."""
    if trials == 0:
        return Interval(0.0, 0.0)
    z, p = _z(confidence), successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    spread = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return Interval(max(0.0, centre - spread), min(1.0, centre + spread))


@dataclass(frozen=True)
class Test:
    """A variant against control: difference (variant - control), its interval, p-value."""

    difference: float
    interval: Interval
    statistic: float
    p_value: float

    def significant(self, alpha: float) -> bool:
        return self.p_value < alpha


def proportions_z_test(control: tuple[int, int], variant: tuple[int, int], confidence: float = CONFIDENCE) -> Test:
    """Two-sided two-proportion z-test, (successes, trials) each; pooled variance for the test,
    unpooled for the interval of the difference."""
    (s1, n1), (s2, n2) = control, variant
    if n1 == 0 or n2 == 0:
        return Test(0.0, Interval(0.0, 0.0), 0.0, 1.0)
    p1, p2 = s1 / n1, s2 / n2
    pooled = (s1 + s2) / (n1 + n2)
    pooled_se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = (p2 - p1) / pooled_se if pooled_se > 0 else 0.0
    p_value = float(2 * scipy_stats.norm.sf(abs(z)))
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    margin = _z(confidence) * se
    return Test(p2 - p1, Interval(p2 - p1 - margin, p2 - p1 + margin), z, p_value)


def chi_square_homogeneity(arms: list[tuple[int, int]]) -> tuple[float, float]:
    """(statistic, p-value) of "all arms share one rate", from (successes, trials) per arm."""
    arms = [(s, n) for s, n in arms if n > 0]
    total_s, total_n = sum(s for s, _ in arms), sum(n for _, n in arms)
    if len(arms) < 2 or total_s in (0, total_n):
        return 0.0, 1.0
    rate = total_s / total_n
    statistic = 0.0
    for s, n in arms:
        for observed, expected in ((s, n * rate), (n - s, n * (1 - rate))):
            statistic += (observed - expected) ** 2 / expected
    return statistic, float(scipy_stats.chi2.sf(statistic, len(arms) - 1))


def welch_t_test(control: np.ndarray, variant: np.ndarray, confidence: float = CONFIDENCE) -> Test:
    """Welch's t-test of the means of two samples (revenue per recipient), with the
    Welch-Satterthwaite interval of the difference."""
    n1, n2 = len(control), len(variant)
    if n1 < 2 or n2 < 2:
        return Test(0.0, Interval(0.0, 0.0), 0.0, 1.0)
    m1, m2 = float(np.mean(control)), float(np.mean(variant))
    v1, v2 = float(np.var(control, ddof=1)) / n1, float(np.var(variant, ddof=1)) / n2
    if v1 + v2 == 0:
        return Test(m2 - m1, Interval(m2 - m1, m2 - m1), 0.0, 1.0 if m1 == m2 else 0.0)
    t = (m2 - m1) / math.sqrt(v1 + v2)
    df = (v1 + v2) ** 2 / (v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1))
    p_value = float(2 * scipy_stats.t.sf(abs(t), df))
    margin = float(scipy_stats.t.ppf(0.5 + confidence / 2, df)) * math.sqrt(v1 + v2)
    return Test(m2 - m1, Interval(m2 - m1 - margin, m2 - m1 + margin), t, p_value)


def probability_to_beat(control: tuple[int, int], variant: tuple[int, int], *, seed: int = 0) -> float:
    """P(variant's rate > control's) with Beta(1 + successes, 1 + failures) posteriors."""
    rng = np.random.default_rng(seed)
    (s1, n1), (s2, n2) = control, variant
    a = rng.beta(1 + s1, 1 + n1 - s1, BAYES_DRAWS)
    b = rng.beta(1 + s2, 1 + n2 - s2, BAYES_DRAWS)
    return float(np.mean(b > a))
