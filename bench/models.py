"""Recommendations at scale: 1 million interactions of 100,000 customers with 20,000
products, in Postgres.

    .venv/bin/python bench/models.py [--customers 100000] [--products 20000] [--interactions 1000000]

Prints the end-to-end training time from the database (reading the interactions,
the holdout evaluation, the final fit, storing the artifact), top-10 for every
customer with the trained model, one customer's real-time refresh after new events
(their list re-ranked from their events), and the p50/p99 of reading a cached list;
as ceilings in the same run: the ALS fit alone on the same matrix, and a bare Redis
GET of the same cached value.
"""

import argparse
import os
import statistics
import sys
import time

from _processes import database_fresh
from _setup import ROOT, machine

BENCH_DB = "tailor_bench_models"
BENCH_REDIS = "redis://127.0.0.1:6379/4"


def store_write(cursor, customers: int, products: int, interactions: int) -> None:
    """Customers with taste: each belongs to one of 1,000 groups of 20 products, and 80% of
    what they touch comes from it; a tenth of the touches are adds to cart, a twentieth orders."""
    cursor.execute(
        """INSERT INTO personalization_product (created_at, updated_at, sku, name, category, price, currency, url,
                                                image_url, in_stock, attributes)
           SELECT now(), now(), 'P' || g, 'Product ' || g, 'Group ' || (g %% 50), 10 + g %% 90, 'USD', '', '',
                  g %% 20 <> 0, '{}' FROM generate_series(0, %s - 1) g""",
        [products],
    )
    cursor.execute(
        """INSERT INTO personalization_customer (created_at, updated_at, external_id, email, first_name, last_name,
                                                 timezone, locale, attributes)
           SELECT now(), now(), 'c' || g, 'c' || g || '@example.com', '', '', 'UTC', 'en-US', '{}'
           FROM generate_series(1, %s) g""",
        [customers],
    )
    cursor.execute(
        """INSERT INTO consent_consentrecord (customer_id, subject_hash, purpose, decision, source, policy_version,
               wording, proof, actor, recorded_at)
           SELECT id, '', 'personalization', 'granted', 'signup_form', '1', '', '{}', 'bench', now()
           FROM personalization_customer"""
    )
    cursor.execute(
        """INSERT INTO tracking_event (message_id, type, user_id, anonymous_id, customer_id, product_sku, properties,
                                       context, occurred_at, received_at)
           SELECT 'i-' || g, CASE WHEN r < 0.05 THEN 'Order Completed' WHEN r < 0.15 THEN 'Product Added'
                                  ELSE 'Product Viewed' END,
                  'c' || c, '', c,
                  'P' || CASE WHEN random() < 0.8 THEN ((c %% 1000) * 20 + floor(random() * 20)::int) %% %s
                              ELSE floor(random() * %s)::int END,
                  '{}', '{}', at, at
           FROM (SELECT g, 1 + floor(random() * %s)::int AS c, random() AS r,
                        now() - random() * interval '180 days' AS at
                 FROM generate_series(1, %s) g) e""",
        [products, products, customers, interactions],
    )
    cursor.execute("ANALYZE")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    args = parser.parse_args()

    database_url = database_fresh(BENCH_DB)
    os.environ.update({"DATABASE_URL": database_url, "REDIS_URL": BENCH_REDIS, "SECRET_KEY": "bench-only-secret-key",
                       "CELERY_TASK_ALWAYS_EAGER": "true", "DJANGO_SETTINGS_MODULE": "config.settings"})  # fmt: skip
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import numpy as np
    import redis
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from personalization.models import Customer
    from personalization.recommendations.interactions import interactions_load
    from personalization.recommendations.serving import (
        recommendations_follow_events,
        recommendations_for,
    )
    from personalization.recommendations.training import als_fit, hyperparameters_for, recommender_train
    from tracking.models import Event

    call_command("migrate", verbosity=0)
    redis.Redis.from_url(BENCH_REDIS).flushdb()
    with connection.cursor() as cursor:
        store_write(cursor, args.customers, args.products, args.interactions)
    print(f"machine: {machine()}")
    print(f"store: {args.customers:,} customers, {args.products:,} products, {Event.objects.count():,} interactions")

    started = time.perf_counter()
    version = recommender_train()
    training = time.perf_counter() - started
    print(f"training from the database, end to end: {training:.1f} s ({version.get_status_display()}: "
          f"{version.decision}); target < 30 s")  # fmt: skip

    matrix = interactions_load(now=timezone.now()).matrix
    started = time.perf_counter()
    model = als_fit(matrix, hyperparameters_for(matrix))
    print(f"  ceiling: the ALS fit alone on the same {matrix.shape[0]:,} x {matrix.shape[1]:,} matrix: "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip

    started = time.perf_counter()
    users = np.arange(matrix.shape[0])
    for start in range(0, len(users), 10_000):
        chunk = users[start : start + 10_000]
        model.recommend(chunk, matrix[chunk], N=10, filter_already_liked_items=True)
    print(f"top-10 for all {len(users):,} customers: {time.perf_counter() - started:.1f} s; target < 30 s")

    customer = Customer.objects.get(external_id="c42")
    recommendations_for(customer=customer)  # read once: now it is a list in use
    Event.objects.create(message_id="bench-new", type="Product Viewed", customer=customer, user_id="c42",
                         product_id="P7", occurred_at=timezone.now())  # fmt: skip
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        recommendations_follow_events(customer_ids={customer.pk})
        timings.append(time.perf_counter() - started)
    print(f"one customer's real-time refresh: median {statistics.median(timings) * 1000:.1f} ms, "
          f"max {max(timings) * 1000:.1f} ms; target < 50 ms")  # fmt: skip

    readers = list(Customer.objects.order_by("?")[:500])
    for reader in readers:
        recommendations_for(customer=reader)
    timings = []
    for _ in range(4):
        for reader in readers:
            started = time.perf_counter()
            recommendations_for(customer=reader)
            timings.append(time.perf_counter() - started)
    print(f"cached lookup ({len(timings):,} reads): p50 {percentile(timings, 0.5) * 1000:.2f} ms, "
          f"p99 {percentile(timings, 0.99) * 1000:.2f} ms; target p99 < 2 ms")  # fmt: skip
    timings = []
    for reader in readers:
        started = time.perf_counter()
        cache.get(f"bench-ceiling-{reader.pk}")
        timings.append(time.perf_counter() - started)
    print(f"  ceiling: a bare Redis GET: p99 {percentile(timings, 0.99) * 1000:.2f} ms")


if __name__ == "__main__":
    main()
