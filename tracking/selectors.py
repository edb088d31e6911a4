"""Reads of the tracking app."""

from django.db.models import QuerySet

from tracking.models import Event


def events_recent_for_customer(*, customer_id: int, limit: int = 50) -> QuerySet[Event]:
    """A customer's latest events, newest first."""
    return Event.objects.filter(customer_id=customer_id).order_by("-occurred_at", "-id")[:limit]
