"""Opens and clicks of the email Tailor sent, from its open pixel and click redirect.

Some opens and clicks are not a person: Apple Mail Privacy Protection loads
every pixel through Apple's proxies when mail arrives, and security scanners
follow every link. They are recorded, but flagged, so that results and
experiments can leave them out.
"""

import ipaddress
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from campaigns.models import Message
from core.errors import NotFound
from tracking.models import EventType
from tracking.services.ingest import events_processing_schedule
from tracking.services.store import EventDraft, events_store

APPLE_PROXY_NETWORK = ipaddress.ip_network("17.0.0.0/8")  # Apple's; its mail proxies fetch from here
SCANNER_AGENTS = re.compile(
    r"bot|crawl|spider|preview|scanner|barracuda|mimecast|proofpoint|safelinks|urlscan|"
    r"python-requests|curl|wget|headless|go-http-client|java/",
    re.IGNORECASE,
)
FASTER_THAN_A_PERSON = timedelta(seconds=5)  # a click this soon after sending was a machine


@dataclass(frozen=True)
class Visit:
    """Who fetched a pixel or followed a link."""

    ip: str
    user_agent: str
    method: str
    at: datetime


def _machine_signals(message: Message, visit: Visit) -> dict:
    signals = {}
    try:
        if ipaddress.ip_address(visit.ip) in APPLE_PROXY_NETWORK or visit.user_agent.strip() == "Mozilla/5.0":
            signals["privacy_proxy"] = "apple-mail-privacy-protection"
    except ValueError:
        pass
    if SCANNER_AGENTS.search(visit.user_agent) or visit.method == "HEAD":
        signals["bot"] = "link-scanner"
    elif message.sent_at and visit.at - message.sent_at < FASTER_THAN_A_PERSON:
        signals["bot"] = "too-fast-after-sending"
    return signals


def _record(message: Message, event_type: str, visit: Visit, properties: dict) -> None:
    draft = EventDraft(
        message_id=f"{event_type.split()[-1].lower()}-{message.pk}-{uuid.uuid4()}",
        type=event_type,
        occurred_at=visit.at,
        user_id=message.customer.external_id or "",
        customer_id=message.customer_id,
        email_message_id=message.pk,
        properties={**properties, **_machine_signals(message, visit)},
        context={"ip": visit.ip, "userAgent": visit.user_agent[:500]},
    )
    events_store(drafts=[draft])
    events_processing_schedule()


def email_open_record(*, message: Message, visit: Visit) -> None:
    """Record that the open pixel of `message` was loaded."""
    _record(message, EventType.EMAIL_OPENED, visit, {})


def email_click_record(*, message: Message, link_index: int, visit: Visit) -> str:
    """Record a click and return the link registered at sending; NotFound for any other."""
    if not 0 <= link_index < len(message.links):
        raise NotFound("This link is not part of the message.")
    url = message.links[link_index]
    _record(message, EventType.EMAIL_LINK_CLICKED, visit, {"url": url, "link_index": link_index})
    return url


def visit_now(*, ip: str, user_agent: str, method: str) -> Visit:
    return Visit(ip=ip, user_agent=user_agent, method=method, at=timezone.now())
