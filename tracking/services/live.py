"""The admin's live view: stored events are published to staff watching it.

At most a few times a second per process, a sample of what was just stored;
the page is a window, not a ledger. Events that were not stored (no consent,
duplicates) are never published.
"""

import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from tracking.services.store import EventDraft

LIVE_EVENTS_GROUP = "tailor-live-events"
EVERY_SECONDS = 0.5
SAMPLE = 20
_last_published = 0.0


def live_events_publish(stored: list[EventDraft]) -> None:
    global _last_published
    now = time.monotonic()
    if now - _last_published < EVERY_SECONDS:
        return
    _last_published = now
    events = [
        {
            "at": d.occurred_at.isoformat(),
            "type": d.type,
            "source": d.source_id,
            "person": d.user_id or d.anonymous_id,
            "product": d.product_sku,
        }
        for d in stored[-SAMPLE:]
    ]
    async_to_sync(get_channel_layer().group_send)(LIVE_EVENTS_GROUP, {"type": "events.stored", "events": events})
