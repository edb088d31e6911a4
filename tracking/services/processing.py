"""Processing: the worker drains stored events in batches and folds them into
profiles.

A batch is one transaction: its events are locked, resolved to customers,
folded into profiles, their email side effects applied (bounces and complaints
suppress, ESP unsubscribes withdraw), and marked processed. A worker killed
half-way rolls the whole batch back, so nothing is applied twice and nothing is
skipped. One drain runs at a time (a Postgres advisory lock), which keeps each
customer's events in order and makes the folds safe from lost updates.
"""

import threading
from contextlib import contextmanager

import orjson
from django.db import connection, transaction
from django.utils import timezone

from consent.models import ConsentSource, SuppressionReason
from consent.services import consent_carry_over, email_marketing_stop, suppression_add
from personalization.models import Customer
from personalization.services import EventIds, identities_resolve, profiles_update
from tracking.hooks import EventFact, ProcessedBatch, events_processed_notify
from tracking.models import Event, EventType

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
        rows = list(
            Event.objects.select_for_update(skip_locked=True, no_key=True)
            .filter(processed_at__isnull=True)
            .order_by("id")
            .values(*_FIELDS)[:size]
        )
        if not rows:
            return 0
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
        _mark_processed(resolution.customer_of)
    batch = ProcessedBatch(facts=facts)
    transaction.on_commit(lambda: events_processed_notify(batch))
    return len(rows)


def _follow_identities(resolution) -> None:
    """Events already processed follow their person: history linked at identify is
    folded into the profile, and a merged profile's events move to the survivor."""
    _history_link(resolution.linked)
    for gone, into in resolution.merged:
        Event.objects.filter(customer_id=gone).update(customer_id=into)
        consent_carry_over(source=Customer.objects.get(pk=gone), into=Customer.objects.get(pk=into))


def _history_link(linked: dict[str, int]) -> None:
    """Give processed anonymous events their newly known customer, and process them again."""
    if not linked:
        return
    if connection.vendor == "postgresql":
        rows = orjson.dumps([{"anonymous_id": a, "customer": c} for a, c in linked.items()]).decode()
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Event._meta.db_table} AS e SET customer_id = v.customer, processed_at = NULL "
                "FROM jsonb_to_recordset(%s::jsonb) AS v(anonymous_id text, customer bigint) "
                "WHERE e.anonymous_id = v.anonymous_id AND e.customer_id IS NULL AND e.processed_at IS NOT NULL",
                [rows],
            )
        return
    for anonymous_id, customer_id in linked.items():
        Event.objects.filter(anonymous_id=anonymous_id, customer__isnull=True, processed_at__isnull=False).update(
            customer_id=customer_id, processed_at=None
        )


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


def _mark_processed(customer_of: dict[int, int | None]) -> None:
    now = timezone.now()
    if connection.vendor == "postgresql":
        rows = orjson.dumps([{"id": i, "customer": c} for i, c in customer_of.items()]).decode()
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Event._meta.db_table} AS e SET processed_at = %s, customer_id = v.customer "
                "FROM jsonb_to_recordset(%s::jsonb) AS v(id bigint, customer bigint) WHERE e.id = v.id",
                [now, rows],
            )
        return
    events = [Event(id=i, customer_id=c, processed_at=now) for i, c in customer_of.items()]
    Event.objects.bulk_update(events, ["customer", "processed_at"], batch_size=500)
