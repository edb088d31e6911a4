"""Processing: the worker drains stored events in batches and folds them into
profiles.

A batch is one transaction: its events are taken off the queue (`WaitingEvent`, its
rows locked), resolved to customers, folded into profiles, their email side effects
applied (bounces and complaints suppress, ESP unsubscribes withdraw), and given the
customers they were resolved to where the sender did not know them. A worker killed
half-way rolls the whole batch back, so nothing is applied twice and nothing is
skipped. One drain runs at a time (a Postgres advisory lock), which keeps each
customer's events in order and makes the folds safe from lost updates.
"""

import threading
from contextlib import contextmanager

import orjson
from django.db import connection, transaction

from consent.models import ConsentSource, SuppressionReason
from consent.services import consent_carry_over, email_marketing_stop, suppression_add
from personalization.models import Customer
from personalization.services import EventIds, identities_resolve, profiles_update
from tracking.hooks import EventFact, ProcessedBatch, events_processed_notify
from tracking.models import Event, EventType, WaitingEvent

BATCH_SIZE = 2000
_DRAIN_LOCK_KEY = 0x7A11_0E7E  # any constant; names the drain among advisory locks
_local_drain = threading.Lock()  # SQLite (embedded mode) has no advisory locks


def events_process(*, max_batches: int | None = None) -> int:
    """Process waiting events batch after batch until none is left; return how many.
    When another drain is running, return 0 at once: it will see the new events too."""
    with _single_drain() as running:
        if not running:
            return 0
        total = batches = 0
        while max_batches is None or batches < max_batches:
            processed = events_process_batch()
            if not processed:
                break
            total, batches = total + processed, batches + 1
        return total


@contextmanager
def _single_drain():
    if connection.vendor != "postgresql":
        acquired = _local_drain.acquire(blocking=False)
        try:
            yield acquired
        finally:
            if acquired:
                _local_drain.release()
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_DRAIN_LOCK_KEY])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [_DRAIN_LOCK_KEY])


_FIELDS = (
    "id", "type", "user_id", "anonymous_id", "customer_id", "product_id", "properties", "occurred_at",
    "email_message_id",
)  # fmt: skip


def events_process_batch(*, size: int = BATCH_SIZE) -> int:
    """Process the oldest waiting events, up to `size`, in one transaction; return how many."""
    with transaction.atomic():
        waiting = list(
            WaitingEvent.objects.select_for_update(skip_locked=True).order_by("event_id")
            .values_list("event_id", flat=True)[:size]
        )  # fmt: skip
        if not waiting:
            return 0
        rows = list(Event.objects.filter(id__any_of=waiting).order_by("id").values(*_FIELDS))
        resolution = identities_resolve(
            events=[
                EventIds(
                    event_id=row["id"],
                    type=row["type"],
                    user_id=row["user_id"],
                    anonymous_id=row["anonymous_id"],
                    occurred_at=row["occurred_at"],
                    customer_id=row["customer_id"],
                    previous_id=str(row["properties"].get("previousId", "")) if row["type"] == EventType.ALIAS else "",
                )
                for row in rows
            ]
        )
        _follow_identities(resolution)
        facts = tuple(
            EventFact(
                id=row["id"],
                type=row["type"],
                customer_id=resolution.customer_of[row["id"]],
                occurred_at=row["occurred_at"],
                product_sku=row["product_id"] or "",
                properties=row["properties"],
                email_message_id=row["email_message_id"],
            )
            for row in rows
        )
        profiles_update(facts=list(facts))
        _email_effects(facts)
        _customers_assign({row["id"]: row["customer_id"] for row in rows}, resolution.customer_of)
        # Last: until now, the batch's own events are not history for `_history_link` to queue again.
        WaitingEvent.objects.filter(event_id__any_of=waiting).delete()
    batch = ProcessedBatch(facts=facts)
    transaction.on_commit(lambda: events_processed_notify(batch))
    return len(waiting)


def _follow_identities(resolution) -> None:
    """Events already processed follow their person: history linked at identify is
    folded into the profile, and a merged profile's events move to the survivor."""
    _history_link(resolution.linked)
    for gone, into in resolution.merged:
        Event.objects.filter(customer_id=gone).update(customer_id=into)
        consent_carry_over(source=Customer.objects.get(pk=gone), into=Customer.objects.get(pk=into))


def _history_link(linked: dict[str, int]) -> None:
    """Give processed anonymous events their newly known customer, and queue them again."""
    if not linked:
        return
    events, waiting = Event._meta.db_table, WaitingEvent._meta.db_table
    if connection.vendor == "postgresql":
        rows = orjson.dumps([{"anonymous_id": a, "customer": c} for a, c in linked.items()]).decode()
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH linked AS (UPDATE {events} AS e SET customer_id = v.customer "
                "FROM jsonb_to_recordset(%s::jsonb) AS v(anonymous_id text, customer bigint) "
                "WHERE e.anonymous_id = v.anonymous_id AND e.customer_id IS NULL "
                f"AND NOT EXISTS (SELECT 1 FROM {waiting} AS w WHERE w.event_id = e.id) RETURNING e.id) "
                f"INSERT INTO {waiting} (event_id) SELECT id FROM linked",
                [rows],
            )
        return
    for anonymous_id, customer_id in linked.items():
        history = Event.objects.filter(anonymous_id=anonymous_id, customer__isnull=True, waiting__isnull=True)
        ids = list(history.values_list("id", flat=True))
        Event.objects.filter(id__in=ids).update(customer_id=customer_id)
        WaitingEvent.objects.bulk_create([WaitingEvent(event_id=i) for i in ids])


def _email_effects(facts: tuple[EventFact, ...]) -> None:
    """What an ESP told us about a person's address: hard bounces and complaints suppress
    it, an unsubscribe through the ESP withdraws marketing consent."""
    relevant = [
        f for f in facts if f.type in (EventType.EMAIL_BOUNCED, EventType.EMAIL_MARKED_AS_SPAM, EventType.UNSUBSCRIBED)
    ]
    customers = Customer.objects.in_bulk([f.customer_id for f in relevant if f.customer_id])
    for fact in relevant:
        customer = customers.get(fact.customer_id)
        address = fact.properties.get("recipient") or (customer.email if customer else "")
        proof = {"esp": fact.properties.get("esp", ""), "event": fact.properties.get("esp_event_id", "")}
        if fact.type == EventType.EMAIL_BOUNCED and fact.properties.get("bounce_type") == "hard" and address:
            suppression_add(email=address, reason=SuppressionReason.HARD_BOUNCE)
        elif fact.type == EventType.EMAIL_MARKED_AS_SPAM:
            if customer:
                email_marketing_stop(
                    customer=customer, source=ConsentSource.ESP_COMPLAINT, actor="esp", proof=proof,
                    reason=SuppressionReason.COMPLAINT,
                )  # fmt: skip
            elif address:
                suppression_add(email=address, reason=SuppressionReason.COMPLAINT)
        elif fact.type == EventType.UNSUBSCRIBED and customer and fact.properties.get("esp"):
            email_marketing_stop(
                customer=customer, source=ConsentSource.ESP_UNSUBSCRIBE, actor="esp", proof=proof,
                reason=SuppressionReason.UNSUBSCRIBE,
            )  # fmt: skip


def _customers_assign(stored: dict[int, int | None], resolved: dict[int, int | None]) -> None:
    """Write the resolved customer into the events whose sender did not know it (or knew a
    profile since merged); the others are not rewritten."""
    changed = {i: c for i, c in resolved.items() if stored[i] != c}
    if not changed:
        return
    if connection.vendor == "postgresql":
        rows = orjson.dumps([{"id": i, "customer": c} for i, c in changed.items()]).decode()
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Event._meta.db_table} AS e SET customer_id = v.customer "
                "FROM jsonb_to_recordset(%s::jsonb) AS v(id bigint, customer bigint) WHERE e.id = v.id",
                [rows],
            )
        return
    Event.objects.bulk_update([Event(id=i, customer_id=c) for i, c in changed.items()], ["customer"], batch_size=500)
