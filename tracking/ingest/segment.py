"""Segment's HTTP Tracking API (and Tailor's flat /track form) turned into EventDrafts.

https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/
Event names follow the E-commerce spec v2; the flat form's short names are
mapped onto them. Every reason a call is refused says what to change.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from tracking.models import EventType
from tracking.services import EventDraft, event_draft_problem

# The flat form's event names, and a few spellings shops use, on E-commerce spec names.
FLAT_EVENT_TYPES = {
    "product_viewed": EventType.PRODUCT_VIEWED,
    "view": EventType.PRODUCT_VIEWED,
    "product_view": EventType.PRODUCT_VIEWED,
    "add_to_cart": EventType.PRODUCT_ADDED,
    "product_added": EventType.PRODUCT_ADDED,
    "cart_add": EventType.PRODUCT_ADDED,
    "remove_from_cart": EventType.PRODUCT_REMOVED,
    "product_removed": EventType.PRODUCT_REMOVED,
    "purchase": EventType.ORDER_COMPLETED,
    "order_completed": EventType.ORDER_COMPLETED,
    "order": EventType.ORDER_COMPLETED,
    "checkout": EventType.CHECKOUT_STARTED,
    "checkout_started": EventType.CHECKOUT_STARTED,
    "begin_checkout": EventType.CHECKOUT_STARTED,
    "add_to_wishlist": EventType.PRODUCT_ADDED_TO_WISHLIST,
    "search": EventType.PRODUCTS_SEARCHED,
    "product_list_viewed": EventType.PRODUCT_LIST_VIEWED,
    "cart_viewed": EventType.CART_VIEWED,
    "page_view": EventType.PAGE_VIEWED,
    "page_viewed": EventType.PAGE_VIEWED,
}
CALL_TYPES = ("track", "identify", "page", "screen", "alias", "group")
# Clock-skew correction can move a timestamp, but never into the future.
MAX_FUTURE = timedelta(seconds=0)


class CallRefused(ValueError):
    """One call cannot be accepted; the message says why."""


@dataclass(frozen=True)
class ParsedBatch:
    drafts: list[tuple[int, EventDraft]]  # (index in the request, draft)
    refused: list[tuple[int, str]]  # (index, reason)


def _text(value, name: str, *, required: bool = False) -> str:
    if value is None or value == "":
        if required:
            raise CallRefused(f"{name} is missing.")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise CallRefused(f"{name} must be a string.")
    return str(value)


def _object(value, name: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CallRefused(f"{name} must be a JSON object.")
    return value


def _time(value, name: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise CallRefused(f"{name} must be an ISO 8601 string such as 2026-05-01T12:00:00Z.")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CallRefused(f"{name} {value!r} is not an ISO 8601 time such as 2026-05-01T12:00:00Z.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def occurred_at(call: dict, *, received_at: datetime, batch_sent_at: datetime | None = None) -> datetime:
    """When it happened, with the device's clock skew removed as Segment does:
    the device's time plus the gap between our clock and the device's at sending."""
    moment = _time(call.get("timestamp"), "timestamp") or _time(call.get("originalTimestamp"), "originalTimestamp")
    if moment is None:
        return received_at
    sent_at = _time(call.get("sentAt"), "sentAt") or batch_sent_at
    if sent_at is not None:
        try:
            moment += received_at - sent_at
        except OverflowError:
            raise CallRefused("timestamp and sentAt are too far apart to correct the clock; check both.") from None
    return min(moment, received_at + MAX_FUTURE)


def _message_id(call: dict, call_type: str, identity: str) -> str:
    given = _text(call.get("messageId"), "messageId")
    if given:
        return given
    # No id: derive one from the content, so that a retried identical call is stored once.
    digest = hashlib.sha256(orjson.dumps(call, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
    return f"derived-{call_type}-{identity[:20]}-{digest}"


def _product_sku(properties: dict) -> str:
    sku = properties.get("product_id") or properties.get("sku") or ""
    return sku if isinstance(sku, str) else str(sku) if isinstance(sku, int) else ""


def segment_call_parse(
    call: dict, *, call_type: str, received_at: datetime, source_id: int, batch_sent_at: datetime | None = None
) -> EventDraft:
    """One Segment call (track, identify, page, screen, alias, group) as an EventDraft."""
    if not isinstance(call, dict):
        raise CallRefused("Each call must be a JSON object.")
    if call_type not in CALL_TYPES:
        raise CallRefused(f"Unknown call type {call_type!r}: use one of {', '.join(CALL_TYPES)}.")
    user_id = _text(call.get("userId"), "userId")
    anonymous_id = _text(call.get("anonymousId"), "anonymousId")
    context = _object(call.get("context"), "context")
    properties = _object(call.get("properties"), "properties")
    if call_type == "track":
        event_type = _text(call.get("event"), "event", required=True)
    elif call_type == "identify":
        event_type, properties = EventType.IDENTIFY, _object(call.get("traits"), "traits") or context.get("traits", {})
    elif call_type in ("page", "screen"):
        event_type = EventType.PAGE_VIEWED if call_type == "page" else "Screen Viewed"
        name = _text(call.get("name"), "name")
        properties = {**properties, **({"name": name} if name else {})}
    elif call_type == "alias":
        event_type = EventType.ALIAS
        properties = {"previousId": _text(call.get("previousId"), "previousId", required=True)}
        if not user_id:
            raise CallRefused("An alias call needs userId (the new id) and previousId (the old one).")
    else:
        event_type = "Group"
        properties = {"groupId": _text(call.get("groupId"), "groupId"), **_object(call.get("traits"), "traits")}
    draft = EventDraft(
        message_id=_message_id(call, call_type, user_id or anonymous_id),
        type=event_type,
        occurred_at=occurred_at(call, received_at=received_at, batch_sent_at=batch_sent_at),
        user_id=user_id,
        anonymous_id=anonymous_id,
        product_sku=_product_sku(properties),
        source_id=source_id,
        properties=properties,
        context=context,
    )
    if problem := event_draft_problem(draft):
        raise CallRefused(problem)
    return draft


def segment_batch_parse(
    payload: dict, *, received_at: datetime, source_id: int, too_big: Callable[[dict], bool]
) -> ParsedBatch:
    """A /v1/batch body: each call is accepted or refused on its own, by index."""
    calls = payload.get("batch")
    if not isinstance(calls, list):
        raise CallRefused('The body must be {"batch": [call, ...]}.')
    batch_sent_at = _time(payload.get("sentAt"), "sentAt")
    drafts, refused = [], []
    for index, call in enumerate(calls):
        try:
            if isinstance(call, dict) and too_big(call):
                raise CallRefused("The event is larger than 32 KB.")
            call_type = call.get("type", "") if isinstance(call, dict) else ""
            drafts.append(
                (
                    index,
                    segment_call_parse(
                        call,
                        call_type=call_type,
                        received_at=received_at,
                        source_id=source_id,
                        batch_sent_at=batch_sent_at,
                    ),
                )
            )
        except CallRefused as refusal:
            refused.append((index, str(refusal)))
    return ParsedBatch(drafts=drafts, refused=refused)


def flat_event_parse(payload: dict, *, received_at: datetime, source_id: int) -> EventDraft:
    """The flat form: {"userId", "eventType", "productId", "timestamp" (epoch milliseconds)}."""
    if not isinstance(payload, dict):
        raise CallRefused("The body must be a JSON object.")
    name = _text(payload.get("eventType"), "eventType", required=True)
    event_type = FLAT_EVENT_TYPES.get(name.strip().lower().replace(" ", "_").replace("-", "_"))
    if event_type is None and name in EventType.values:
        event_type = name
    if event_type is None:
        raise CallRefused(
            f"Unknown eventType {name!r}: use an E-commerce spec name such as 'Product Viewed' or one of "
            f"{', '.join(sorted(FLAT_EVENT_TYPES))}; send custom events to /v1/track."
        )
    stamp = payload.get("timestamp")
    if stamp is None:
        moment = received_at
    elif isinstance(stamp, int | float) and not isinstance(stamp, bool):
        try:
            moment = min(datetime.fromtimestamp(stamp / 1000, tz=UTC), received_at)
        except (OverflowError, OSError, ValueError):
            raise CallRefused(f"timestamp {stamp} is not a time: give milliseconds since 1970.") from None
    else:
        raise CallRefused("timestamp must be a number of milliseconds since 1970 (e.g. 1767225600000).")
    user_id = _text(payload.get("userId"), "userId")
    anonymous_id = _text(payload.get("anonymousId"), "anonymousId")
    product = _text(payload.get("productId"), "productId")
    properties = {**_object(payload.get("properties"), "properties"), **({"product_id": product} if product else {})}
    draft = EventDraft(
        message_id=_message_id(payload, "flat", user_id or anonymous_id),
        type=event_type,
        occurred_at=moment,
        user_id=user_id,
        anonymous_id=anonymous_id,
        product_sku=product,
        source_id=source_id,
        properties=properties,
    )
    if problem := event_draft_problem(draft):
        raise CallRefused(problem)
    return draft
