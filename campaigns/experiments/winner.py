"""Choosing the winner of a test-then-winner campaign, by a stated method.

Each variant is compared with control on the campaign's metric: a two-proportion z-test
for opens, clicks and conversions per recipient, Welch's t-test for revenue per
recipient. With k challengers, each test is held to alpha / k (Bonferroni), so that
testing more variants does not make a lucky winner likelier. A variant wins only if
every variant reached the minimum sample, its test is significant at that level and its
difference is positive; the best such variant by its difference wins. Otherwise the
result is "inconclusive" and control goes out: a difference that is not shown to be real
is not acted on.
"""

from dataclasses import dataclass

from campaigns.models import WinnerMetric

METRIC_FIELDS = {WinnerMetric.OPENS: "opens", WinnerMetric.CLICKS: "clicks", WinnerMetric.CONVERSIONS: "conversions",
                 WinnerMetric.REVENUE: WinnerMetric.REVENUE}  # fmt: skip


@dataclass(frozen=True)
class Decision:
    winner: str  # the variant's name: the winner, or control when inconclusive
    conclusive: bool
    reason: str


def winner_choose(*, results, metric: str, control: str, min_sample: int, alpha: float) -> Decision:
    """Decide from `results` (campaigns.results.CampaignResults of the test group)."""
    arms = {arm.name: arm for arm in results.arms if arm.variant_id is not None}
    small = [f"{name} ({arm.recipients})" for name, arm in arms.items() if arm.recipients < min_sample]
    if small:
        return Decision(control, False, f"Inconclusive: too few recipients to judge in {', '.join(small)}; "
                                        f"each variant needs {min_sample}. {control} (control) goes out.")  # fmt: skip
    challengers = {name: comparisons for name, comparisons in results.against_control.items() if name in arms}
    if not challengers:
        return Decision(control, False, f"Only one variant: {control} goes out.")
    level = alpha / len(challengers)
    field = METRIC_FIELDS[metric]
    judged = []
    for name, comparisons in challengers.items():
        [comparison] = [c for c in comparisons if c.metric == field]
        judged.append((name, comparison))
    winners = [(name, c) for name, c in judged if c.test.p_value < level and c.test.difference > 0]
    described = "; ".join(
        f"{name} vs {control}: difference {c.test.difference:+.4f} "
        f"(95% CI {c.test.interval.low:+.4f} to {c.test.interval.high:+.4f}), p = {c.test.p_value:.4f}"
        for name, c in judged
    )
    method = "Welch's t-test" if metric == WinnerMetric.REVENUE else "two-proportion z-test"
    if not winners:
        return Decision(control, False, f"Inconclusive by {method} at alpha {level:.4g} ({described}). "
                                        f"{control} (control) goes out.")  # fmt: skip
    name, _ = max(winners, key=lambda pair: pair[1].test.difference)
    return Decision(name, True, f"{name} wins on {field} by {method} at alpha {level:.4g} ({described}).")
