"""Segments at scale: 100,000 customers and 2 million events.

    .venv/bin/python bench/segments.py [--customers 100000] [--events 2000000] [--rate 2000] [--seconds 60]

Prints the full refresh time of each built-in segment (and of the segment a marketer
builds in the admin), first population and steady state, each next to its ceiling: the
audience query alone, counted, in the same run. Then, with the real server and a Celery
worker, sends events at --rate events/s through /v1/batch and measures event-to-membership
latency: from sending a "Product Viewed" for someone who viewed nothing in 10 minutes to
their entry in "Recent viewers (10 min)".
"""

import argparse
import asyncio
import base64
import multiprocessing
import os
import random
import statistics
import sys
import time
import uuid

from _processes import database_fresh, services_env, tailor_running
from _setup import ROOT, machine

BENCH_DB = "tailor_bench_segments"
BENCH_REDIS = "redis://127.0.0.1:6379/3"
PROBES_SHARE = 0.1  # the last tenth of the customers is kept quiet, for probes only
MARKETER_SEGMENT = {
    "type": "all",
    "rules": [
        {"type": "event", "event": "Product Viewed", "op": ">=", "count": 2, "within": "7d",
         "where": [{"field": "product.category", "op": "=", "value": "Shoes"}]},
        {"type": "event", "event": "Order Completed", "op": "=", "count": 0, "within": "7d"},
        {"type": "consent", "purpose": "email_marketing"},
    ],
}  # fmt: skip

# --- the store, written in SQL: the bench measures segments, not the ingest path -----------

CATEGORIES = ["Shoes", "Bags", "Outdoors", "Kitchen", "Books", "Toys", "Beauty", "Garden", "Sports", "Music",
              "Pets", "Office"]  # fmt: skip
EVENT_MIX = [  # type, cumulative share
    ("Page Viewed", 0.30), ("Product Viewed", 0.68), ("Product Added", 0.78), ("Checkout Started", 0.82),
    ("Order Completed", 0.86), ("Email Delivered", 0.93), ("Email Opened", 0.98), ("Email Link Clicked", 1.0),
]  # fmt: skip


def store_write(cursor, customers: int, events: int) -> None:
    cursor.execute(
        """INSERT INTO personalization_product (created_at, updated_at, sku, name, category, price, currency, url,
                                                image_url, in_stock, attributes)
           SELECT now(), now(), 'P' || g, 'Product ' || g, (%s::text[])[1 + g %% %s], 10 + g %% 90, 'USD', '', '',
                  true, '{}' FROM generate_series(0, 999) g""",
        [CATEGORIES, len(CATEGORIES)],
    )
    cursor.execute(
        """INSERT INTO personalization_customer (created_at, updated_at, external_id, email, first_name, last_name,
                                                 timezone, locale, attributes)
           SELECT now() - random() * interval '400 days', now(), 'c' || g, 'c' || g || '@example.com', '', '',
                  'UTC', 'en-US', '{}' FROM generate_series(1, %s) g""",
        [customers],
    )
    case = " ".join(f"WHEN r < {share} THEN '{name}'" for name, share in EVENT_MIX)
    active = int(customers * (1 - PROBES_SHARE))
    # Skewed as shops are: some people do much more, and recent days are busier.
    cursor.execute(
        f"""INSERT INTO tracking_event (message_id, type, user_id, anonymous_id, customer_id, product_sku,
                                        properties, context, occurred_at, received_at)
            SELECT 'hist-' || g, t, 'c' || c, '', c,
                   CASE WHEN t LIKE 'Product%%' THEN 'P' || floor(random() * 1000)::int END,
                   CASE WHEN t = 'Order Completed'
                            THEN jsonb_build_object('revenue', round((10 + random() * 290)::numeric, 2))
                        WHEN t IN ('Email Opened', 'Email Link Clicked') AND random() < 0.1
                            THEN '{{"bot": "link-scanner"}}'
                        ELSE '{{}}' END,
                   '{{}}', at, at
            FROM (SELECT g, 1 + floor(power(random(), 2) * %s)::int AS c,
                         now() - power(random(), 1.5) * interval '180 days' - interval '1 minute' AS at,
                         (SELECT CASE {case} END FROM (SELECT random() AS r) x WHERE g = g) AS t
                  FROM generate_series(1, %s) g) e""",
        [active, events],
    )
    cursor.execute(
        """UPDATE personalization_customer c SET first_seen_at = s.first, last_seen_at = s.last
           FROM (SELECT customer_id, min(occurred_at) AS first, max(occurred_at) AS last FROM tracking_event
                 GROUP BY customer_id) s WHERE s.customer_id = c.id"""
    )
    cursor.execute(
        """INSERT INTO personalization_traits (customer_id, event_counts, order_count, revenue, first_order_at,
               last_order_at, last_viewed, cart, average_order_value, engagement_log, category_weights,
               favorite_categories, email_opens_30d, email_clicks_30d, site_visits_30d, updated_at)
           SELECT customer_id, '{}', count(*) FILTER (WHERE type = 'Order Completed'),
                  coalesce(sum((properties ->> 'revenue')::numeric), 0),
                  min(occurred_at) FILTER (WHERE type = 'Order Completed'),
                  max(occurred_at) FILTER (WHERE type = 'Order Completed'), '[]', '[]', 0, NULL, '{}', '[]',
                  0, 0, 0, now()
           FROM tracking_event GROUP BY customer_id"""
    )
    cursor.execute(
        """INSERT INTO consent_consentrecord (customer_id, subject_hash, purpose, decision, source, policy_version,
               wording, proof, actor, recorded_at)
           SELECT id, '', 'email_marketing', 'granted', 'signup_form', '1', '', '{}', 'bench', created_at
           FROM personalization_customer WHERE random() < 0.6"""
    )
    cursor.execute("ANALYZE")


# --- latency: events at a steady rate, from a separate process --------------------------------


async def _send_paced(url: str, write_key: str, rate: int, seconds: int, probes: list[str], background: int) -> dict:
    import aiohttp
    import orjson

    auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    per_request, sent_at, failures = 100, {}, 0
    requests_per_second = rate / per_request
    probes_per_request = max(1, len(probes) // int(requests_per_second * seconds))
    types = ["Page Viewed", "Product Viewed", "Product Added", "Order Completed", "Email Opened"]

    def call(user: str, event: str) -> dict:
        sku = f"P{random.randrange(1000)}" if event.startswith("Product") else None
        return {"type": "track", "event": event, "userId": user, "messageId": str(uuid.uuid4()),
                "properties": {"product_id": sku} if sku else {"revenue": 42}}  # fmt: skip

    async def one(session, body, probe_users):
        nonlocal failures
        started = time.time()
        async with session.post(url, data=orjson.dumps(body), headers=headers) as response:
            await response.read()
        if response.status == 200:
            sent_at.update(dict.fromkeys(probe_users, started))
        else:
            failures += 1

    async with aiohttp.ClientSession() as session:
        tasks, begin = [], time.perf_counter()
        for n in range(int(requests_per_second * seconds)):
            await asyncio.sleep(max(0.0, begin + n / requests_per_second - time.perf_counter()))
            probe_users = [probes.pop() for _ in range(probes_per_request) if probes]
            batch = [call(user, "Product Viewed") for user in probe_users]
            batch += [call(f"c{1 + random.randrange(background)}", random.choice(types))
                      for _ in range(per_request - len(batch))]  # fmt: skip
            tasks.append(asyncio.create_task(one(session, {"batch": batch}, probe_users)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - begin
    return {"sent_at": sent_at, "failures": failures, "elapsed": elapsed, "requests": len(tasks)}


def _client(args, results):
    results.put(asyncio.run(_send_paced(*args)))


def send_paced(*args) -> dict:
    results = multiprocessing.Queue()
    process = multiprocessing.Process(target=_client, args=(args, results))
    process.start()
    outcome = results.get()
    process.join()
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--rate", type=int, default=2000, help="events per second during the latency run")
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()

    database_url = database_fresh(BENCH_DB)
    env = services_env(database_url, BENCH_REDIS)
    os.environ.update({**env, "CELERY_TASK_ALWAYS_EAGER": "true"})  # this process refreshes in place
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    import redis
    from django.core.management import call_command
    from django.db import connection

    from personalization.models import Segment, SegmentMembership
    from personalization.segments.builtins import BUILT_IN
    from personalization.segments.selectors import segment_audience
    from personalization.segments.services import segment_refresh, segment_save
    from personalization.services.traits import traits_recompute
    from tracking.models import ConsentMode, Event, Source, WaitingEvent

    call_command("migrate", verbosity=0)
    redis.Redis.from_url(BENCH_REDIS).flushdb()
    started = time.perf_counter()
    with connection.cursor() as cursor:
        store_write(cursor, args.customers, args.events)
    print(f"machine: {machine()}")
    print(f"store: {args.customers:,} customers, {Event.objects.count():,} events, written in "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip

    started = time.perf_counter()
    traits_recompute()
    print(f"traits: full recompute of everyone's traits in {time.perf_counter() - started:.1f} s")

    segment_save(name="Shoe browsers, no order, emailable", rules=MARKETER_SEGMENT)
    names = [BUILT_IN[key][0] for key in BUILT_IN] + ["Shoe browsers, no order, emailable"]
    print("full refresh, seconds: first population / steady state / ceiling (the audience query alone)")
    for segment in Segment.objects.filter(name__in=names).order_by("name"):
        query_started = time.perf_counter()
        size = segment_audience(rules=segment.rules).count()
        ceiling = time.perf_counter() - query_started
        first = segment_refresh(segment=segment).refresh_seconds
        steady = segment_refresh(segment=segment).refresh_seconds
        print(f"  {segment.name:<38} {size:>7,} members  {first:6.2f} / {steady:6.2f} / {ceiling:6.2f}")

    # Entry events of the first populations are Tailor's own; process them before the latency run.
    from tracking.services import events_process

    events_process()
    source = Source.objects.create(name="bench", consent_mode=ConsentMode.UPSTREAM, events_per_second=10**9)
    recent = Segment.objects.get(built_in="recent_viewers")
    quiet = int(args.customers * (1 - PROBES_SHARE))
    probes = [f"c{n}" for n in range(quiet + 1, args.customers + 1)]
    random.shuffle(probes)
    with tailor_running(env, port=8766, web_workers=2, worker_nice=0) as base:
        outcome = send_paced(f"{base}/v1/batch", source.write_key, args.rate, args.seconds, probes, quiet)
        deadline = time.monotonic() + 120
        while WaitingEvent.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
    entered = dict(
        SegmentMembership.objects.filter(segment=recent, customer__external_id__in=outcome["sent_at"])
        .values_list("customer__external_id", "entered_at")
    )  # fmt: skip
    latencies = sorted(entered[user].timestamp() - sent for user, sent in outcome["sent_at"].items() if user in entered)
    missing = len(outcome["sent_at"]) - len(latencies)
    q = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))]  # noqa: E731
    rate = outcome["requests"] * 100 / outcome["elapsed"]
    print(f"latency at {rate:,.0f} events/s for {outcome['elapsed']:.0f} s ({outcome['failures']} failed requests): "
          f"{len(latencies):,} probes, event-to-membership p50 {q(0.5):.2f} s, p95 {q(0.95):.2f} s, "
          f"max {latencies[-1]:.2f} s, mean {statistics.mean(latencies):.2f} s")  # fmt: skip
    print(f"probes that never entered: {missing}")


if __name__ == "__main__":
    main()
