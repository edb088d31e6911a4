"""Reads of the tracking app."""

from django.db.models import Q, QuerySet

from tracking.models import Event


def events_recent_for_customer(*, customer_id: int, limit: int = 50) -> QuerySet[Event]:
    """A customer's latest events, newest first."""
    return Event.objects.filter(customer_id=customer_id).order_by("-occurred_at", "-id")[:limit]


def events_of_subject(*, customer_id: int, user_ids: list[str], anonymous_ids: list[str]) -> QuerySet[Event]:
    """Every event of one person: linked to their profile, or still carrying one of their ids."""
    return Event.objects.filter(
        Q(customer_id=customer_id) | Q(user_id__in=[u for u in user_ids if u]) | Q(anonymous_id__in=anonymous_ids)
    )


def events_export(*, customer_id: int, user_ids: list[str], anonymous_ids: list[str]) -> list[dict]:
    """A person's events, oldest first, for their data export."""
    events = events_of_subject(customer_id=customer_id, user_ids=user_ids, anonymous_ids=anonymous_ids)
    return [
        {
            "message_id": e.message_id,
            "type": e.type,
            "occurred_at": e.occurred_at.isoformat(),
            "product_id": e.product_id,
            "properties": e.properties,
            "context": e.context,
        }
        for e in events.order_by("occurred_at", "id").iterator(chunk_size=2000)
    ]
