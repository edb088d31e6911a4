"""Cache keys that concern one person, and how to drop them all at once.

Keys about a customer start with `customer_cache_prefix(id)` and keys about an
email address with `address_cache_prefix(hash)`; erasure deletes both prefixes.
"""

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured


def customer_cache_prefix(customer_id: int) -> str:
    return f"customer:{customer_id}:"


def address_cache_prefix(address_hash: str) -> str:
    return f"address:{address_hash}:"


def cache_delete_prefix(prefix: str) -> int:
    """Delete every entry whose key starts with `prefix`; return how many."""
    cache = caches["default"]  # the backend itself: django.core.cache.cache is a proxy
    pattern = cache.make_key(prefix)
    if isinstance(cache, RedisCache):
        client = cache._cache.get_client(write=True)  # Django exposes no prefix delete
        keys = list(client.scan_iter(match=f"{pattern}*", count=1000))
        return client.unlink(*keys) if keys else 0
    if isinstance(cache, LocMemCache):
        keys = [key for key in list(cache._cache) if key.startswith(pattern)]
        for key in keys:
            cache._cache.pop(key, None)
            cache._expire_info.pop(key, None)
        return len(keys)
    raise ImproperlyConfigured(f"Tailor's cache must be Redis or local memory, not {type(cache).__name__}.")
