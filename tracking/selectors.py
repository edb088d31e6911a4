"""Reads of the tracking app."""

from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from campaigns.models import Message
from campaigns.selectors import message_get
from core.errors import NotFound
from core.signing import token_make, token_read
from tracking.models import Event, Source, WaitingEvent


def events_processed_marked(events: QuerySet[Event]) -> QuerySet[Event]:
    """The events, each with `processed`: whether it has left the worker's queue."""
    return events.annotate(processed=~Exists(WaitingEvent.objects.filter(event=OuterRef("pk"))))


def events_waiting() -> QuerySet[Event]:
    """The events still waiting for the worker."""
    return Event.objects.filter(waiting__isnull=False)


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


def source_for_write_key(*, write_key: str) -> Source | None:
    """The active source this write key belongs to."""
    return Source.objects.filter(write_key=write_key, is_active=True).first() if write_key else None


ENGAGEMENT_LINK_MAX_AGE = timedelta(days=400)


def open_pixel_url(*, message_id: int) -> str:
    token = token_make(scope="open", payload={"m": message_id})
    return f"{settings.TAILOR_BASE_URL}/t/o/{token}.gif"


def click_url(*, message_id: int, link_index: int) -> str:
    """A tracked link: the token names the message and the link's place, never the target."""
    token = token_make(scope="click", payload={"m": message_id, "l": link_index})
    return f"{settings.TAILOR_BASE_URL}/t/c/{token}"


def tracked_message(*, scope: str, token: str) -> tuple[Message, dict]:
    """The message a pixel or click token was made for, and its payload; NotFound otherwise."""
    payload = token_read(scope=scope, token=token, max_age=ENGAGEMENT_LINK_MAX_AGE)
    message = message_get(message_id=payload.get("m")) if isinstance(payload.get("m"), int) else None
    if message is None:
        raise NotFound("This link is not valid.")
    return message, payload


def events_recent(*, limit: int = 50) -> QuerySet[Event]:
    """The latest stored events, newest first, with their source."""
    return Event.objects.select_related("source").order_by("-id")[:limit]


def sources_all() -> QuerySet[Source]:
    return Source.objects.order_by("name")


def event_types_seen() -> list[str]:
    """Event names that arrived in the last 30 days, custom ones included (cached: it reads many rows)."""

    def distinct_types() -> list[str]:
        recent = Event.objects.filter(occurred_at__gte=timezone.now() - timedelta(days=30))
        return sorted(recent.order_by().values_list("type", flat=True).distinct())

    return cache.get_or_set("tracking:event-types-seen", distinct_types, timeout=600)
