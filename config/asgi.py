"""ASGI entry point: the ingest endpoints, then HTTP through Django, and WebSocket
through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATABASE_POOL", "true")  # see DATABASES in settings

# Django must be set up before anything imports models (the routing below does).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path, re_path  # noqa: E402

from config.routing import websocket_urlpatterns  # noqa: E402
from core.runtime import runtime_announce  # noqa: E402
from tracking.ingest.asgi import IngestApp  # noqa: E402

runtime_announce(process="web")

ingest = IngestApp()

application = ProtocolTypeRouter(
    {
        "http": URLRouter(
            [
                path("v1/<str:call>", ingest),
                path("track", ingest),
                re_path(r"", django_asgi_app),
            ]
        ),
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
