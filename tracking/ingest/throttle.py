"""Per-source throttling of events per second, counted in Redis (shared by every
web process) or, in embedded mode, in this process."""

import asyncio
import logging
import time
import weakref

import redis.asyncio
from django.conf import settings

logger = logging.getLogger(__name__)

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, redis.asyncio.Redis]" = weakref.WeakKeyDictionary()
_local_counts: dict[tuple[int, int], int] = {}


def _client() -> redis.asyncio.Redis:
    loop = asyncio.get_running_loop()
    if loop not in _clients:  # a client's connections belong to the loop that opened them
        _clients[loop] = redis.asyncio.Redis.from_url(settings.REDIS_URL)
    return _clients[loop]


async def events_throttled(*, source_id: int, limit: int, events: int) -> int:
    """Count `events` for this source in the current second; return 0 if within `limit`,
    else the seconds to wait before retrying."""
    second = int(time.time())
    if settings.REDIS_URL:
        key = f"tailor:throttle:{source_id}:{second}"
        try:
            async with _client().pipeline(transaction=False) as pipe:
                count, _ = await pipe.incrby(key, events).expire(key, 2).execute()
        except redis.RedisError as error:
            # Events are kept in Postgres, not Redis: without the counter, let them in.
            logger.warning("Throttling is off while Redis is unreachable (%s)", error)
            return 0
    else:
        for stale in [k for k in _local_counts if k[1] < second]:
            del _local_counts[stale]
        count = _local_counts[(source_id, second)] = _local_counts.get((source_id, second), 0) + events
    return 1 if count > limit else 0
