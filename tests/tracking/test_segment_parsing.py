"""Segment's HTTP Tracking API calls and Tailor's flat form, turned into EventDrafts.

These are pure functions: no database, no network. Every refusal is a sentence that
tells the sender what to change."""

from datetime import UTC, datetime, timedelta

import pytest

from tracking.ingest.segment import CallRefused, flat_event_parse, segment_batch_parse, segment_call_parse
from tracking.models import EventType

RECEIVED = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SOURCE = 7


def parse(call: dict, call_type: str = "track", received_at: datetime = RECEIVED):
    return segment_call_parse(call, call_type=call_type, received_at=received_at, source_id=SOURCE)


def flat(payload: dict, received_at: datetime = RECEIVED):
    return flat_event_parse(payload, received_at=received_at, source_id=SOURCE)


def batch(payload: dict):
    return segment_batch_parse(payload, received_at=RECEIVED, source_id=SOURCE, too_big=lambda call: False)


def refusal(call, call_type: str = "track") -> str:
    with pytest.raises(CallRefused) as refused:
        parse(call, call_type)
    return str(refused.value)


def track(**fields) -> dict:
    return {"event": "Product Viewed", "userId": "shop-ada", "messageId": "m-1", **fields}


# --- each call type -----------------------------------------------------------------


def test_a_track_call_keeps_its_name_and_properties_and_names_its_product_by_sku():
    draft = parse(track(properties={"product_id": "SKU-1", "price": 49.9}, context={"ip": "203.0.113.9"}))
    assert draft.type == "Product Viewed"
    assert draft.product_sku == "SKU-1"
    assert draft.properties == {"product_id": "SKU-1", "price": 49.9}
    assert draft.context == {"ip": "203.0.113.9"}
    assert (draft.message_id, draft.user_id, draft.source_id) == ("m-1", "shop-ada", SOURCE)


def test_a_numeric_product_id_becomes_a_text_sku():
    assert parse(track(properties={"product_id": 1234})).product_sku == "1234"


def test_an_identify_call_stores_its_traits_as_properties():
    draft = parse({"userId": "shop-ada", "messageId": "m-1", "traits": {"email": "ada@example.com"}}, "identify")
    assert draft.type == EventType.IDENTIFY
    assert draft.properties == {"email": "ada@example.com"}


def test_an_identify_call_takes_traits_from_its_context_when_it_has_none_of_its_own():
    call = {"userId": "shop-ada", "messageId": "m-1", "context": {"traits": {"first_name": "Ada"}}}
    assert parse(call, "identify").properties == {"first_name": "Ada"}


def test_a_page_call_is_a_page_viewed_event_with_the_page_name():
    call = {"anonymousId": "anon-1", "messageId": "m-1", "name": "Home", "properties": {"url": "https://shop/"}}
    draft = parse(call, "page")
    assert draft.type == "Page Viewed"
    assert draft.properties == {"url": "https://shop/", "name": "Home"}


def test_a_screen_call_is_a_screen_viewed_event_with_the_screen_name():
    draft = parse({"anonymousId": "anon-1", "messageId": "m-1", "name": "Cart"}, "screen")
    assert (draft.type, draft.properties) == ("Screen Viewed", {"name": "Cart"})


def test_an_alias_call_links_the_previous_id_to_the_user_id():
    draft = parse({"userId": "shop-ada", "previousId": "anon-1", "messageId": "m-1"}, "alias")
    assert draft.type == EventType.ALIAS
    assert (draft.user_id, draft.properties) == ("shop-ada", {"previousId": "anon-1"})


def test_an_alias_call_without_a_previous_id_is_refused():
    assert refusal({"userId": "shop-ada", "messageId": "m-1"}, "alias") == "previousId is missing."


def test_an_alias_call_without_a_user_id_is_refused():
    reason = refusal({"anonymousId": "anon-2", "previousId": "anon-1", "messageId": "m-1"}, "alias")
    assert reason == "An alias call needs userId (the new id) and previousId (the old one)."


def test_a_group_call_keeps_the_group_id_and_its_traits():
    call = {"userId": "shop-ada", "messageId": "m-1", "groupId": "acme", "traits": {"plan": "pro"}}
    draft = parse(call, "group")
    assert (draft.type, draft.properties) == ("Group", {"groupId": "acme", "plan": "pro"})


def test_the_call_type_of_each_call_in_a_batch_comes_from_its_type_field():
    parsed = batch(
        {
            "batch": [
                {"type": "track", **track(messageId="m-1")},
                {"type": "identify", "userId": "shop-ada", "messageId": "m-2", "traits": {}},
                {"type": "page", "anonymousId": "anon-1", "messageId": "m-3"},
            ]
        }
    )
    assert [(index, draft.type) for index, draft in parsed.drafts] == [
        (0, "Product Viewed"),
        (1, "Identify"),
        (2, "Page Viewed"),
    ]
    assert parsed.refused == []


# --- when it happened -----------------------------------------------------------------


def test_an_event_without_a_timestamp_happened_when_it_was_received():
    assert parse(track()).occurred_at == RECEIVED


def test_the_device_clock_skew_is_removed_using_sent_at():
    # The device's clock is 30 s fast: it sent at 12:00:30 by its clock, we received at 12:00:00.
    draft = parse(track(timestamp="2026-05-01T11:59:50Z", sentAt="2026-05-01T12:00:30Z"))
    assert draft.occurred_at == datetime(2026, 5, 1, 11, 59, 20, tzinfo=UTC)


def test_a_slow_device_clock_is_corrected_forwards():
    draft = parse(track(timestamp="2026-05-01T11:00:00Z", sentAt="2026-05-01T11:00:10Z"))
    assert draft.occurred_at == RECEIVED - timedelta(seconds=10)


def test_the_sent_at_of_a_batch_corrects_every_call_in_it():
    parsed = batch(
        {
            "sentAt": "2026-05-01T12:01:00Z",
            "batch": [{"type": "track", **track(messageId=f"m-{n}", timestamp="2026-05-01T12:00:50Z")} for n in (1, 2)],
        }
    )
    assert [draft.occurred_at for _, draft in parsed.drafts] == [RECEIVED - timedelta(seconds=10)] * 2


def test_a_calls_own_sent_at_wins_over_the_batch_sent_at():
    parsed = batch(
        {
            "sentAt": "2026-05-01T13:00:00Z",
            "batch": [{"type": "track", **track(timestamp="2026-05-01T11:59:00Z", sentAt="2026-05-01T12:00:00Z")}],
        }
    )
    [(_, draft)] = parsed.drafts
    assert draft.occurred_at == datetime(2026, 5, 1, 11, 59, tzinfo=UTC)


def test_original_timestamp_is_used_when_there_is_no_timestamp():
    draft = parse(track(originalTimestamp="2026-05-01T11:30:00Z", sentAt="2026-05-01T11:45:00Z"))
    assert draft.occurred_at == datetime(2026, 5, 1, 11, 45, tzinfo=UTC)


def test_a_timestamp_without_a_zone_is_read_as_utc():
    assert parse(track(timestamp="2026-05-01T10:00:00")).occurred_at == datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def test_a_timestamp_in_the_future_is_brought_back_to_the_moment_it_was_received():
    assert parse(track(timestamp="2026-05-02T12:00:00Z")).occurred_at == RECEIVED


def test_a_skew_correction_never_moves_an_event_into_the_future():
    # A device that claims to have sent before the event happened.
    draft = parse(track(timestamp="2026-05-01T11:59:00Z", sentAt="2026-05-01T11:00:00Z"))
    assert draft.occurred_at == RECEIVED


def test_a_skew_correction_that_leaves_the_calendar_is_refused_not_a_crash():
    with pytest.raises(CallRefused):
        parse(track(timestamp="0001-01-01T00:00:00Z", sentAt="9999-12-31T00:00:00Z"))


# --- message ids ----------------------------------------------------------------------


def without_message_id(**fields) -> dict:
    call = track(**fields)
    del call["messageId"]
    return call


def test_a_call_without_a_message_id_gets_a_derived_one():
    message_id = parse(without_message_id()).message_id
    assert message_id.startswith("derived-track-")
    assert len(message_id) <= 100


def test_a_retried_identical_call_without_a_message_id_gets_the_same_id():
    first = parse(without_message_id(timestamp="2026-05-01T11:00:00Z"))
    retried = parse(without_message_id(timestamp="2026-05-01T11:00:00Z"), received_at=RECEIVED + timedelta(minutes=5))
    assert first.message_id == retried.message_id


def test_another_call_without_a_message_id_gets_another_id():
    first = parse(without_message_id(timestamp="2026-05-01T11:00:00Z"))
    other = parse(without_message_id(timestamp="2026-05-01T11:00:01Z"))
    assert first.message_id != other.message_id


def test_a_flat_event_without_a_message_id_gets_a_derived_id_stable_across_retries():
    payload = {"userId": "shop-ada", "eventType": "purchase", "timestamp": 1767225600000}
    first, retried = flat(payload), flat(dict(payload), received_at=RECEIVED + timedelta(minutes=5))
    assert first.message_id == retried.message_id
    assert first.message_id != flat({**payload, "productId": "SKU-1"}).message_id


# --- the flat form --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "stored_as"),
    [
        ("add_to_cart", "Product Added"),
        ("purchase", "Order Completed"),
        ("product_viewed", "Product Viewed"),
        ("Add-To-Cart", "Product Added"),
        ("Product Added to Wishlist", "Product Added to Wishlist"),
        ("Checkout Step Viewed", "Checkout Step Viewed"),
    ],
)
def test_a_flat_event_type_is_stored_under_its_e_commerce_spec_name(name, stored_as):
    assert flat({"userId": "shop-ada", "eventType": name}).type == stored_as


def test_a_flat_event_names_its_product_by_sku_and_in_its_properties():
    draft = flat({"userId": "shop-ada", "eventType": "add_to_cart", "productId": "SKU-1", "properties": {"qty": 2}})
    assert draft.product_sku == "SKU-1"
    assert draft.properties == {"qty": 2, "product_id": "SKU-1"}


def test_a_flat_timestamp_is_in_milliseconds_since_1970():
    draft = flat({"userId": "shop-ada", "eventType": "purchase", "timestamp": 1767225600000})
    assert draft.occurred_at == datetime(2026, 1, 1, tzinfo=UTC)


def test_a_flat_timestamp_in_the_future_is_brought_back_to_the_moment_it_was_received():
    later = int((RECEIVED + timedelta(hours=1)).timestamp() * 1000)
    assert flat({"userId": "shop-ada", "eventType": "purchase", "timestamp": later}).occurred_at == RECEIVED


def test_a_flat_timestamp_given_as_text_is_refused_with_an_example():
    with pytest.raises(CallRefused) as refused:
        flat({"userId": "shop-ada", "eventType": "purchase", "timestamp": "2026-01-01T00:00:00Z"})
    assert str(refused.value) == "timestamp must be a number of milliseconds since 1970 (e.g. 1767225600000)."


def test_a_flat_timestamp_out_of_any_calendar_is_refused_not_a_crash():
    with pytest.raises(CallRefused):
        flat({"userId": "shop-ada", "eventType": "purchase", "timestamp": 10**20})


def test_an_unknown_flat_event_type_is_refused_naming_the_allowed_ones():
    with pytest.raises(CallRefused) as refused:
        flat({"userId": "shop-ada", "eventType": "wiggle"})
    reason = str(refused.value)
    assert reason.startswith("Unknown eventType 'wiggle': use an E-commerce spec name such as 'Product Viewed'")
    assert all(name in reason for name in ("add_to_cart", "purchase", "product_viewed", "search"))
    assert reason.endswith("send custom events to /v1/track.")


def test_a_flat_event_without_an_event_type_is_refused():
    with pytest.raises(CallRefused) as refused:
        flat({"userId": "shop-ada"})
    assert str(refused.value) == "eventType is missing."


# --- refusals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "call_type", "reason"),
    [
        (["not", "an", "object"], "track", "Each call must be a JSON object."),
        (track(), "purchase", "Unknown call type 'purchase': use one of track, identify, page, screen, alias, group."),
        (track(event=None), "track", "event is missing."),
        (
            track(timestamp="yesterday"),
            "track",
            "timestamp 'yesterday' is not an ISO 8601 time such as 2026-05-01T12:00:00Z.",
        ),
        (track(timestamp=1767225600), "track", "timestamp must be an ISO 8601 string such as 2026-05-01T12:00:00Z."),
        (
            track(timestamp="2026-05-01T11:00:00Z", sentAt="soon"),
            "track",
            "sentAt 'soon' is not an ISO 8601 time such as 2026-05-01T12:00:00Z.",
        ),
        (track(properties=["SKU-1"]), "track", "properties must be a JSON object."),
        (track(context="web"), "track", "context must be a JSON object."),
        (track(userId={"id": 1}), "track", "userId must be a string."),
        (track(userId=True), "track", "userId must be a string."),
        (track(userId=None), "track", "The event names nobody: give a userId or an anonymousId."),
    ],
    ids=[
        "not an object",
        "unknown call type",
        "missing event",
        "bad timestamp string",
        "timestamp not a string",
        "bad sentAt",
        "properties not an object",
        "context not an object",
        "userId an object",
        "userId a boolean",
        "nobody named",
    ],
)
def test_a_refused_call_says_why_in_a_sentence(call, call_type, reason):
    assert refusal(call, call_type) == reason


def test_a_refused_call_in_a_batch_is_reported_by_index_and_the_others_are_kept():
    parsed = batch(
        {
            "batch": [
                {"type": "track", **track(messageId="m-1")},
                "not a call",
                {"type": "purchase", **track(messageId="m-3")},
                {"type": "track", **track(messageId="m-4", properties=[])},
                {"type": "track", **track(messageId="m-5")},
            ]
        }
    )
    assert [index for index, _ in parsed.drafts] == [0, 4]
    assert parsed.refused == [
        (1, "Each call must be a JSON object."),
        (2, "Unknown call type 'purchase': use one of track, identify, page, screen, alias, group."),
        (3, "properties must be a JSON object."),
    ]


def test_a_batch_call_the_size_check_finds_too_big_is_refused_by_index():
    parsed = segment_batch_parse(
        {"batch": [{"type": "track", **track(messageId="m-1")}, {"type": "track", **track(messageId="m-2")}]},
        received_at=RECEIVED,
        source_id=SOURCE,
        too_big=lambda call: call["messageId"] == "m-2",
    )
    assert [index for index, _ in parsed.drafts] == [0]
    assert parsed.refused == [(1, "The event is larger than 32 KB.")]


def test_a_batch_body_without_a_list_of_calls_is_refused_showing_the_expected_shape():
    with pytest.raises(CallRefused) as refused:
        batch({"batch": {"type": "track"}})
    assert str(refused.value) == 'The body must be {"batch": [call, ...]}.'
