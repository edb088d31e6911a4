"""The durable write path (tracking.services.events_store) against its ceiling,
Postgres COPY of the same rows, measured in the same run.

    .venv/bin/python bench/write_path.py [--events 100000]
"""

import argparse
import time
from datetime import UTC, datetime

from _setup import django_setup, machine


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    django_setup()

    import orjson
    from django.db import connection

    from personalization.demo_store import DemoConfig, DemoStore
    from tracking.models import Event
    from tracking.services import events_store

    until = datetime(2026, 11, 1, tzinfo=UTC)
    store = DemoStore(DemoConfig(customers=args.events // 40, events=args.events, until=until))
    store.simulate()
    drafts = list(store.events())[: args.events]
    print(f"machine: {machine()}; {len(drafts)} demo events")

    def truncate():
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {Event._meta.db_table}")

    for batch in (100, 1000):
        truncate()
        started = time.perf_counter()
        for start in range(0, len(drafts), batch):
            events_store(drafts=drafts[start : start + batch])
        elapsed = time.perf_counter() - started
        print(f"events_store, batches of {batch:>4}: {len(drafts) / elapsed:>9,.0f} events/s")
    started = time.perf_counter()
    for start in range(0, len(drafts), 1000):
        events_store(drafts=drafts[start : start + 1000])
    print(f"events_store, all repeats:         {len(drafts) / (time.perf_counter() - started):>9,.0f} events/s")

    truncate()
    columns = "message_id, type, user_id, anonymous_id, product_sku, properties, context, occurred_at, received_at"
    now = datetime.now(UTC)
    started = time.perf_counter()
    copy_sql = f"COPY {Event._meta.db_table} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(copy_sql) as copy:
        for d in drafts:
            copy.write_row(
                (d.message_id, d.type, d.user_id, d.anonymous_id, d.product_sku or None,
                 orjson.dumps(d.properties).decode(), orjson.dumps(d.context).decode(), d.occurred_at, now)
            )  # fmt: skip
    print(f"ceiling, COPY of the same rows:     {len(drafts) / (time.perf_counter() - started):>9,.0f} events/s")
    truncate()


if __name__ == "__main__":
    main()
