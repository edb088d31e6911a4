"""Size limits and the WebSocket stream against the real ASGI server: limits hold
before the body is parsed, whatever Content-Length says."""

import asyncio
import base64
import json
import socket
from urllib.parse import urlsplit

import pytest
import websockets

from tracking.models import ConsentMode, Event, Source

pytestmark = pytest.mark.e2e


@pytest.fixture
def source(transactional_db):
    return Source.objects.create(name="shop", consent_mode=ConsentMode.UPSTREAM)


def raw_exchange(server_url: str, head: bytes, body_chunks=()) -> tuple[int, bytes]:
    """Send a request by hand and return (status, reply)."""
    parts = urlsplit(server_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head)
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: what a limit should do
        reply = b""
        while not _complete(reply):
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            reply += data
    assert reply.startswith(b"HTTP/1.1 "), f"no HTTP reply came back: {reply!r}"
    return int(reply.split(b" ", 2)[1]), reply


def _complete(reply: bytes) -> bool:
    head, separator, body = reply.partition(b"\r\n\r\n")
    if not separator:
        return False
    lines = head.lower().split(b"\r\n")
    if b"transfer-encoding: chunked" in lines:
        return body.endswith(b"0\r\n\r\n")  # the last chunk: a reply's body may come after its head
    length = [line for line in lines if line.startswith(b"content-length:")]
    return not length or len(body) >= int(length[0].split(b":")[1])


def auth(source) -> bytes:
    return b"Authorization: Basic " + base64.b64encode(f"{source.write_key}:".encode()) + b"\r\n"


def test_a_declared_size_over_500_kb_is_refused_before_any_body_is_sent(server, source):
    head = b"POST /v1/batch HTTP/1.1\r\nHost: x\r\n" + auth(source) + b"Content-Length: 600000\r\n\r\n"
    status, reply = raw_exchange(server.url, head)
    assert status == 413
    assert b'"code":"too_large"' in reply


def test_a_chunked_body_without_content_length_is_cut_off_past_500_kb(server, source):
    head = b"POST /v1/batch HTTP/1.1\r\nHost: x\r\n" + auth(source) + b"Transfer-Encoding: chunked\r\n\r\n"
    piece = b"x" * 65536
    chunks = [f"{len(piece):x}\r\n".encode() + piece + b"\r\n" for _ in range(64)]  # 4 MB if it were all read
    status, _ = raw_exchange(server.url, head, chunks)
    assert status == 413
    assert not Event.objects.exists()


def test_a_content_length_that_understates_the_body_cannot_smuggle_more_in(server, source):
    call = json.dumps({"userId": "u1", "event": "Product Viewed", "messageId": "m-1"}).encode()
    head = (
        b"POST /v1/track HTTP/1.1\r\nHost: x\r\n" + auth(source) + b"Content-Type: application/json\r\n"
        b"Content-Length: " + str(len(call) - 10).encode() + b"\r\n\r\n"
    )
    status, _ = raw_exchange(server.url, head, [call])
    assert status == 400  # the declared bytes are not JSON; the rest never reaches the parser
    assert not Event.objects.exists()


def test_an_event_over_32_kb_is_refused_under_asgi(server, source):
    call = json.dumps({"userId": "u1", "event": "Product Viewed", "properties": {"blob": "x" * 40000}}).encode()
    head = (
        b"POST /v1/track HTTP/1.1\r\nHost: x\r\n" + auth(source) + b"Content-Type: application/json\r\n"
        b"Content-Length: " + str(len(call)).encode() + b"\r\n\r\n"
    )
    status, _ = raw_exchange(server.url, head, [call])
    assert status == 413


def test_the_websocket_stream_acknowledges_each_event_once_stored(server, source):
    async def stream() -> list[dict]:
        url = server.url.replace("http://", "ws://") + f"/ws/track?writeKey={source.write_key}"
        async with websockets.connect(url) as socket_:
            replies = []
            for n in range(3):
                call = {"type": "track", "userId": "u1", "event": "Product Viewed", "messageId": f"ws-{n}"}
                await socket_.send(json.dumps(call))
                replies.append(json.loads(await socket_.recv()))
            await socket_.send("not json")
            replies.append(json.loads(await socket_.recv()))
            return replies

    replies = asyncio.run(stream())
    assert [r["success"] for r in replies] == [True, True, True, False]
    assert replies[0]["messageId"] == "ws-0"
    assert replies[3]["error"]["code"] == "invalid"
    assert sorted(Event.objects.values_list("message_id", flat=True)) == ["ws-0", "ws-1", "ws-2"]


def test_the_websocket_stream_refuses_an_unknown_write_key(server, source):
    async def connect() -> int:
        url = server.url.replace("http://", "ws://") + "/ws/track?writeKey=wk_nope"
        try:
            async with websockets.connect(url) as socket_:
                await socket_.recv()
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else 0
        except websockets.InvalidStatus as refused:
            return refused.response.status_code
        return -1

    assert asyncio.run(connect()) == 403  # closed before accepting: the upgrade is refused
