"""The HTTP contract of the ingest endpoints (tracking.ingest.asgi.IngestApp), driven in
process as an ASGI server would drive it: what each request is answered, and what is stored."""

import base64
import time
from contextlib import contextmanager
from dataclasses import dataclass

import orjson
import psycopg
import pytest
from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator
from django.db import connection
from psycopg import sql

from tracking.ingest.asgi import IngestApp
from tracking.models import Event, Source

pytestmark = pytest.mark.django_db

KB = 1024


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return orjson.loads(self.body)


async def reply_of(communicator: HttpCommunicator) -> Reply:
    """The app's answer, read without sending (more) body: its start, then its one body message."""
    start = await communicator.receive_output(5)
    body = await communicator.receive_output(5)
    headers = {name.decode(): value.decode() for name, value in start["headers"]}
    return Reply(start["status"], headers, body["body"])


def basic(write_key: str) -> tuple[bytes, bytes]:
    return b"authorization", b"Basic " + base64.b64encode(f"{write_key}:".encode())


def send(path: str, body=b"", *, key: str | None = None, method: str = "POST", headers=()) -> Reply:
    """One request to the ingest app; `body` may be bytes or anything JSON can hold."""
    if not isinstance(body, bytes):
        body = orjson.dumps(body)
    header_list = [*headers, *([basic(key)] if key is not None else [])]
    if not any(name == b"content-type" for name, _ in header_list):
        header_list.append((b"content-type", b"application/json"))

    async def exchange():
        communicator = HttpCommunicator(IngestApp(), method, path, headers=header_list)
        await communicator.send_input({"type": "http.request", "body": body})
        return await reply_of(communicator)

    return async_to_sync(exchange)()


def send_in_chunks(path: str, chunks: list[bytes], *, key: str, complete: bool = True) -> Reply:
    """A request whose body arrives in several messages, with no Content-Length. When not
    `complete`, the last message still announces more body, which never comes."""

    async def exchange():
        communicator = HttpCommunicator(IngestApp(), "POST", path, headers=[basic(key)])
        for number, chunk in enumerate(chunks, start=1):
            more = number < len(chunks) or not complete
            await communicator.send_input({"type": "http.request", "body": chunk, "more_body": more})
        return await reply_of(communicator)

    return async_to_sync(exchange)()


@pytest.fixture
def source(db) -> Source:
    return Source.objects.create(name="Shop", consent_mode="upstream")


def track(message_id: str = "m-1", **fields) -> dict:
    return {"event": "Product Viewed", "userId": "shop-ada", "messageId": message_id, **fields}


def stored_ids() -> set[str]:
    return set(Event.objects.values_list("message_id", flat=True))


SUCCESS = {"success": True}
UNKNOWN_PURCHASE = "Unknown call type 'purchase': use one of track, identify, page, screen, alias, group."


# --- calls that are stored ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "call", "stored_type"),
    [
        ("/v1/track", track("m-1", properties={"product_id": "SKU-1"}), "Product Viewed"),
        ("/v1/identify", {"userId": "shop-ada", "messageId": "m-1", "traits": {"first_name": "Ada"}}, "Identify"),
        ("/v1/page", {"anonymousId": "anon-1", "messageId": "m-1", "name": "Home"}, "Page Viewed"),
        ("/v1/screen", {"anonymousId": "anon-1", "messageId": "m-1", "name": "Cart"}, "Screen Viewed"),
        ("/v1/alias", {"userId": "shop-ada", "previousId": "anon-1", "messageId": "m-1"}, "Alias"),
        ("/v1/group", {"userId": "shop-ada", "groupId": "acme", "messageId": "m-1"}, "Group"),
    ],
)
def test_a_segment_call_is_answered_success_and_stored(source, path, call, stored_type):
    reply = send(path, call, key=source.write_key)
    assert (reply.status, reply.json()) == (200, SUCCESS)
    event = Event.objects.get(message_id="m-1")
    assert (event.type, event.source) == (stored_type, source)


def test_a_flat_form_event_is_answered_success_and_stored_under_its_spec_name(source):
    payload = {"userId": "shop-ada", "eventType": "add_to_cart", "productId": "SKU-1", "messageId": "m-1"}
    reply = send("/track", payload, key=source.write_key)
    assert (reply.status, reply.json()) == (200, SUCCESS)
    event = Event.objects.get(message_id="m-1")
    assert (event.type, event.product_id) == ("Product Added", "SKU-1")


def test_the_write_key_may_travel_in_the_body_as_sendbeacon_sends_it(source):
    body = orjson.dumps({**track(), "writeKey": source.write_key})
    reply = send("/v1/track", body, headers=[(b"content-type", b"text/plain;charset=UTF-8")])
    assert (reply.status, reply.json()) == (200, SUCCESS)
    assert stored_ids() == {"m-1"}


def test_a_successful_reply_allows_any_origin_by_default(source):
    reply = send("/v1/track", track(), key=source.write_key, headers=[(b"origin", b"https://shop.example")])
    assert reply.headers["access-control-allow-origin"] == "*"


def test_a_batch_answers_how_many_were_accepted_and_which_were_rejected_and_stores_the_good_ones(source):
    calls = [
        {"type": "track", **track("m-1")},
        {"type": "track", "userId": "shop-ada", "messageId": "m-2"},
        {"type": "identify", "userId": "shop-ada", "messageId": "m-3", "traits": {}},
        {"type": "purchase", **track("m-4")},
    ]
    reply = send("/v1/batch", {"batch": calls}, key=source.write_key)
    assert reply.status == 200
    assert reply.json() == {
        "success": True,
        "accepted": 2,
        "rejected": [
            {"index": 1, "reason": "event is missing."},
            {
                "index": 3,
                "reason": "Unknown call type 'purchase': use one of track, identify, page, screen, alias, group.",
            },
        ],
    }
    assert stored_ids() == {"m-1", "m-3"}


def test_a_batch_body_without_a_list_of_calls_is_refused_with_400(source):
    reply = send("/v1/batch", {"batch": {"type": "track"}}, key=source.write_key)
    assert reply.status == 400
    assert reply.json()["error"]["message"] == 'The body must be {"batch": [call, ...]}.'


# --- retries are stored once ----------------------------------------------------------


def test_a_message_id_repeated_within_one_batch_is_stored_once_and_both_are_accepted(source):
    reply = send("/v1/batch", {"batch": [{"type": "track", **track("m-1")}] * 2}, key=source.write_key)
    assert (reply.status, reply.json()["accepted"], reply.json()["rejected"]) == (200, 2, [])
    assert Event.objects.filter(message_id="m-1").count() == 1


def test_a_message_id_repeated_in_a_later_request_is_answered_success_and_stored_once(source):
    first = send("/v1/track", track("m-1"), key=source.write_key)
    retry = send("/v1/track", track("m-1", event="Order Completed"), key=source.write_key)
    assert (first.status, first.json(), retry.status, retry.json()) == (200, SUCCESS, 200, SUCCESS)
    assert list(Event.objects.values_list("message_id", "type")) == [("m-1", "Product Viewed")]


# --- refusals of the whole request ----------------------------------------------------


def test_malformed_json_is_refused_with_400_in_the_error_shape(source):
    reply = send("/v1/track", b'{"event": "Product Viewed",', key=source.write_key)
    assert reply.status == 400
    error = reply.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == "invalid"
    assert error["message"].startswith("The body is not valid JSON")
    assert error["details"] == {}


def test_a_json_body_that_is_not_an_object_is_refused_with_400(source):
    reply = send("/v1/track", [track()], key=source.write_key)
    assert (reply.status, reply.json()["error"]["message"]) == (400, "The body must be a JSON object.")


def test_a_refused_single_call_gets_400_with_its_reason_and_nothing_is_stored(source):
    reply = send("/v1/track", track(properties="SKU-1"), key=source.write_key)
    assert reply.status == 400
    assert reply.json() == {"error": {"code": "invalid", "message": "properties must be a JSON object.", "details": {}}}
    assert not Event.objects.exists()


def test_an_unknown_write_key_gets_401_with_a_basic_challenge(source):
    reply = send("/v1/track", track(), key="wk_not-a-key")
    assert reply.status == 401
    assert reply.headers["www-authenticate"] == "Basic"
    assert reply.json()["error"]["code"] == "unauthenticated"
    assert not Event.objects.exists()


def test_a_request_without_a_write_key_gets_401_with_a_basic_challenge(source):
    reply = send("/v1/track", track())
    assert (reply.status, reply.headers["www-authenticate"]) == (401, "Basic")


def test_the_write_key_of_an_inactive_source_gets_401(db):
    inactive = Source.objects.create(name="Old shop", consent_mode="upstream", is_active=False)
    reply = send("/v1/track", track(), key=inactive.write_key)
    assert reply.status == 401
    assert not Event.objects.exists()


def test_a_get_is_refused_with_405_because_a_write_key_reads_nothing(source):
    send("/v1/track", track(), key=source.write_key)
    reply = send("/v1/track", method="GET", key=source.write_key)
    assert reply.status == 405
    assert reply.headers["allow"] == "POST, OPTIONS"
    assert reply.json()["error"]["code"] == "method_not_allowed"


def test_a_write_key_used_as_a_bearer_token_on_the_management_api_gets_401(source, anonymous_client):
    anonymous_client.credentials(HTTP_AUTHORIZATION=f"Bearer {source.write_key}")
    assert anonymous_client.get("/api/v1/customers/").status_code == 401


def test_an_unknown_path_gets_a_json_404(source):
    reply = send("/v1/nothing", track(), key=source.write_key)
    assert reply.status == 404
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["error"]["code"] == "not_found"


def test_a_cors_preflight_is_answered_204_with_what_browsers_may_send():
    reply = send("/v1/track", method="OPTIONS", headers=[(b"origin", b"https://shop.example")])
    assert reply.status == 204
    assert reply.headers["access-control-allow-origin"] == "*"
    assert reply.headers["access-control-allow-methods"] == "POST, OPTIONS"
    assert {h.strip().lower() for h in reply.headers["access-control-allow-headers"].split(",")} >= {
        "authorization",
        "content-type",
    }
    assert int(reply.headers["access-control-max-age"]) > 0


# --- size limits ----------------------------------------------------------------------


def test_a_declared_content_length_over_500_kb_is_refused_with_413_before_the_body_is_read(source):
    async def exchange():
        communicator = HttpCommunicator(
            IngestApp(), "POST", "/v1/batch", headers=[basic(source.write_key), (b"content-length", b"600000")]
        )
        # No body is ever sent: a reply can only come if the app did not wait for it.
        return await reply_of(communicator)

    reply = async_to_sync(exchange)()
    assert reply.status == 413
    assert reply.json()["error"]["message"] == "A request may be at most 500 KB; send smaller batches."


def test_a_body_sent_in_chunks_is_read_whole(source):
    body = orjson.dumps(track())
    reply = send_in_chunks("/v1/track", [body[:10], body[10:20], body[20:]], key=source.write_key)
    assert (reply.status, reply.json()) == (200, SUCCESS)
    assert stored_ids() == {"m-1"}


def test_a_chunked_body_without_content_length_is_refused_with_413_once_it_passes_500_kb(source):
    # Six chunks of 100 KB, and the body is not over: the reply must not wait for its end.
    reply = send_in_chunks("/v1/batch", [b" " * (100 * KB)] * 6, key=source.write_key, complete=False)
    assert reply.status == 413
    assert reply.json()["error"]["message"] == "A request may be at most 500 KB; send smaller batches."


def test_a_single_event_over_32_kb_is_refused_with_413_and_not_stored(source):
    reply = send("/v1/track", track(properties={"note": "x" * (33 * KB)}), key=source.write_key)
    assert reply.status == 413
    assert reply.json()["error"]["message"] == "An event may be at most 32 KB."
    assert not Event.objects.exists()


def test_a_call_over_32_kb_in_a_batch_is_rejected_by_index_and_the_others_are_stored(source):
    calls = [
        {"type": "track", **track("m-1")},
        {"type": "track", **track("m-2", properties={"note": "x" * (33 * KB)})},
        {"type": "track", **track("m-3")},
    ]
    reply = send("/v1/batch", {"batch": calls}, key=source.write_key)
    assert reply.status == 200
    assert reply.json()["rejected"] == [{"index": 1, "reason": "The event is larger than 32 KB."}]
    assert stored_ids() == {"m-1", "m-3"}


# --- throttling and outages -----------------------------------------------------------


def test_the_event_over_a_sources_per_second_limit_gets_429_with_retry_after(db):
    source = Source.objects.create(name="Small shop", consent_mode="upstream", events_per_second=3)
    time.sleep(1 - time.time() % 1)  # start at the beginning of a second, so that all four fall in it
    replies = [send("/v1/track", track(f"m-{n}"), key=source.write_key) for n in range(1, 5)]
    assert [r.status for r in replies] == [200, 200, 200, 429]
    assert int(replies[3].headers["retry-after"]) >= 1
    assert replies[3].json()["error"]["code"] == "throttled"
    assert stored_ids() == {"m-1", "m-2", "m-3"}


@contextmanager
def database_down():
    """The test database refuses new connections and this process's connection is cut,
    as when Postgres is restarted or unreachable; everything is restored on leaving."""
    connection.ensure_connection()
    settings, pid = connection.settings_dict, connection.connection.info.backend_pid
    database = sql.Identifier(settings["NAME"])
    with psycopg.connect(
        host=settings["HOST"], port=settings["PORT"], user=settings["USER"], dbname="postgres", autocommit=True
    ) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(database))
        try:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
            yield
        finally:
            admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(database))
            connection.close()


@pytest.mark.django_db(transaction=True)
def test_a_database_outage_gets_503_with_retry_after_and_stores_nothing():
    source = Source.objects.create(name="Shop", consent_mode="upstream")
    assert send("/v1/track", track(event=None), key=source.write_key).status == 400  # the key is now known
    with database_down():
        reply = send("/v1/track", track("m-1"), key=source.write_key)
    assert reply.status == 503
    assert reply.headers["retry-after"] == "1"
    assert reply.json()["error"]["code"] == "unavailable"
    assert not Event.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_database_outage_gets_503_also_for_a_write_key_not_seen_yet():
    source = Source.objects.create(name="Shop", consent_mode="upstream")
    with database_down():
        reply = send("/v1/track", track("m-1"), key=source.write_key)
    assert (reply.status, reply.headers.get("retry-after")) == (503, "1")


def test_with_redis_unreachable_events_are_still_stored_and_acknowledged(db, settings):
    """Redis holds throttle counters, counts and the live feed, never the only copy of
    an event: without it the event goes to Postgres and the SDK gets its 200."""
    source = Source.objects.create(name="Shop", consent_mode="upstream")
    dead = "redis://127.0.0.1:1/0"
    settings.REDIS_URL = dead
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": dead}}

    reply = send("/v1/track", track("m-1"), key=source.write_key)

    assert reply.status == 200
    assert stored_ids() == {"m-1"}


def test_a_browser_origin_the_source_does_not_allow_gets_403_and_nothing_is_stored(db):
    source = Source.objects.create(name="Shop", consent_mode="upstream", allowed_origins="https://shop.example")
    reply = send("/v1/track", track("m-1"), key=source.write_key, headers=[(b"origin", b"https://evil.example")])
    assert reply.status == 403
    assert reply.json()["error"]["code"] == "forbidden_origin"
    assert not Event.objects.exists()


def test_an_allowed_origin_and_a_request_without_origin_are_both_accepted(db):
    source = Source.objects.create(name="Shop", consent_mode="upstream", allowed_origins="https://shop.example")
    from_the_shop = send(
        "/v1/track", track("m-1"), key=source.write_key, headers=[(b"origin", b"https://shop.example")]
    )
    from_a_server = send("/v1/track", track("m-2"), key=source.write_key)
    assert (from_the_shop.status, from_a_server.status) == (200, 200)
    assert from_the_shop.headers["access-control-allow-origin"] == "https://shop.example"
    assert stored_ids() == {"m-1", "m-2"}
