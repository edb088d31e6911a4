"""Writes every app shares: management API keys."""

import hashlib
import secrets
from dataclasses import dataclass

from django.utils import timezone

from core.models import ApiKey

API_KEY_PREFIX = "tsk_"


def api_key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    secret: str  # shown once, never stored


def api_key_create(*, name: str, created_by=None) -> IssuedApiKey:
    """Create a management API key; the secret is returned once and only its hash kept."""
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(name=name, prefix=secret[:12], key_hash=api_key_hash(secret), created_by=created_by)
    return IssuedApiKey(api_key=api_key, secret=secret)


def api_key_revoke(*, api_key: ApiKey) -> None:
    """Revoke a key at once; requests with it get 401 from then on."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at", "updated_at"])


def api_key_touch(*, api_key: ApiKey) -> None:
    """Record use, at most once a minute per key so that reads do not become writes."""
    now = timezone.now()
    if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
