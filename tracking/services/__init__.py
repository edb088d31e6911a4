"""Writes of the tracking app. Other apps import from here only."""

from tracking.services.engagement import Visit, email_click_record, email_open_record
from tracking.services.ingest import (
    Ingested,
    IngestOutcome,
    IngestRequest,
    events_ingest,
    events_processing_schedule,
    ingested_announce,
)
from tracking.services.processing import events_process, events_process_batch
from tracking.services.stats import source_counts_add
from tracking.services.store import (
    EventDraft,
    EventsStored,
    RejectedEvent,
    event_draft_problem,
    events_erase,
    events_purge,
    events_store,
    own_events_record,
)
from tracking.services.webhooks import esp_event_store

__all__ = [
    "EventDraft",
    "EventsStored",
    "IngestOutcome",
    "IngestRequest",
    "Ingested",
    "RejectedEvent",
    "Visit",
    "email_click_record",
    "email_open_record",
    "esp_event_store",
    "event_draft_problem",
    "events_erase",
    "events_ingest",
    "events_process",
    "events_process_batch",
    "events_processing_schedule",
    "events_purge",
    "events_store",
    "ingested_announce",
    "own_events_record",
    "source_counts_add",
]
