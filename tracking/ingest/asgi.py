"""The ingest endpoints, as a plain ASGI application in front of Django.

    POST /v1/track /v1/identify /v1/page /v1/screen /v1/alias /v1/group /v1/batch
    POST /track   (the flat form)

Why not a Django view: Django's ASGI handler reads the whole body before any
view runs, and the limits here (32 KB an event, 500 KB a request) must hold
before the body is parsed, also when Content-Length is missing or false. So
the body is counted as it streams in. And the group-commit writer lives in this
process's event loop, which a plain ASGI app shares without a thread hop.
"""

import base64

import orjson
from django.conf import settings

from tracking.ingest.gateway import (
    MAX_EVENT_BYTES,
    Refusal,
    batch_calls,
    events_write,
    json_object,
    origin_check,
    refusals_count,
    single_call,
    source_authenticate,
)

MAX_REQUEST_BYTES = 500 * 1024
CALLS = {f"/v1/{call}": call for call in ("track", "identify", "page", "screen", "alias", "group")} | {"/track": "flat"}
ENDPOINTS = {*CALLS, "/v1/batch"}
_PREFLIGHT = {
    "access-control-allow-methods": "POST, OPTIONS",
    "access-control-allow-headers": "Authorization, Content-Type",
    "access-control-max-age": "86400",
}


class IngestApp:
    async def __call__(self, scope, receive, send):
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        cors = {"access-control-allow-origin": "*"}
        try:
            if scope["path"] not in ENDPOINTS:
                raise Refusal(404, "not_found", f"No endpoint at {scope['path']}; see the README for the tracking API.")
            if scope["method"] == "OPTIONS":
                await _reply(send, 204, b"", cors | _PREFLIGHT)
                return
            if scope["method"] != "POST":
                raise Refusal(405, "method_not_allowed", "Send events with POST; a write key reads nothing.",
                              {"allow": "POST, OPTIONS"})  # fmt: skip
            body = await _read_body(headers, receive)
            payload = json_object(body)
            source = await source_authenticate(_write_key(headers, payload))
            cors["access-control-allow-origin"] = _allowed_origin(headers.get("origin"), source.allowed_origins)
            origin_check(source, headers.get("origin"))
            reply = await _ingest(scope["path"], payload, source, headers, scope, body_size=len(body))
            await _reply(send, 200, orjson.dumps(reply), cors)
        except Refusal as refusal:
            await _reply(send, refusal.status, orjson.dumps(refusal.as_dict()), cors | refusal.headers)


async def _ingest(path: str, payload: dict, source, headers: dict, scope, *, body_size: int) -> dict:
    proof = {"ip": _client_ip(scope, headers), "user_agent": headers.get("user-agent", "")[:500]}
    gpc = headers.get("sec-gpc", "").strip() == "1"
    if path == "/v1/batch":
        batch = batch_calls(payload, source, body_size=body_size)
        await refusals_count(source=source, refused=len(batch.refused))
        drafts = [draft for _, draft in batch.drafts]
        outcome = await events_write(
            source=source, drafts=drafts, calls=len(drafts) + len(batch.refused), gpc=gpc, proof=proof
        )
        rejected = [{"index": index, "reason": reason} for index, reason in batch.refused]
        return {"success": True, "accepted": outcome.accepted, "rejected": rejected}
    try:
        if body_size > MAX_EVENT_BYTES:
            raise Refusal(413, "too_large", "An event may be at most 32 KB.")
        draft = single_call(CALLS[path], payload, source)
    except Refusal:
        await refusals_count(source=source, refused=1)
        raise
    await events_write(source=source, drafts=[draft], calls=1, gpc=gpc, proof=proof)
    return {"success": True}


async def _read_body(headers: dict, receive) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed the limit: at once when
    Content-Length says so, else when the bytes actually received pass it."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        raise Refusal(413, "too_large", "A request may be at most 500 KB; send smaller batches.")
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Refusal(400, "invalid", "The client went away before the body was complete.")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            raise Refusal(413, "too_large", "A request may be at most 500 KB; send smaller batches.")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _write_key(headers: dict, payload: dict) -> str:
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic" and credentials:
        try:
            return base64.b64decode(credentials).decode().partition(":")[0]
        except ValueError:
            return ""
    key = payload.get("writeKey")  # sendBeacon cannot set headers, so browsers put it here
    return key if isinstance(key, str) else ""


def _client_ip(scope, headers: dict) -> str:
    if settings.SECURE_PROXY_SSL_HEADER and headers.get("x-forwarded-for"):
        return headers["x-forwarded-for"].split(",")[0].strip()
    return (scope.get("client") or ("",))[0]


def _allowed_origin(origin: str | None, allowed: tuple[str, ...]) -> str:
    if "*" in allowed or not origin:
        return "*"
    return origin if origin in allowed else "null"


async def _reply(send, status: int, body: bytes, headers: dict) -> None:
    headers = {"content-type": "application/json", "cache-control": "no-store", **headers}
    encoded = [(name.encode(), value.encode()) for name, value in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": encoded})
    await send({"type": "http.response.body", "body": body})
