"""Per-source counts of what arrived: stored, duplicate, refused, not consented.

They live in the shared cache (Redis in production), one key per source, day
and kind, for 35 days: they are operational figures, not data anyone was
promised to keep, and a write to Postgres per request would cost the hot path.
"""

from collections import Counter
from datetime import date, timedelta

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.utils import timezone

COUNT_KINDS = ("stored", "duplicate", "refused", "not_consented")
KEEP_DAYS = 35


def _key(source_id: int, day: date, kind: str) -> str:
    return f"source:{source_id}:{day:%Y%m%d}:{kind}"


def source_counts_add(*, counts: dict[int, Counter]) -> None:
    """Add today's counts, per source: with Redis in one round trip, as this runs per commit."""
    today = timezone.now().date()
    amounts = {_key(s, today, kind): n for s, kinds in counts.items() for kind, n in kinds.items() if n}
    if not amounts:
        return
    if isinstance(caches["default"], RedisCache):
        with caches["default"]._cache.get_client(write=True).pipeline(transaction=False) as pipe:
            for key, amount in amounts.items():
                full_key = cache.make_key(key)
                pipe.incrby(full_key, amount).expire(full_key, KEEP_DAYS * 86400)
            pipe.execute()
        return
    for key, amount in amounts.items():
        cache.add(key, 0, timeout=KEEP_DAYS * 86400)
        cache.incr(key, amount)


def source_counts(*, source_id: int, days: int = 7) -> list[tuple[date, dict[str, int]]]:
    """Counts of the last `days` days, newest first."""
    today = timezone.now().date()
    keys = {(today - timedelta(days=n), kind): None for n in range(days) for kind in COUNT_KINDS}
    found = cache.get_many([_key(source_id, day, kind) for day, kind in keys])
    return [
        (day, {kind: found.get(_key(source_id, day, kind), 0) for kind in COUNT_KINDS})
        for day in sorted({day for day, _ in keys}, reverse=True)
    ]
