"""Who gets which variant: a deterministic function of the campaign and the customer,
so that planning twice, or on two workers, gives the same answer, and nothing about it
needs to be stored to be reproduced. Three independent draws (salted hashes) decide the
holdout, the test group and the variant, so that the shares do not depend on each other."""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from campaigns.models import AudienceGroup


def _draw(campaign_id: int, customer_id: int, salt: str) -> float:
    """A number in [0, 1), uniform over customers, fixed for (campaign, customer, salt)."""
    digest = hashlib.sha256(f"{campaign_id}:{customer_id}:{salt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class Assignment:
    group: str  # AudienceGroup: the holdout, the test group (a variant now), the main send
    variant_id: int | None  # None for the holdout and for people waiting for a winner


def variant_by_weight(draw: float, variants: Sequence[tuple[int, int]]) -> int:
    """The variant whose share of the cumulative weights holds `draw`; (id, weight) pairs."""
    total = sum(weight for _, weight in variants)
    edge = 0.0
    for variant_id, weight in variants:
        edge += weight / total
        if draw < edge:
            return variant_id
    return variants[-1][0]


def assignment_for(
    *,
    campaign_id: int,
    customer_id: int,
    variants: Sequence[tuple[int, int]],
    holdout_percent: int,
    test_percent: int | None,
) -> Assignment:
    """`test_percent` None: the whole audience is split; else that share is tested first and
    the rest waits for the winner."""
    if _draw(campaign_id, customer_id, "holdout") < holdout_percent / 100:
        return Assignment(AudienceGroup.HOLDOUT, None)
    variant_id = variant_by_weight(_draw(campaign_id, customer_id, "variant"), variants)
    if test_percent is None:
        return Assignment(AudienceGroup.MAIN, variant_id)
    if _draw(campaign_id, customer_id, "test") < test_percent / 100:
        return Assignment(AudienceGroup.TEST, variant_id)
    return Assignment(AudienceGroup.MAIN, None)
