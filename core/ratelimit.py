"""Fixed-window counters in the shared cache (Redis in production)."""

import time

from django.core.cache import cache


def rate_limit_exceeded(*, key: str, limit: int, window_seconds: int) -> tuple[bool, int]:
    """Count one hit against `key`; return (over the limit?, seconds until the window resets)."""
    window = int(time.time()) // window_seconds
    cache_key = f"ratelimit:{key}:{window}"
    cache.add(cache_key, 0, timeout=window_seconds + 1)
    hits = cache.incr(cache_key)
    retry_after = window_seconds - int(time.time()) % window_seconds
    return hits > limit, retry_after
