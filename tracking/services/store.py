"""`events_store` is the one durable path every event takes: the ingest API,
the WebSocket stream, email engagement, ESP webhooks and the demo generator all
call it, and each event it stores is queued for the worker (`WaitingEvent`, in the
same statement). Tailor's own events take `own_events_record`, the same insert, not
queued: they are processed as they are stored."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from django.core.serializers.json import DjangoJSONEncoder
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from core.errors import ServiceUnavailable
from tracking.hooks import EventFact, ProcessedBatch, events_processed_notify
from tracking.models import OWN_EVENT_TYPES, Event, WaitingEvent
from tracking.selectors import events_of_subject

# SQLite allows 32,766 parameters a statement; twelve columns a row keeps a
# chunk of this size well under it.
EVENTS_PER_STATEMENT = 1000

MAX_ID_LENGTH = 255
MAX_MESSAGE_ID_LENGTH = Event._meta.get_field("message_id").max_length
MAX_TYPE_LENGTH = Event._meta.get_field("type").max_length
MAX_SKU_LENGTH = 100

_COLUMNS = (
    "message_id",
    "type",
    "user_id",
    "anonymous_id",
    "customer",
    "product",
    "source",
    "email_message",
    "properties",
    "context",
    "occurred_at",
    "received_at",
)


@dataclass(frozen=True)
class EventDraft:
    """An event as a sender described it, not yet validated or stored."""

    message_id: str
    type: str
    occurred_at: datetime
    user_id: str = ""
    anonymous_id: str = ""
    customer_id: int | None = None
    product_sku: str = ""
    source_id: int | None = None
    email_message_id: int | None = None
    properties: dict = field(default_factory=dict)
    context: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RejectedEvent:
    index: int
    reason: str


@dataclass(frozen=True)
class EventsStored:
    stored: int  # new rows written
    duplicates: int  # message ids seen before (or twice in this batch): accepted, stored once
    rejected: tuple[RejectedEvent, ...]
    new_message_ids: frozenset[str] = frozenset()

    @property
    def accepted(self) -> int:
        return self.stored + self.duplicates


def event_draft_problem(draft: EventDraft) -> str | None:
    """Why this draft cannot be stored, in words a sender can act on; None if it can."""
    if not isinstance(draft.message_id, str) or not draft.message_id.strip():
        return "messageId is missing: give every event a unique id so that retries are stored once."
    if len(draft.message_id) > MAX_MESSAGE_ID_LENGTH:
        return f"messageId is longer than {MAX_MESSAGE_ID_LENGTH} characters."
    if not isinstance(draft.type, str) or not draft.type.strip():
        return "The event has no name (type): name it, e.g. 'Product Viewed'."
    if len(draft.type) > MAX_TYPE_LENGTH:
        return f"The event name is longer than {MAX_TYPE_LENGTH} characters."
    if not (draft.user_id or draft.anonymous_id or draft.customer_id):
        return "The event names nobody: give a userId or an anonymousId."
    if len(draft.user_id) > MAX_ID_LENGTH or len(draft.anonymous_id) > MAX_ID_LENGTH:
        return f"userId and anonymousId must be at most {MAX_ID_LENGTH} characters."
    if len(draft.product_sku) > MAX_SKU_LENGTH:
        return f"The product id is longer than {MAX_SKU_LENGTH} characters."
    if not isinstance(draft.occurred_at, datetime) or timezone.is_naive(draft.occurred_at):
        return "The timestamp must be a date and time with a time zone (ISO 8601, e.g. 2026-05-01T12:00:00Z)."
    if not isinstance(draft.properties, dict) or not isinstance(draft.context, dict):
        return "properties and context must be JSON objects."
    return None


def events_store(*, drafts: Sequence[EventDraft]) -> EventsStored:
    """Validate a batch and store its valid events, each message id once, in one transaction."""
    rejected: list[RejectedEvent] = []
    unique: dict[str, EventDraft] = {}
    repeats_in_batch = 0
    for index, draft in enumerate(drafts):
        problem = event_draft_problem(draft)
        if problem:
            rejected.append(RejectedEvent(index=index, reason=problem))
        elif draft.message_id in unique:
            repeats_in_batch += 1
        else:
            unique[draft.message_id] = draft

    new = _insert_new(list(unique.values()), received_at=timezone.now(), queued=True) if unique else {}
    new_ids = frozenset(new)
    return EventsStored(
        stored=len(new_ids),
        duplicates=repeats_in_batch + len(unique) - len(new_ids),
        rejected=tuple(rejected),
        new_message_ids=new_ids,
    )


def own_events_record(*, drafts: Sequence[EventDraft]) -> None:
    """Store Tailor's own events (a customer entered or left a segment), not queued, and hand
    them to the processed-events hook once the transaction commits. They are facts about a
    known customer with nothing to fold into a profile; queued for the worker they were a
    third of what it processed while segments followed a busy shop."""
    misfits = [d.message_id for d in drafts if d.type not in OWN_EVENT_TYPES or d.customer_id is None]
    if misfits:
        raise ValueError(f"Not Tailor's own events about a known customer: {misfits[:5]}")
    unique = {draft.message_id: draft for draft in drafts}
    new = _insert_new(list(unique.values()), received_at=timezone.now(), queued=False) if unique else {}
    stored = sorted((event_id, unique[message_id]) for message_id, event_id in new.items())
    batch = ProcessedBatch(
        facts=tuple(
            EventFact(id=event_id, type=d.type, customer_id=d.customer_id, occurred_at=d.occurred_at,
                      product_sku=d.product_sku, properties=d.properties)
            for event_id, d in stored
        )
    )  # fmt: skip
    if batch.facts:
        transaction.on_commit(lambda: events_processed_notify(batch))


def _insert_new(drafts: list[EventDraft], *, received_at: datetime, queued: bool) -> dict[str, int]:
    """INSERT … ON CONFLICT (message_id) DO NOTHING RETURNING message_id, id: new rows
    are stored (and queued for the worker when `queued`), repeats skipped, and the ids
    returned are the new ones'."""
    try:
        # No savepoint inside a caller's transaction (ingest's group commit): two round trips
        # less, and a failure here fails the caller's whole transaction, as it should.
        with transaction.atomic(savepoint=False), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                return _insert_postgres(cursor, drafts, received_at, queued)
            return _insert_values(cursor, drafts, received_at, queued)
    except (OperationalError, InterfaceError) as exc:
        raise ServiceUnavailable(
            "Events could not be stored right now; nothing from this request was kept. Retry shortly."
        ) from exc


def _column_names() -> str:
    quote = connection.ops.quote_name
    return ", ".join(quote(Event._meta.get_field(name).column) for name in _COLUMNS)


def _insert_postgres(cursor, drafts: list[EventDraft], received_at: datetime, queued: bool) -> dict[str, int]:
    # The batch travels as one JSON document unpacked by jsonb_to_recordset:
    # one parameter whatever the batch size, serialized in C by orjson and
    # parsed in C by Postgres (arrays of text cost a regex escape per value).
    rows = orjson.dumps(
        [dict(zip(_COLUMNS, _row_values(draft), strict=False)) for draft in drafts],
        default=_json_default,
    ).decode()
    insert = (
        f"INSERT INTO {Event._meta.db_table} ({_column_names()}) "
        f"SELECT {', '.join(_COLUMNS[:-1])}, %s FROM jsonb_to_recordset(%s::jsonb) AS v("
        "message_id text, type text, user_id text, anonymous_id text, customer bigint, product text, "
        "source bigint, email_message bigint, properties jsonb, context jsonb, occurred_at timestamptz) "
        "ON CONFLICT (message_id) DO NOTHING RETURNING message_id, id"
    )
    if queued:
        insert = (
            f"WITH new AS ({insert}), queued AS (INSERT INTO {WaitingEvent._meta.db_table} (event_id) "
            "SELECT id FROM new) SELECT message_id, id FROM new"
        )
    cursor.execute(insert, [received_at, rows])
    return dict(cursor.fetchall())


_json_default = DjangoJSONEncoder().default


def _insert_values(cursor, drafts: list[EventDraft], received_at: datetime, queued: bool) -> dict[str, int]:
    # SQLite: multi-row VALUES, chunked under its limit on parameters.
    fields = [Event._meta.get_field(name) for name in _COLUMNS]
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    head = f"INSERT INTO {Event._meta.db_table} ({_column_names()}) VALUES "
    stored: dict[str, int] = {}
    for start in range(0, len(drafts), EVENTS_PER_STATEMENT):
        chunk = drafts[start : start + EVENTS_PER_STATEMENT]
        params = [
            f.get_db_prep_save(value, connection)
            for draft in chunk
            for f, value in zip(fields, (*_row_values(draft), received_at), strict=True)
        ]
        tail = " ON CONFLICT (message_id) DO NOTHING RETURNING message_id, id"
        cursor.execute(head + ", ".join([row] * len(chunk)) + tail, params)
        new = dict(cursor.fetchall())
        if queued and new:
            waiting = f"INSERT INTO {WaitingEvent._meta.db_table} (event_id) VALUES " + ", ".join(["(%s)"] * len(new))
            cursor.execute(waiting, list(new.values()))
        stored.update(new)
    return stored


def _row_values(draft: EventDraft) -> tuple:
    """The draft's values in _COLUMNS order, but for received_at (the last), which the batch shares."""
    return (
        draft.message_id,
        draft.type,
        draft.user_id,
        draft.anonymous_id,
        draft.customer_id,
        draft.product_sku or None,
        draft.source_id,
        draft.email_message_id,
        draft.properties,
        draft.context,
        draft.occurred_at,
    )


PURGE_CHUNK = 10_000


def events_erase(*, customer_id: int, user_ids: list[str], anonymous_ids: list[str]) -> int:
    """Delete every event of one person (erasure); return how many."""
    deleted, _ = events_of_subject(customer_id=customer_id, user_ids=user_ids, anonymous_ids=anonymous_ids).delete()
    return deleted


def events_purge(*, before: datetime, types: Sequence[str] = (), exclude_types: Sequence[str] = ()) -> int:
    """Delete events that occurred before `before` (of `types`, or of all but `exclude_types`),
    in chunks so that no lock is held for long; return how many."""
    expired = Event.objects.filter(occurred_at__lt=before)
    if types:
        expired = expired.filter(type__in=types)
    if exclude_types:
        expired = expired.exclude(type__in=exclude_types)
    total = 0
    while ids := list(expired.values_list("id", flat=True)[:PURGE_CHUNK]):
        total += Event.objects.filter(id__in=ids).delete()[0]
    return total
