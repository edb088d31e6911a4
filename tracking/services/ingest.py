"""From accepted calls to stored events: identity lookup, consent at the door,
one durable write for many requests (`events_ingest`), and, once it is committed, what
others are told of it (`ingested_announce`): per-source counts, a nudge to the processing
worker, the admin's live view. The two are apart so that replies need not wait for the
second: the group-commit writer replies first."""

import logging
from collections import Counter
from dataclasses import dataclass, field, replace

from django.core.cache import cache
from django.db import transaction

from consent.selectors import TrackingQuestion, can_track_many, erased_among
from consent.services import tracking_stop_for_gpc
from personalization.selectors import customer_find, customer_ids_by_identity
from tracking.models import EventType
from tracking.services.live import live_events_publish
from tracking.services.stats import source_counts_add
from tracking.services.store import EventDraft, events_store

# Profile and identity calls are not behavior: they carry what the shop knows
# and are needed to link and honor consent, so consent for tracking does not gate them.
NOT_BEHAVIOR = {EventType.IDENTIFY, EventType.ALIAS}
# Segment's consent context names categories; these mean behavioral tracking.
TRACKING_CATEGORIES = {"tracking", "analytics"}
PROCESSING_FLAG = "tracking:processing-scheduled"

logger = logging.getLogger(__name__)


@dataclass
class IngestRequest:
    """The accepted calls of one HTTP request or WebSocket message."""

    source_id: int
    asked_upstream: bool
    drafts: list[EventDraft]
    gpc: bool = False
    proof: dict = field(default_factory=dict)


@dataclass(frozen=True)
class IngestOutcome:
    stored: int = 0
    duplicates: int = 0
    not_consented: int = 0

    @property
    def accepted(self) -> int:
        return self.stored + self.duplicates + self.not_consented


def event_consent(context: dict) -> bool | None:
    """What the event's own consent context (Segment's context.consent) says about tracking."""
    consent = context.get("consent") if isinstance(context, dict) else None
    preferences = consent.get("categoryPreferences") if isinstance(consent, dict) else None
    if not isinstance(preferences, dict):
        return None
    values = [bool(value) for name, value in preferences.items() if str(name).lower() in TRACKING_CATEGORIES]
    return all(values) if values else None


@dataclass(frozen=True)
class Ingested:
    """The outcome of each request, and what is still to be announced of them."""

    requests: list[IngestRequest]
    outcomes: list[IngestOutcome]
    stored: list[EventDraft]


def events_ingest(*, requests: list[IngestRequest]) -> Ingested:
    """Store the events of several requests in one transaction, leaving out (and counting)
    those of people who may not be tracked or were erased. Call `ingested_announce` with the
    result once the transaction has committed."""
    drafts = [draft for request in requests for draft in request.drafts]
    by_user, by_anonymous = customer_ids_by_identity(
        user_ids=[d.user_id for d in drafts], anonymous_ids=[d.anonymous_id for d in drafts]
    )
    erased = erased_among(user_ids=[d.user_id for d in drafts], anonymous_ids=[d.anonymous_id for d in drafts])
    kept_per_request: list[list[EventDraft]] = []
    questions, behavior = [], []
    for request in requests:
        kept = []
        for draft in request.drafts:
            if draft.user_id in erased or draft.anonymous_id in erased:
                continue
            customer_id = by_user.get(draft.user_id) or by_anonymous.get(draft.anonymous_id)
            draft = replace(draft, customer_id=customer_id)
            kept.append(draft)
            if draft.type not in NOT_BEHAVIOR:
                behavior.append(draft)
                questions.append(
                    TrackingQuestion(
                        customer_id=customer_id,
                        gpc=request.gpc,
                        event_says=event_consent(draft.context),
                        asked_upstream=request.asked_upstream,
                    )
                )
        kept_per_request.append(kept)
    refused = {id(d) for d, allowed in zip(behavior, can_track_many(questions), strict=True) if not allowed}
    allowed_per_request = [[d for d in kept if id(d) not in refused] for kept in kept_per_request]

    with transaction.atomic():
        result = events_store(drafts=[d for allowed in allowed_per_request for d in allowed])
        _honor_gpc(requests, by_user)
    outcomes = _outcomes(requests, allowed_per_request, result.new_message_ids)
    stored = [d for allowed in allowed_per_request for d in allowed if d.message_id in result.new_message_ids]
    return Ingested(requests=requests, outcomes=outcomes, stored=stored)


def _honor_gpc(requests: list[IngestRequest], by_user: dict[str, int]) -> None:
    """A GPC signal opts the profile its request names out of tracking, on the ledger."""
    for request in requests:
        if request.gpc:
            for customer_id in {by_user[d.user_id] for d in request.drafts if d.user_id in by_user}:
                tracking_stop_for_gpc(customer=customer_find(customer_id=customer_id), proof=request.proof)


def _outcomes(requests, allowed_per_request, new_ids: frozenset[str]) -> list[IngestOutcome]:
    unclaimed = set(new_ids)  # a message id repeated across requests counts as stored once
    outcomes = []
    for request, allowed in zip(requests, allowed_per_request, strict=True):
        stored = 0
        for draft in allowed:
            if draft.message_id in unclaimed:
                unclaimed.discard(draft.message_id)
                stored += 1
        outcomes.append(
            IngestOutcome(
                stored=stored,
                duplicates=len(allowed) - stored,
                not_consented=len(request.drafts) - len(allowed),
            )
        )
    return outcomes


def ingested_announce(ingested: Ingested) -> None:
    """Tell others of committed events: per-source counts, the worker, the live view."""
    counts: dict[int, Counter] = {}
    for request, outcome in zip(ingested.requests, ingested.outcomes, strict=True):
        counts.setdefault(request.source_id, Counter()).update(
            stored=outcome.stored, duplicate=outcome.duplicates, not_consented=outcome.not_consented
        )
    # The events are committed: what follows is bookkeeping in Redis, which must not
    # turn a stored event into an error reply (the retry would only be a duplicate).
    _best_effort(source_counts_add, counts=counts)
    if ingested.stored:
        _best_effort(events_processing_schedule)  # the beat schedule catches up if this is lost
        _best_effort(live_events_publish, ingested.stored)


def _best_effort(action, *args, **kwargs) -> None:
    try:
        action(*args, **kwargs)
    except Exception:
        logger.exception("After storing events, %s failed", action.__name__)


def events_processing_schedule() -> None:
    """Ask a worker to process new events soon: at most one queued task, however many requests.
    The task clears the flag as it starts, so events stored after that schedule the next run."""
    from tracking.tasks import events_process_task  # tasks import the services

    if cache.add(PROCESSING_FLAG, 1, timeout=10):
        events_process_task.apply_async(countdown=0.2)
