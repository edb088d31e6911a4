"""Group commit: the events of concurrent requests in one process share a write.

Each request still waits for the commit that holds its events, so a 200 means
the events are in Postgres. But many requests share one identity lookup, one
consent check, one INSERT and one fsync. Batches size themselves: whatever
arrives while a batch commits goes into the next one. What the batch's commit
announces (counts, the worker's nudge, the live view: Redis round trips) is done
once its replies are on their way, not before.
"""

import asyncio
import weakref
from contextlib import contextmanager

from asgiref.sync import sync_to_async
from django.db import DatabaseError, close_old_connections, connection, transaction
from psycopg_pool import PoolTimeout

from core.errors import ServiceUnavailable
from tracking.services import Ingested, IngestOutcome, IngestRequest, events_ingest, ingested_announce

GATHER_SECONDS = 0.001  # how long a request that finds the writer idle waits for company
MAX_EVENTS_PER_COMMIT = 5000


@contextmanager
def database_or_unavailable():
    """Database work on the ingest path: on a fresh connection if the last one broke, and
    ServiceUnavailable (503, clients retry) when the database cannot answer."""
    if not connection.in_atomic_block:  # never mid-transaction (the test suite's, say)
        close_old_connections()  # a connection broken by a database restart is replaced, not reused
    try:
        yield
    except (DatabaseError, PoolTimeout) as exc:
        raise ServiceUnavailable(
            "Events could not be stored right now; nothing from this request was kept. Retry shortly."
        ) from exc


def _ingest(requests: list[IngestRequest]) -> Ingested:
    with database_or_unavailable():
        return events_ingest(requests=requests)


def _announce(ingested: Ingested) -> None:
    # At once, as the writer runs outside any transaction; in a test's, once it commits.
    transaction.on_commit(lambda: ingested_announce(ingested))


class GroupCommitWriter:
    def __init__(self):
        self._waiting: list[tuple[IngestRequest, asyncio.Future]] = []
        self._drain: asyncio.Task | None = None

    async def write(self, request: IngestRequest) -> IngestOutcome:
        """Store a request's events; return once they are committed (or raise ServiceUnavailable)."""
        outcome = asyncio.get_running_loop().create_future()
        self._waiting.append((request, outcome))
        if self._drain is None or self._drain.done():
            self._drain = asyncio.create_task(self._write_waiting())
        return await outcome

    async def _write_waiting(self) -> None:
        # Runs while there is work and then ends, so no task outlives its event loop. Only a
        # request that finds the writer idle waits for company: the others arrived while the
        # group before theirs was committing, and are company enough.
        await asyncio.sleep(GATHER_SECONDS)
        while self._waiting:
            batch, events = [], 0
            while self._waiting and (not batch or events + len(self._waiting[0][0].drafts) <= MAX_EVENTS_PER_COMMIT):
                request, outcome = self._waiting.pop(0)
                batch.append((request, outcome))
                events += len(request.drafts)
            try:
                ingested = await sync_to_async(_ingest, thread_sensitive=True)([r for r, _ in batch])
            except Exception as exc:
                for _, outcome in batch:
                    if not outcome.done():
                        outcome.set_exception(exc)
                continue
            for (_, outcome), result in zip(batch, ingested.outcomes, strict=True):
                if not outcome.done():
                    outcome.set_result(result)
            # The replies go out while this runs (on the database thread, as the worker's nudge
            # may process events in place when tasks run eagerly).
            await sync_to_async(_announce, thread_sensitive=True)(ingested)

    async def drained(self) -> None:
        """Return once every request written so far is committed and announced."""
        while self._drain is not None and not self._drain.done():
            await asyncio.shield(self._drain)


_writers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GroupCommitWriter]" = weakref.WeakKeyDictionary()


def writer() -> GroupCommitWriter:
    """This event loop's writer."""
    loop = asyncio.get_running_loop()
    if loop not in _writers:
        _writers[loop] = GroupCommitWriter()
    return _writers[loop]
