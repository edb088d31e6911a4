"""WebSocket consumers: the high-frequency event stream, and the admin's live view."""

import base64
from urllib.parse import parse_qs

import orjson
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer

from tracking.ingest.gateway import (
    MAX_EVENT_BYTES,
    Refusal,
    events_write,
    json_object,
    origin_check,
    single_call,
    source_authenticate,
)
from tracking.services.live import LIVE_EVENTS_GROUP

CLOSE_UNAUTHENTICATED = 4401


class TrackConsumer(AsyncWebsocketConsumer):
    """/ws/track?writeKey=KEY: one event a message (a Segment call or the flat form), each
    acknowledged once it is stored: {"success": true, "messageId": ...} or an error."""

    async def connect(self):
        headers = dict(self.scope["headers"])
        try:
            self.source = await source_authenticate(self._write_key())
            origin_check(self.source, headers[b"origin"].decode("latin-1") if b"origin" in headers else None)
        except Refusal:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.gpc = headers.get(b"sec-gpc", b"").strip() == b"1"
        self.proof = {
            "ip": (self.scope.get("client") or ("",))[0],
            "user_agent": headers.get(b"user-agent", b"").decode("latin-1")[:500],
        }
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None):
        message = text_data if text_data is not None else (bytes_data or b"").decode("utf-8", "replace")
        try:
            if len(message.encode()) > MAX_EVENT_BYTES:
                raise Refusal(413, "too_large", "An event may be at most 32 KB.")
            payload = json_object(message)
            kind = "flat" if "eventType" in payload else payload.get("type", "track")
            draft = single_call(kind if isinstance(kind, str) else "", payload, self.source)
            await events_write(source=self.source, drafts=[draft], calls=1, gpc=self.gpc, proof=self.proof)
        except Refusal as refusal:
            reply = {"success": False, "status": refusal.status, **refusal.as_dict()}
            if refusal.headers.get("retry-after"):
                reply["retryAfter"] = int(refusal.headers["retry-after"])
        else:
            reply = {"success": True, "messageId": draft.message_id}
        await self.send(text_data=orjson.dumps(reply).decode())

    def _write_key(self) -> str:
        keys = parse_qs(self.scope.get("query_string", b"").decode()).get("writeKey")
        if keys:
            return keys[0]
        scheme, _, credentials = dict(self.scope["headers"]).get(b"authorization", b"").decode().partition(" ")
        if scheme.lower() == "basic":
            try:
                return base64.b64decode(credentials).decode().partition(":")[0]
            except ValueError:
                return ""
        return ""


class LiveEventsConsumer(AsyncJsonWebsocketConsumer):
    """/ws/admin/events: staff watch events arrive, as the ingest writer publishes them."""

    async def connect(self):
        user = self.scope.get("user")
        if not (user and user.is_authenticated and user.is_staff):
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await self.channel_layer.group_add(LIVE_EVENTS_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if getattr(self, "channel_name", None):
            await self.channel_layer.group_discard(LIVE_EVENTS_GROUP, self.channel_name)

    async def events_stored(self, message):
        await self.send_json({"events": message["events"]})
