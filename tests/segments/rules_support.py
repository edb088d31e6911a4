"""What the rule specifications share: one fixed moment and the audience as a set of ids."""

from datetime import UTC, datetime

from personalization.segments.selectors import segment_audience
from personalization.services.traits import HALF_LIFE, REFERENCE

# A whole number of engagement half-lives after the score's reference moment, so that
# scores at the boundaries below are exact in floating point.
NOW = REFERENCE + 26 * HALF_LIFE
assert datetime(2026, 12, 31, tzinfo=UTC) == NOW


def audience(rules: dict) -> set[int]:
    """The ids of the customers the rules select at NOW."""
    return set(segment_audience(rules=rules, now=NOW).values_list("pk", flat=True))


def ids(*customers) -> set[int]:
    return {customer.pk for customer in customers}


def trait(name: str, op: str, value=None) -> dict:
    node = {"type": "trait", "trait": name, "op": op}
    if value is not None:
        node["value"] = value
    return node
