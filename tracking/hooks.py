"""The one hook later capabilities subscribe to: "these events were just processed".

Segments re-check the touched customers, recommendations refresh their lists,
journeys start. Subscribers run after the batch is committed, each on its own:
one that fails is logged and does not stop the others or the processing.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EventFact:
    """A processed event, as the rest of Tailor sees it."""

    id: int
    type: str
    customer_id: int | None
    occurred_at: datetime
    product_sku: str
    properties: dict
    email_message_id: int | None = None


@dataclass(frozen=True)
class ProcessedBatch:
    facts: tuple[EventFact, ...]

    @property
    def customer_ids(self) -> frozenset[int]:
        return frozenset(f.customer_id for f in self.facts if f.customer_id is not None)

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(f.type for f in self.facts)


_subscribers: dict[str, Callable[[ProcessedBatch], None]] = {}


def events_processed_subscribe(name: str, handler: Callable[[ProcessedBatch], None]) -> None:
    """Call `handler` after every processed batch (registered once per name, from AppConfig.ready)."""
    _subscribers[name] = handler


def events_processed_notify(batch: ProcessedBatch) -> None:
    for name, handler in list(_subscribers.items()):
        try:
            handler(batch)
        except Exception:
            logger.exception("The %r subscriber failed on a batch of %d events", name, len(batch.facts))
