"""Ingest, end to end: the real ASGI server (uvicorn, production settings) and a real
Celery worker on Postgres and Redis, driven by a client in a separate process.

    .venv/bin/python bench/ingest.py [--batch-events 200000] [--singles 20000] [--web-workers 2] [--worker-nice 10]

Prints accepted events/s through /v1/batch (100 events a request), single /v1/track
requests/s with p50 and p99 latency, events processed into profiles per second,
events lost (acknowledged but not stored: must be 0), and, as the ceiling, Postgres
COPY of the same rows into a table with the same indexes, in the same run.
"""

import argparse
import asyncio
import base64
import multiprocessing
import os
import queue
import statistics
import sys
import time
from datetime import UTC, datetime

from _processes import database_fresh, services_env, tailor_running
from _setup import ROOT, machine

BENCH_DB = "tailor_bench_ingest"
BENCH_REDIS = "redis://127.0.0.1:6379/2"


# --- the client, in its own process ------------------------------------------------


async def _send_all(url: str, write_key: str, bodies: list[bytes], concurrency: int) -> dict:
    import aiohttp
    import orjson

    auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    latencies, accepted, failures = [], 0, 0
    queue = list(reversed(bodies))

    async def worker(session):
        nonlocal accepted, failures
        while queue:
            body = queue.pop()
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                reply = await response.read()
            latencies.append(time.perf_counter() - started)
            if response.status == 200:
                accepted += orjson.loads(reply).get("accepted", 1)
            else:
                failures += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"elapsed": elapsed, "latencies": latencies, "accepted": accepted, "failures": failures}


def _client(url, write_key, bodies, concurrency, results):
    results.put(asyncio.run(_send_all(url, write_key, bodies, concurrency)))


def drive(url: str, write_key: str, bodies: list[bytes], concurrency: int) -> dict:
    """Send `bodies` from a separate process, as an SDK fleet would."""
    results = multiprocessing.Queue()
    process = multiprocessing.Process(target=_client, args=(url, write_key, bodies, concurrency, results))
    process.start()
    while True:
        try:
            outcome = results.get(timeout=5)
            break
        except queue.Empty:
            if not process.is_alive():
                raise SystemExit(f"The client died (exit code {process.exitcode}); see its error above.") from None
    process.join()
    return outcome


# --- the run -------------------------------------------------------------------------


def _copy_row(draft, received_at) -> tuple:
    import orjson

    properties, context = orjson.dumps(draft.properties).decode(), orjson.dumps(draft.context).decode()
    return (draft.message_id + "-c", draft.type, draft.user_id, draft.anonymous_id, draft.product_sku or None,
            properties, context, draft.occurred_at, received_at)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch-events", type=int, default=200_000)
    parser.add_argument("--singles", type=int, default=20_000)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--batch-concurrency", type=int, default=8)
    parser.add_argument("--single-concurrency", type=int, default=32)
    # Replies to SDKs come first on a shared machine; the worker catches up between bursts.
    parser.add_argument("--worker-nice", type=int, default=10)
    args = parser.parse_args()

    database_url = database_fresh(BENCH_DB)
    env = services_env(database_url, BENCH_REDIS)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    import orjson
    import redis
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from personalization.demo_store import DemoConfig, DemoStore
    from tracking.models import ConsentMode, Event, EventType, Source, WaitingEvent

    call_command("migrate", verbosity=0)
    redis.Redis.from_url(BENCH_REDIS).flushdb()
    source = Source.objects.create(name="bench", consent_mode=ConsentMode.UPSTREAM, events_per_second=10**9)
    until = datetime(2026, 11, 1, tzinfo=UTC)
    store = DemoStore(DemoConfig(customers=5000, products=500, events=args.batch_events + args.singles, until=until))
    store.simulate()
    drafts = list(store.events())
    calls = [
        {
            "type": "track",
            "event": d.type,
            "messageId": d.message_id,
            "userId": d.user_id,
            "anonymousId": d.anonymous_id,
            "timestamp": d.occurred_at.isoformat(),
            "properties": d.properties,
            "context": d.context,
        }
        for d in drafts
    ]
    batch_calls, single_calls = calls[: args.batch_events], calls[args.batch_events : args.batch_events + args.singles]
    batch_bodies = [orjson.dumps({"batch": batch_calls[i : i + 100]}) for i in range(0, len(batch_calls), 100)]
    single_bodies = [orjson.dumps(call) for call in single_calls]

    with tailor_running(env, port=8765, web_workers=args.web_workers, worker_nice=args.worker_nice) as base:
        # Warm each web process's write-key cache and connection pool.
        drive(f"{base}/v1/track", source.write_key, single_bodies[:200], 8)

        batch = drive(f"{base}/v1/batch", source.write_key, batch_bodies, args.batch_concurrency)
        singles = drive(f"{base}/v1/track", source.write_key, single_bodies[200:], args.single_concurrency)

        acknowledged = batch["accepted"] + singles["accepted"] + 200
        # Tailor's own segment events are not what was sent.
        sent = Event.objects.exclude(type__in=[EventType.SEGMENT_ENTERED, EventType.SEGMENT_EXITED])
        stored = sent.count()
        # Processing: what the worker did while ingest ran, then the time to drain the rest
        # (the queue of waiting events polled every 20 ms: the last processed is when it emptied).
        drain_started, backlog = time.perf_counter(), WaitingEvent.objects.count()
        while WaitingEvent.objects.exists():
            time.sleep(0.02)
        drain_seconds, last_processed = time.perf_counter() - drain_started, timezone.now()
        first_received = sent.order_by("received_at").values_list("received_at", flat=True).first()
        processing_span = (last_processed - first_received).total_seconds()

    # The ceiling: COPY of the same rows into a table with the same indexes.
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_copy")
        cursor.execute("CREATE TABLE bench_copy (LIKE tracking_event INCLUDING ALL)")
        columns = "message_id, type, user_id, anonymous_id, product_sku, properties, context, occurred_at, received_at"
        now = datetime.now(UTC)
        started = time.perf_counter()
        with cursor.cursor.copy(f"COPY bench_copy ({columns}) FROM STDIN") as copy:
            for d in drafts[: args.batch_events]:
                copy.write_row(_copy_row(d, now))
        copy_rate = args.batch_events / (time.perf_counter() - started)
        cursor.execute("DROP TABLE bench_copy")

    report(args, batch, singles, stored=stored, acknowledged=acknowledged, copy_rate=copy_rate,
           processing=(processing_span, backlog, drain_seconds))  # fmt: skip


def report(args, batch, singles, *, stored, acknowledged, copy_rate, processing) -> None:
    span, backlog, drain_seconds = processing
    latencies = sorted(singles["latencies"])
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    batch_rate = batch["accepted"] / batch["elapsed"]
    drain_rate = backlog / drain_seconds if drain_seconds else 0
    setup = f"{args.web_workers} uvicorn workers, 1 Celery worker (nice {args.worker_nice}), client in its own process"
    print(f"machine: {machine()}; {setup}")
    print(
        f"/v1/batch, 100 events a request, {args.batch_concurrency} in flight: "
        f"{batch_rate:,.0f} events/s accepted ({batch['failures']} failed requests)"
    )
    print(
        f"/v1/track, single events, {args.single_concurrency} in flight: "
        f"{len(latencies) / singles['elapsed']:,.0f} requests/s, p50 {p(0.50):.1f} ms, p99 {p(0.99):.1f} ms, "
        f"mean {statistics.mean(latencies) * 1000:.1f} ms ({singles['failures']} failed)"
    )
    print(
        f"processing: {stored:,} events into profiles in {span:.1f} s from first arrival to last processed "
        f"({stored / span:,.0f} events/s); backlog after ingest {backlog:,} drained in {drain_seconds:.1f} s "
        f"({drain_rate:,.0f} events/s)"
    )
    print(f"lost: {acknowledged - stored} (acknowledged {acknowledged:,}, stored {stored:,})")
    print(f"ceiling: Postgres COPY of the same rows, same indexes: {copy_rate:,.0f} events/s")


if __name__ == "__main__":
    main()
