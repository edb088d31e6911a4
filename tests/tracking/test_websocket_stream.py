"""The WebSocket event stream (/ws/track?writeKey=KEY): one event a message, each
acknowledged once it is stored, on a connection that survives bad messages."""

import orjson
import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from tracking.consumers import CLOSE_UNAUTHENTICATED, TrackConsumer
from tracking.models import Event, EventType, Source

# Channels closes "old" database connections around each message it dispatches, which would
# close the connection holding a test transaction: these tests commit for real.
pytestmark = pytest.mark.django_db(transaction=True)

KB = 1024


@pytest.fixture
def source(db) -> Source:
    return Source.objects.create(name="Shop", consent_mode="upstream")


def connect(write_key: str) -> tuple[bool, int | str | None]:
    """(accepted, close code or subprotocol) of a connection attempt."""

    async def attempt():
        communicator = WebsocketCommunicator(TrackConsumer.as_asgi(), f"/ws/track?writeKey={write_key}")
        accepted, detail = await communicator.connect(timeout=10)
        if accepted:
            await communicator.disconnect()
        return accepted, detail

    return async_to_sync(attempt)()


def stream(write_key: str, *messages) -> list[dict]:
    """Send each message on one connection, in order, and return the replies, one per message."""

    async def talk():
        communicator = WebsocketCommunicator(TrackConsumer.as_asgi(), f"/ws/track?writeKey={write_key}")
        accepted, _ = await communicator.connect(timeout=10)
        assert accepted
        replies = []
        for message in messages:
            await communicator.send_to(
                text_data=message if isinstance(message, str) else orjson.dumps(message).decode()
            )
            replies.append(orjson.loads(await communicator.receive_from(timeout=10)))
        await communicator.disconnect()
        return replies

    return async_to_sync(talk)()


def track(message_id: str = "m-1", **fields) -> dict:
    return {"type": "track", "event": "Product Viewed", "userId": "shop-ada", "messageId": message_id, **fields}


def sent_events():
    """The events sent and stored (processing may add Tailor's own segment events)."""
    return Event.objects.exclude(type__in=[EventType.SEGMENT_ENTERED, EventType.SEGMENT_EXITED])


def stored_ids() -> set[str]:
    return set(sent_events().values_list("message_id", flat=True))


def test_a_connection_with_a_valid_write_key_is_accepted(source):
    assert connect(source.write_key)[0] is True


def test_a_connection_with_an_unknown_write_key_is_closed_with_4401(source):
    assert connect("wk_not-a-key") == (False, CLOSE_UNAUTHENTICATED)
    assert CLOSE_UNAUTHENTICATED == 4401


def test_a_connection_with_the_key_of_an_inactive_source_is_closed_with_4401(db):
    inactive = Source.objects.create(name="Old shop", is_active=False)
    assert connect(inactive.write_key) == (False, 4401)


def test_each_message_is_acknowledged_with_its_message_id_and_stored(source):
    replies = stream(source.write_key, track("m-1"), track("m-2", properties={"product_id": "SKU-1"}))
    assert replies == [{"success": True, "messageId": "m-1"}, {"success": True, "messageId": "m-2"}]
    assert stored_ids() == {"m-1", "m-2"}
    assert Event.objects.get(message_id="m-2").product_id == "SKU-1"


def test_a_message_without_a_type_is_a_track_call(source):
    call = {"event": "Order Completed", "userId": "shop-ada", "messageId": "m-1"}
    assert stream(source.write_key, call) == [{"success": True, "messageId": "m-1"}]
    assert sent_events().get().type == "Order Completed"


def test_other_segment_calls_are_named_by_their_type(source):
    call = {"type": "identify", "userId": "shop-ada", "messageId": "m-1", "traits": {"first_name": "Ada"}}
    assert stream(source.write_key, call) == [{"success": True, "messageId": "m-1"}]
    assert sent_events().get().type == "Identify"


def test_a_flat_form_message_is_stored_under_its_spec_name(source):
    message = {"userId": "shop-ada", "eventType": "add_to_cart", "productId": "SKU-1", "messageId": "m-1"}
    assert stream(source.write_key, message) == [{"success": True, "messageId": "m-1"}]
    event = sent_events().get()
    assert (event.type, event.product_id) == ("Product Added", "SKU-1")


def test_a_flat_form_message_without_a_message_id_is_acknowledged_with_the_derived_one(source):
    [reply] = stream(source.write_key, {"userId": "shop-ada", "eventType": "purchase"})
    assert reply["success"] is True
    assert reply["messageId"].startswith("derived-flat-")
    assert stored_ids() == {reply["messageId"]}


def test_a_bad_message_is_refused_with_its_reason_and_the_connection_stays_open(source):
    replies = stream(source.write_key, track("m-1", properties="SKU-1"), track("m-2"))
    assert replies[0] == {
        "success": False,
        "status": 400,
        "error": {"code": "invalid", "message": "properties must be a JSON object.", "details": {}},
    }
    assert replies[1] == {"success": True, "messageId": "m-2"}
    assert stored_ids() == {"m-2"}


def test_a_message_that_is_not_json_is_refused_and_the_connection_stays_open(source):
    replies = stream(source.write_key, "{not json", track("m-2"))
    assert (replies[0]["success"], replies[0]["status"], replies[0]["error"]["code"]) == (False, 400, "invalid")
    assert replies[1] == {"success": True, "messageId": "m-2"}


def test_a_message_over_32_kb_is_refused_with_413_and_not_stored(source):
    replies = stream(source.write_key, track("m-1", properties={"note": "x" * (33 * KB)}), track("m-2"))
    assert (replies[0]["success"], replies[0]["status"]) == (False, 413)
    assert replies[0]["error"]["message"] == "An event may be at most 32 KB."
    assert replies[1]["success"] is True
    assert stored_ids() == {"m-2"}


def test_a_repeated_message_id_is_acknowledged_each_time_and_stored_once(source):
    replies = stream(source.write_key, track("m-1"), track("m-1", event="Order Completed"))
    assert replies == [{"success": True, "messageId": "m-1"}] * 2
    assert list(sent_events().values_list("message_id", "type")) == [("m-1", "Product Viewed")]


def test_messages_over_the_sources_per_second_limit_are_refused_with_429_and_a_retry_delay(db):
    source = Source.objects.create(name="Small shop", consent_mode="upstream", events_per_second=1)
    replies = stream(source.write_key, *[track(f"m-{n}") for n in range(1, 4)])
    throttled = [reply for reply in replies if not reply["success"]]
    assert throttled
    assert {(reply["status"], reply["retryAfter"]) for reply in throttled} == {(429, 1)}
