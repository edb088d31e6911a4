"""Segment reads: audiences, members, a customer's segments, previews and "why"."""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from core.errors import NotFound
from personalization.models import Customer, Segment, SegmentKind, SegmentMembership
from personalization.segments.rules import (
    ANY_EVENT,
    Explanation,
    rules_condition,
    rules_explain,
    rules_triggers,
    segment_references,
)

logger = logging.getLogger(__name__)
PREVIEW_SAMPLE = 10


def segment_audience(*, rules: dict, now: datetime | None = None, among=None) -> QuerySet[Customer]:
    """Who the rules select now (of `among` only, when given), as one query (the rules must be valid)."""
    condition = rules_condition(rules, now=now or timezone.now(), among=sorted(among) if among is not None else None)
    customers = Customer.objects.filter(merged_into__isnull=True)
    return (customers.filter(pk__any_of=among) if among is not None else customers).filter(condition)


@dataclass(frozen=True)
class Preview:
    size: int
    sample: list[Customer]


def segment_preview(*, rules: dict, sample: int = PREVIEW_SAMPLE) -> Preview:
    """The audience size and a few members, for rules being edited (validated first)."""
    from personalization.segments.services import segment_rules_validate

    segment_rules_validate(rules=rules)
    audience = segment_audience(rules=rules)
    return Preview(size=audience.count(), sample=list(audience.order_by("-last_seen_at", "-id")[:sample]))


def segment_get(*, segment_id: int) -> Segment:
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        raise NotFound(f"There is no segment with id {segment_id}.")
    return segment


def segment_list() -> QuerySet[Segment]:
    return Segment.objects.order_by("name")


def segment_members(*, segment: Segment) -> QuerySet[Customer]:
    current = SegmentMembership.objects.filter(segment=segment, exited_at__isnull=True)
    return Customer.objects.filter(pk__in=current.values("customer")).order_by("-id")


def segment_member_ids(*, segment: Segment, among: Iterable[int] | None = None) -> list[int]:
    current = SegmentMembership.objects.filter(segment=segment, exited_at__isnull=True)
    if among is not None:
        current = current.filter(customer_id__any_of=among)
    return list(current.values_list("customer_id", flat=True))


def customer_segments(*, customer: Customer) -> QuerySet[SegmentMembership]:
    """The segments a customer is in now, with when they entered."""
    return (
        SegmentMembership.objects.filter(customer=customer, exited_at__isnull=True)
        .select_related("segment")
        .order_by("segment__name")
    )


def segment_history(*, customer: Customer) -> QuerySet[SegmentMembership]:
    return SegmentMembership.objects.filter(customer=customer).select_related("segment").order_by("-entered_at")


def segment_why(*, segment: Segment, customer: Customer, now: datetime | None = None) -> Explanation:
    """Which of the segment's conditions hold for this customer and which fail."""
    if segment.kind == SegmentKind.CLUSTER:
        from personalization.segments.clustering import cluster_explain

        return cluster_explain(segment=segment, customer=customer)
    explanation = rules_explain(segment.rules, customer_id=customer.pk, now=now or timezone.now())
    if customer.merged_into_id is not None:
        # A merged profile is never in an audience, whatever its own conditions say.
        text = f"Merged into customer {customer.merged_into_id}: only that profile can be a member"
        return Explanation(segment.rules, text, False, children=(explanation,))
    return explanation


def segments_rule_based() -> list[Segment]:
    return list(Segment.objects.filter(kind=SegmentKind.RULES, is_active=True))


def segments_triggered_by(*, event_types: Iterable[str]) -> list[tuple[Segment, frozenset[str]]]:
    """The active rule-based segments whose outcome these event types can change, with
    the triggers of each."""
    types = set(event_types)
    found = []
    for segment in segments_rule_based():
        try:
            triggers = rules_triggers(segment.rules)
        except Exception:  # rules broken in the database must not stop the other segments
            logger.exception("The rules of segment %s cannot be read", segment.pk)
            continue
        if triggers & types or ANY_EVENT in triggers:
            found.append((segment, triggers))
    return found


def segments_using(*, segment_ids: set[int]) -> dict[int, list[Segment]]:
    """For each of these segments, the rule-based segments whose rules use its membership."""
    users: dict[int, list[Segment]] = {}
    for user in Segment.objects.filter(kind=SegmentKind.RULES).exclude(pk__in=segment_ids):
        for used in {node.get("segment") for _, node in segment_references(user.rules)} & segment_ids:
            users.setdefault(used, []).append(user)
    return users
