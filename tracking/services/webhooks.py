"""What ESPs report about the email Tailor sent, through django-anymail's
tracking webhooks: stored as events like any other (deduplicated by the ESP's
event id), then processed: bounces and complaints suppress the address."""

import hashlib

import orjson
from anymail.signals import AnymailTrackingEvent
from django.utils import timezone

from campaigns.selectors import message_for_esp
from tracking.models import EventType
from tracking.services.ingest import events_processing_schedule
from tracking.services.store import EventDraft, events_store

# Anymail's normalized event types on the Email spec's names.
ANYMAIL_EVENT_TYPES = {
    "delivered": EventType.EMAIL_DELIVERED,
    "deferred": EventType.EMAIL_DEFERRED,
    "bounced": EventType.EMAIL_BOUNCED,
    "rejected": EventType.EMAIL_BOUNCED,
    "failed": EventType.EMAIL_BOUNCED,
    "complained": EventType.EMAIL_MARKED_AS_SPAM,
    "opened": EventType.EMAIL_OPENED,
    "clicked": EventType.EMAIL_LINK_CLICKED,
    "unsubscribed": EventType.UNSUBSCRIBED,
}
# Anymail's "bounced" is permanent; "deferred" is a soft bounce the ESP retries.
BOUNCE_TYPES = {"bounced": "hard", "deferred": "soft", "rejected": "rejected", "failed": "failed"}


def esp_event_store(*, esp_name: str, event: AnymailTrackingEvent) -> bool:
    """Store one ESP event as an Event; False when it says nothing Tailor uses (queued, sent …)."""
    event_type = ANYMAIL_EVENT_TYPES.get(event.event_type)
    if event_type is None:
        return False
    message = message_for_esp(metadata_id=(event.metadata or {}).get("message"), esp_message_id=event.message_id or "")
    properties = {
        "esp": esp_name,
        "esp_event_type": event.event_type,
        "esp_event_id": event.event_id or "",
        "recipient": event.recipient or "",
        "reject_reason": event.reject_reason or "",
        "description": (event.description or "")[:1000],
        "mta_response": (event.mta_response or "")[:1000],
    }
    if event.event_type in BOUNCE_TYPES:
        properties["bounce_type"] = BOUNCE_TYPES[event.event_type]
    if event.click_url:
        properties["url"] = event.click_url
    draft = EventDraft(
        message_id=f"esp:{esp_name}:{event.event_id or _fingerprint(event)}",
        type=event_type,
        occurred_at=event.timestamp or timezone.now(),
        user_id=message.customer.external_id or "" if message else "",
        customer_id=message.customer_id if message else None,
        email_message_id=message.pk if message else None,
        anonymous_id=""
        if message
        else f"esp-recipient:{hashlib.sha256((event.recipient or '').encode()).hexdigest()[:32]}",
        properties=properties,
        context={"userAgent": (event.user_agent or "")[:500]},
    )
    if events_store(drafts=[draft]).stored:
        events_processing_schedule()
    return True


def _fingerprint(event: AnymailTrackingEvent) -> str:
    """ESPs without event ids (Postmark, for one): the same notification twice is the same event."""
    raw = event.esp_event if isinstance(event.esp_event, dict | list) else str(event.esp_event)
    return hashlib.sha256(orjson.dumps(raw, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()[:40]
