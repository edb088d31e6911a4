"""What the HTTP endpoints and the WebSocket stream share: who is sending (the
write key's source), turning a body into accepted calls, throttling, and the
durable write."""

import time
from collections import Counter
from dataclasses import dataclass

import orjson
from asgiref.sync import sync_to_async
from django.utils import timezone

from core.errors import ServiceUnavailable
from tracking.ingest.segment import CallRefused, flat_event_parse, segment_batch_parse, segment_call_parse
from tracking.ingest.throttle import events_throttled
from tracking.ingest.writer import database_or_unavailable, writer
from tracking.models import ConsentMode
from tracking.selectors import source_for_write_key
from tracking.services import EventDraft, IngestOutcome, IngestRequest, source_counts_add

MAX_EVENT_BYTES = 32 * 1024
SOURCE_CACHE_SECONDS = 30
SOURCE_CACHE_SIZE = 1000  # keys remembered, known or not: random keys must not grow memory


class Refusal(Exception):
    """The request is refused as a whole: an HTTP status, a code and words that say what to fix."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    def as_dict(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "details": {}}}


@dataclass(frozen=True)
class SourceInfo:
    id: int
    asked_upstream: bool
    events_per_second: int
    allowed_origins: tuple[str, ...]


_sources: dict[str, tuple[SourceInfo | None, float]] = {}


async def source_authenticate(write_key: str) -> SourceInfo:
    """The source a write key belongs to (cached in this process for 30 s), or 401."""
    cached = _sources.get(write_key)
    if cached is None or cached[1] < time.monotonic():
        try:
            info = await sync_to_async(_source_lookup, thread_sensitive=True)(write_key)
        except ServiceUnavailable as unavailable:
            raise Refusal(503, "unavailable", unavailable.message, {"retry-after": "1"}) from None
        if len(_sources) >= SOURCE_CACHE_SIZE:
            _sources.pop(next(iter(_sources)))  # the oldest entry (dicts keep insertion order)
        _sources.pop(write_key, None)
        cached = _sources[write_key] = (info, time.monotonic() + SOURCE_CACHE_SECONDS)
    if cached[0] is None:
        raise Refusal(
            401,
            "unauthenticated",
            "Unknown or inactive write key: send it as the HTTP Basic username (empty password) "
            "or as writeKey in the body.",
            {"www-authenticate": "Basic"},
        )
    return cached[0]


def origin_check(source: SourceInfo, origin: str | None) -> None:
    """A write key is public, so a source can name the sites that may use it from a
    browser; requests with no Origin (servers, SDKs) are not browsers and pass."""
    if origin and "*" not in source.allowed_origins and origin not in source.allowed_origins:
        raise Refusal(
            403, "forbidden_origin",
            f"This write key may not be used from {origin}: add the origin to the source's allowed origins.",
        )  # fmt: skip


def _source_lookup(write_key: str) -> SourceInfo | None:
    with database_or_unavailable():
        source = source_for_write_key(write_key=write_key)
    if source is None:
        return None
    origins = tuple(o.strip() for o in source.allowed_origins.split() if o.strip())
    return SourceInfo(source.pk, source.consent_mode == ConsentMode.UPSTREAM, source.events_per_second, origins)


def json_object(body: bytes | str) -> dict:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Refusal(400, "invalid", f"The body is not valid JSON: {exc}.") from None
    if not isinstance(payload, dict):
        raise Refusal(400, "invalid", "The body must be a JSON object.")
    return payload


def single_call(kind: str, payload: dict, source: SourceInfo) -> EventDraft:
    """One call: `kind` is a Segment call type, or "flat" for the flat form."""
    received_at = timezone.now()
    try:
        if kind == "flat":
            return flat_event_parse(payload, received_at=received_at, source_id=source.id)
        return segment_call_parse(payload, call_type=kind, received_at=received_at, source_id=source.id)
    except CallRefused as refusal:
        raise Refusal(400, "invalid", str(refusal)) from None


def batch_calls(payload: dict, source: SourceInfo, *, body_size: int):
    """A batch: accepted drafts with their index, and refused indexes with reasons."""
    try:
        return segment_batch_parse(
            payload,
            received_at=timezone.now(),
            source_id=source.id,
            # Only a body larger than the event limit can hold an event over it.
            too_big=lambda call: body_size > MAX_EVENT_BYTES and len(orjson.dumps(call)) > MAX_EVENT_BYTES,
        )
    except CallRefused as refusal:
        raise Refusal(400, "invalid", str(refusal)) from None


async def refusals_count(*, source: SourceInfo, refused: int) -> None:
    """Count calls a known source sent that were refused (they are not stored)."""
    if refused:
        await sync_to_async(source_counts_add, thread_sensitive=False)(counts={source.id: Counter(refused=refused)})


async def events_write(*, source: SourceInfo, drafts: list[EventDraft], calls: int, gpc: bool, proof: dict):
    """Throttle, then write durably; IngestOutcome, or Refusal 429 / 503."""
    retry_after = await events_throttled(source_id=source.id, limit=source.events_per_second, events=calls)
    if retry_after:
        raise Refusal(
            429,
            "throttled",
            f"More than {source.events_per_second} events a second for this key; retry shortly.",
            {"retry-after": str(retry_after)},
        )
    if not drafts:
        return IngestOutcome()
    request = IngestRequest(
        source_id=source.id, asked_upstream=source.asked_upstream, drafts=drafts, gpc=gpc, proof=proof
    )
    try:
        return await writer().write(request)
    except ServiceUnavailable as unavailable:
        raise Refusal(503, "unavailable", unavailable.message, {"retry-after": "1"}) from None
