"""Who an event is about: ids resolved to customers, new customers for new user
ids, anonymous ids linked to the user they identified as, and profiles merged
when an alias says two ids are one person."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from core.db import rows_insert_new
from personalization.models import Customer, Identity, IdentityKind
from personalization.selectors import customer_ids_by_identity
from personalization.services.profiles import traits_merge


@dataclass(frozen=True)
class EventIds:
    """What identity resolution needs of an event."""

    event_id: int
    type: str
    user_id: str
    anonymous_id: str
    occurred_at: datetime
    customer_id: int | None = None  # when the sender already knew the customer (an email open, say)
    previous_id: str = ""  # alias calls: the id the user had before


@dataclass
class Resolution:
    customer_of: dict[int, int | None]  # event id -> customer id
    linked: dict[str, int] = field(default_factory=dict)  # anonymous ids newly tied to a customer
    merged: list[tuple[int, int]] = field(default_factory=list)  # (merged customer, surviving customer)


def identities_resolve(*, events: list[EventIds]) -> Resolution:
    """Resolve every event to its customer (None for a visitor still anonymous)."""
    previous_ids = [e.previous_id for e in events if e.previous_id]
    by_user, by_anonymous = customer_ids_by_identity(
        user_ids=[e.user_id for e in events] + previous_ids,
        anonymous_ids=[e.anonymous_id for e in events] + previous_ids,
    )
    new_user_ids = {e.user_id for e in events if e.user_id} - by_user.keys()
    by_user |= _customers_for_user_ids(new_user_ids)
    resolution = Resolution(customer_of={})
    for event in sorted(events, key=lambda e: (e.occurred_at, e.event_id)):
        if event.user_id and event.anonymous_id and event.anonymous_id not in by_anonymous:
            # The visitor identified: their anonymous history is theirs.
            by_anonymous[event.anonymous_id] = resolution.linked[event.anonymous_id] = by_user[event.user_id]
        if event.previous_id:
            _alias(event, by_user, by_anonymous, resolution)
    _identities_add(resolution.linked, kind=IdentityKind.ANONYMOUS_ID)
    for event in events:
        by_ids = by_user.get(event.user_id) if event.user_id else by_anonymous.get(event.anonymous_id)
        resolution.customer_of[event.event_id] = _survivor(by_ids or event.customer_id, resolution.merged)
    return resolution


def _survivor(customer_id: int | None, merged: list[tuple[int, int]]) -> int | None:
    for gone, into in merged:
        if customer_id == gone:
            customer_id = into
    return customer_id


def _alias(event: EventIds, by_user: dict, by_anonymous: dict, resolution: Resolution) -> None:
    into = _survivor(by_user[event.user_id], resolution.merged)
    other = by_user.get(event.previous_id) or by_anonymous.get(event.previous_id)
    other = _survivor(other, resolution.merged)
    if other is None:
        # The old id was never seen as a user: it may have been either kind, so both point here.
        _identities_add({event.previous_id: into}, kind=IdentityKind.USER_ID)
        by_user[event.previous_id] = into
        by_anonymous[event.previous_id] = resolution.linked[event.previous_id] = into
    elif other != into:
        customer_merge(source=Customer.objects.get(pk=other), into=Customer.objects.get(pk=into))
        resolution.merged.append((other, into))


def _customers_for_user_ids(user_ids: Iterable[str]) -> dict[str, int]:
    """Customers for user ids never seen before, with their identities; {user id: customer id}."""
    user_ids = set(user_ids)
    if not user_ids:
        return {}
    existing = dict(Customer.objects.filter(external_id__in=user_ids).values_list("external_id", "pk"))
    created = Customer.objects.bulk_create([Customer(external_id=u) for u in sorted(user_ids - existing.keys())])
    found = existing | {c.external_id: c.pk for c in created}
    _identities_add(found, kind=IdentityKind.USER_ID)
    return found


def _identities_add(customer_of: dict[str, int], *, kind: str) -> None:
    rows_insert_new(Identity, [Identity(kind=kind, value=value, customer_id=cid) for value, cid in customer_of.items()])


def customer_merge(*, source: Customer, into: Customer) -> None:
    """Merge `source` into `into`: ids and learned traits move, empty profile fields are
    filled, and `source` stays as a tombstone pointing at `into` (its consent records
    are evidence and stay with it; consent copies what still matters)."""
    Identity.objects.filter(customer=source).update(customer=into)
    for name in ("email", "first_name", "last_name", "external_id"):
        if not getattr(into, name) and getattr(source, name):
            setattr(into, name, getattr(source, name))
    into.attributes = {**source.attributes, **into.attributes}
    into.first_seen_at = min(filter(None, [into.first_seen_at, source.first_seen_at]), default=None)
    into.last_seen_at = max(filter(None, [into.last_seen_at, source.last_seen_at]), default=None)
    source.merged_into, source.email, source.external_id = into, "", None
    source.save(update_fields=["merged_into", "email", "external_id", "updated_at"])
    into.save()
    traits_merge(source=source, into=into)
    Customer.objects.filter(merged_into=source).update(merged_into=into)
