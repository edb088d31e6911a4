"""WebSocket routes."""

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from campaigns.consumers import CampaignProgressConsumer
from tracking.consumers import LiveEventsConsumer, TrackConsumer

websocket_urlpatterns = [
    # Authenticated by the write key, from any site, like the HTTP endpoints.
    path("ws/track", TrackConsumer.as_asgi()),
    # A staff session: only from Tailor's own pages.
    path("ws/admin/events", AllowedHostsOriginValidator(AuthMiddlewareStack(LiveEventsConsumer.as_asgi()))),
    path(
        "ws/campaigns/<int:campaign_id>/progress",
        AllowedHostsOriginValidator(AuthMiddlewareStack(CampaignProgressConsumer.as_asgi())),
    ),
]
