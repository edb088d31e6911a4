"""What a request tells about who made it: for proofs, audit trails and limits."""

from django.conf import settings
from django.http import HttpRequest

from core.models import ApiKey


def client_ip(request: HttpRequest) -> str:
    # X-Forwarded-For is only trusted behind our own proxy; anyone can send it.
    if settings.SECURE_PROXY_SSL_HEADER:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.META.get("REMOTE_ADDR", "")


def request_proof(request: HttpRequest, **extra) -> dict:
    """Evidence of where a decision was made: address, browser, page."""
    proof = {
        "ip": client_ip(request),
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:500],
        "page": request.build_absolute_uri(request.path),
    }
    return {**proof, **{k: v for k, v in extra.items() if v}}


def request_actor(request: HttpRequest) -> str:
    """Who acts: a staff member, a program holding an API key, or the person themselves."""
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiKey):
        return f"api-key:{auth.name}"
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"staff:{user.get_username()}"
    return "person"


def gpc_requested(request: HttpRequest) -> bool:
    """The Global Privacy Control signal (Sec-GPC: 1): an opt-out of tracking."""
    return request.META.get("HTTP_SEC_GPC", "").strip() == "1"
