"""Segment writes: saving rules, and membership, recorded with entered and exited
times and as "Segment Entered" / "Segment Exited" events (journeys start from them).

Three paths change membership, all through `_membership_apply` under a lock per segment:
- real time: after each processed batch, the touched customers are re-checked against
  the segments whose rules those events can change (`segments_follow_events`);
- the clock: a rule with a time window can flip with no new event; the moments when
  it can are stored as SegmentChecks and re-checked when due (`segment_checks_run`);
- full refresh, by beat, of each segment as a whole (`segment_refresh`).
"""

import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from core.db import rows_insert_new
from core.errors import ValidationError
from personalization.models import Customer, RefreshStatus, Segment, SegmentCheck, SegmentKind, SegmentMembership
from personalization.segments.rules import (
    ANY_EVENT,
    CONSENT_CHANGED,
    Flip,
    RuleError,
    rules_check,
    rules_flips,
    segment_references,
)
from personalization.segments.selectors import (
    segment_audience,
    segment_member_ids,
    segments_rule_based,
    segments_triggered_by,
    segments_using,
)
from tracking.hooks import ProcessedBatch
from tracking.models import OWN_EVENT_TYPES

logger = logging.getLogger(__name__)
_LOCK_CLASS = 0x5E6  # advisory lock namespace: (class, segment id)
EVENTS_CHUNK = 5000
CHECKS_PER_RUN = 5000


# --- rules ---------------------------------------------------------------------------------


def segment_rules_validate(*, rules, segment_id: int | None = None) -> None:
    """Refuse rules that cannot be compiled, or that refer back to the segment itself."""
    try:
        rules_check(rules)
        _cycle_check(rules, segment_id)
    except RuleError as error:
        raise ValidationError(
            f"The rule at {error.path} is not valid: {error.message}", details={"rules": {error.path: [error.message]}}
        ) from None


def _cycle_check(rules: dict, segment_id: int | None) -> None:
    """A segment may use others' membership, but never its own, directly or through others;
    the error points at the node of these rules that leads back."""
    for path, leaf in segment_references(rules, "rules"):
        seen: set[int] = set()
        pending = [leaf["segment"]]
        while pending:
            other = pending.pop()
            if other == segment_id:
                raise RuleError(f"{path}.segment", "A segment cannot depend on its own membership.")
            if other in seen:
                continue
            seen.add(other)
            referenced = Segment.objects.filter(pk=other).values_list("rules", flat=True).first() or {}
            pending += [node["segment"] for _, node in segment_references(referenced, "rules")]


def segment_save(
    *, name: str, rules: dict, description: str = "", is_active: bool = True, segment: Segment | None = None
) -> Segment:
    """Create or change a rule-based segment; its membership follows at once."""
    if segment is not None and segment.kind != SegmentKind.RULES:
        raise ValidationError("Cluster segments are made by clustering runs and cannot be edited.")
    segment_rules_validate(rules=rules, segment_id=segment.pk if segment else None)
    name = (name or "").strip()
    if not name:
        raise ValidationError("A segment needs a name.", details={"name": ["This field is required."]})
    clash = Segment.objects.filter(name=name).exclude(pk=segment.pk if segment else None)
    if clash.exists():
        raise ValidationError(f"There is already a segment named {name!r}.", details={"name": ["Already taken."]})
    segment = segment or Segment(kind=SegmentKind.RULES)
    segment.name, segment.description, segment.rules, segment.is_active = name, description, rules, is_active
    if segment.pk is None:
        segment.save()
    else:  # only what was edited: counts and refresh state are kept by the membership paths meanwhile
        segment.save(update_fields=["name", "description", "rules", "is_active", "updated_at"])
    transaction.on_commit(lambda: _refresh_soon(segment.pk))
    return segment


def _refresh_soon(segment_id: int) -> None:
    from personalization.tasks import segment_refresh_task  # tasks import the services

    segment_refresh_task.delay(segment_id)


# --- membership ----------------------------------------------------------------------------


def _segment_lock(segment_id: int) -> None:
    """Serialize membership changes of one segment (the real-time path, checks and refresh)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_CLASS, segment_id])


def _membership_apply(
    segment: Segment, *, matching: set[int], scope: Iterable[int] | None, now: datetime, initial: bool = False
) -> tuple[int, int]:
    """Make the members among `scope` (everyone when None) exactly `matching`. Call
    inside a transaction holding the segment's lock; returns (entered, exited)."""
    current = set(segment_member_ids(segment=segment, among=scope))
    entering, leaving = matching - current, current - matching
    if not (entering or leaving):
        return 0, 0
    gone = list(
        SegmentMembership.objects.filter(segment=segment, customer_id__in=leaving, exited_at__isnull=True)
        .values_list("pk", "customer_id")
    )  # fmt: skip
    SegmentMembership.objects.filter(pk__in=[pk for pk, _ in gone]).update(exited_at=now)
    new = SegmentMembership.objects.bulk_create(
        [SegmentMembership(segment=segment, customer_id=c, entered_at=now) for c in sorted(entering)], batch_size=5000
    )
    # A full recompute knows the exact count (and so corrects any drift); a partial one adjusts
    # it, never below zero, so that a counter that drifted cannot fail the change itself.
    count = len(matching) if scope is None else Greatest(F("member_count") + len(entering) - len(leaving), 0)
    Segment.objects.filter(pk=segment.pk).update(member_count=count)
    _membership_events_record(segment, [(m.pk, m.customer_id) for m in new], gone, now=now, initial=initial)
    return len(entering), len(leaving)


def _membership_events_record(segment, entered, exited, *, now: datetime, initial: bool) -> None:
    """One event per entry and exit, with an id that makes recording them again harmless;
    segments built on this one and journeys hear of them when the change commits."""
    from tracking.models import EventType
    from tracking.services import EventDraft, own_events_record

    properties = {"segment_id": segment.pk, "segment_name": segment.name}
    if initial:
        properties["initial"] = True  # the segment's first population: journeys may not want these
    drafts = [
        EventDraft(message_id=f"segment-{kind}-{pk}", type=event_type, occurred_at=now, customer_id=customer_id,
                   properties=properties)
        for kind, event_type, rows in (("in", EventType.SEGMENT_ENTERED, entered),
                                       ("out", EventType.SEGMENT_EXITED, exited))
        for pk, customer_id in rows
    ]  # fmt: skip
    for start in range(0, len(drafts), EVENTS_CHUNK):
        own_events_record(drafts=drafts[start : start + EVENTS_CHUNK])


def segment_evaluate(*, segment: Segment, customer_ids: Iterable[int], now: datetime | None = None) -> tuple[int, int]:
    """Re-check some customers against one rule-based segment; returns (entered, exited)."""
    now = now or timezone.now()
    ids = set(customer_ids)
    if not ids or not segment.is_active:
        return 0, 0
    with transaction.atomic():
        _segment_lock(segment.pk)
        matching = set(segment_audience(rules=segment.rules, now=now, among=ids).values_list("pk", flat=True))
        return _membership_apply(segment, matching=matching, scope=ids, now=now)


def segment_evaluate_assigned(*, segment: Segment, matching: set[int], scope: set[int], now: datetime) -> None:
    """Set membership among `scope` to `matching`, decided elsewhere (clusters)."""
    with transaction.atomic():
        _segment_lock(segment.pk)
        _membership_apply(segment, matching=matching & scope, scope=scope, now=now)


def segment_memberships_replace(*, segment: Segment, customer_ids: set[int], now: datetime) -> None:
    """Make the members exactly `customer_ids` (a clustering run) and mark the segment fresh."""
    started = time.perf_counter()
    with transaction.atomic():
        _segment_lock(segment.pk)
        initial = segment.refresh_status == RefreshStatus.NEVER
        _membership_apply(segment, matching=customer_ids, scope=None, now=now, initial=initial)
        Segment.objects.filter(pk=segment.pk).update(
            member_count=len(customer_ids), refresh_status=RefreshStatus.FRESH, refreshed_at=now,
            refresh_seconds=time.perf_counter() - started, refresh_error="",
        )  # fmt: skip


def segment_refresh(*, segment: Segment, now: datetime | None = None) -> Segment:
    """Recompute a segment's membership in full. A failure is recorded as such, never as fresh."""
    if segment.kind == SegmentKind.CLUSTER:
        raise ValidationError("Cluster segments are refreshed by re-running their clustering.")
    started = time.perf_counter()
    Segment.objects.filter(pk=segment.pk).update(
        refresh_status=RefreshStatus.RUNNING, refresh_started_at=timezone.now()
    )
    try:
        with transaction.atomic():
            _segment_lock(segment.pk)
            now = now or timezone.now()
            # The first population is the first that succeeded, whatever attempts failed before it.
            initial = not Segment.objects.filter(pk=segment.pk, refreshed_at__isnull=False).exists()
            matching = set(segment_audience(rules=segment.rules, now=now).values_list("pk", flat=True))
            _membership_apply(segment, matching=matching, scope=None, now=now, initial=initial)
            Segment.objects.filter(pk=segment.pk).update(member_count=len(matching))
    except Exception as error:
        logger.exception("Refreshing segment %s failed", segment.pk)
        Segment.objects.filter(pk=segment.pk).update(refresh_status=RefreshStatus.FAILED, refresh_error=str(error))
    else:
        Segment.objects.filter(pk=segment.pk).update(
            refresh_status=RefreshStatus.FRESH, refreshed_at=now, refresh_seconds=time.perf_counter() - started,
            refresh_error="",
        )  # fmt: skip
    segment.refresh_from_db()
    return segment


# --- real time -----------------------------------------------------------------------------


def segments_follow_events(*, batch: ProcessedBatch, now: datetime | None = None) -> None:
    """After a processed batch: re-check the touched customers against the segments those
    events can change, and remember when time-window rules can flip for them."""
    now = now or timezone.now()
    customers_by_type: dict[str, set[int]] = defaultdict(set)
    for fact in batch.facts:
        if fact.customer_id is not None:
            customers_by_type[fact.type].add(fact.customer_id)
    if not customers_by_type:
        return
    active = set().union(*(ids for event_type, ids in customers_by_type.items() if event_type not in OWN_EVENT_TYPES))
    for segment, triggers in segments_triggered_by(event_types=customers_by_type.keys()):
        touched = set().union(*(ids for event_type, ids in customers_by_type.items() if event_type in triggers))
        if ANY_EVENT in triggers:
            touched |= active
        _isolated(segment, segment_evaluate, segment=segment, customer_ids=touched, now=now)
    _checks_schedule(batch, now=now)


def _isolated(failing: Segment, action, **arguments) -> None:
    """One segment that cannot be evaluated (rules broken in the database, say) is logged
    and must not hold up the others."""
    try:
        action(**arguments)
    except Exception:
        logger.exception("Segment %s (%s) could not be re-checked", failing.pk, failing.name)


def _checks_schedule(batch: ProcessedBatch, *, now: datetime) -> None:
    flips_by_type: dict[str, list[tuple[int, Flip]]] = defaultdict(list)
    for segment in segments_rule_based():
        try:
            flips = rules_flips(segment.rules)
        except Exception:
            logger.exception("The rules of segment %s cannot be read", segment.pk)
            continue
        for flip in flips:
            flips_by_type[flip.event_type].append((segment.pk, flip))
    # A flip counts from the event, or from a moment of the customer's that their events
    # moved (the last order, say): the latter once per customer, however many events they sent.
    boundaries: set[tuple[int, int, datetime]] = set()  # (segment, customer, when it can flip)
    anchored: set[tuple[int, int, Flip]] = set()
    for fact in batch.facts:
        if fact.customer_id is None:
            continue
        any_event = [] if fact.type in OWN_EVENT_TYPES else flips_by_type.get(ANY_EVENT, [])
        for segment_id, flip in flips_by_type.get(fact.type, []) + any_event:
            if flip.column:
                anchored.add((segment_id, fact.customer_id, flip))
            else:
                boundaries.add((segment_id, fact.customer_id, fact.occurred_at + flip.after))
    moments = _customer_moments({flip.column for *_, flip in anchored}, {customer for _, customer, _ in anchored})
    for segment_id, customer_id, flip in anchored:
        if moment := moments.get((flip.column, customer_id)):
            boundaries.add((segment_id, customer_id, moment + flip.after))
    checks = {(segment, customer, _check_moment(boundary, now=now)) for segment, customer, boundary in boundaries}
    due = [SegmentCheck(segment_id=s, customer_id=c, due_at=at) for s, c, at in sorted(checks) if at > now]
    rows_insert_new(SegmentCheck, due)


def _customer_moments(columns: set[str], customer_ids: set[int]) -> dict[tuple[str, int], datetime]:
    """The moments that days-since rules count from ("traits__last_order_at" ...), as they are now."""
    if not columns or not customer_ids:
        return {}
    rows = Customer.objects.filter(pk__any_of=customer_ids).values("pk", *columns)
    return {(column, row["pk"]): row[column] for row in rows for column in columns if row[column]}


def _check_moment(boundary: datetime, *, now: datetime) -> datetime:
    """Just after the boundary, to the second (to the minute for far-off ones, so that
    a busy customer's many events share one check)."""
    far = boundary - now > timedelta(hours=1)
    rounded = boundary.replace(second=0, microsecond=0) + timedelta(minutes=1) if far else boundary
    return rounded.replace(microsecond=0) + timedelta(seconds=1)


def segment_checks_run(*, now: datetime | None = None) -> int:
    """Re-check the customers whose time-window rules are due to flip; return how many checks ran."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            SegmentCheck.objects.select_for_update(skip_locked=True)
            .filter(due_at__lte=now)
            .order_by("due_at")
            .values_list("pk", "segment_id", "customer_id")[:CHECKS_PER_RUN]
        )
        by_segment: dict[int, set[int]] = defaultdict(set)
        for _, segment_id, customer_id in due:
            by_segment[segment_id].add(customer_id)
        for segment in Segment.objects.filter(pk__in=by_segment, is_active=True):
            _isolated(segment, segment_evaluate, segment=segment, customer_ids=by_segment[segment.pk], now=now)
        SegmentCheck.objects.filter(pk__in=[pk for pk, _, _ in due]).delete()
    return len(due)


def segments_follow_consent(*, customer_ids: Iterable[int]) -> None:
    """A consent decision, suppression or pause changed: re-check segments with consent rules."""
    ids = set(customer_ids)
    for segment, _ in segments_triggered_by(event_types=[CONSENT_CHANGED]):
        _isolated(segment, segment_evaluate, segment=segment, customer_ids=ids)


def segment_delete(*, segment: Segment) -> None:
    """Remove a rule-based segment with its membership history (segments using it must change first)."""
    if segment.kind != SegmentKind.RULES:
        raise ValidationError("Cluster segments belong to their clustering: delete the clustering instead.")
    users = [user.name for user in segments_using(segment_ids={segment.pk}).get(segment.pk, [])]
    if users:
        raise ValidationError(f"Segments {', '.join(users)} use this one: change their rules first.")
    segment.delete()


def segments_refresh_all() -> list[Segment]:
    """Refresh every active rule-based segment in full, one after the other."""
    return [segment_refresh(segment=s) for s in Segment.objects.filter(is_active=True, kind=SegmentKind.RULES)]
