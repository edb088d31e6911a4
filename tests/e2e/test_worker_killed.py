"""A worker killed in the middle of a batch loses nothing and applies nothing twice."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from config.celery import app as celery_app
from personalization.models import Traits
from tracking.models import Event
from tracking.selectors import events_waiting
from tracking.services import EventDraft, events_store

pytestmark = [
    pytest.mark.e2e,
    # The test process runs tasks eagerly; send_task goes to the broker on purpose.
    pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored"),
]

PEOPLE, EVENTS_EACH = 3000, 10
START = datetime(2026, 11, 1, tzinfo=UTC)


def backlog() -> None:
    drafts = [
        EventDraft(
            message_id=f"m-{person}-{n}",
            type="Product Viewed",
            occurred_at=START + timedelta(minutes=n),
            user_id=f"user-{person}",
            product_sku=f"SKU-{n}",
        )
        for person in range(PEOPLE)
        for n in range(EVENTS_EACH)
    ]
    for start in range(0, len(drafts), 5000):
        events_store(drafts=drafts[start : start + 5000])


def processed() -> int:
    return Event.objects.count() - events_waiting().count()


def wait_until(condition, timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False


def batch_in_flight() -> bool:
    """Another session holds locks on the events table: a batch transaction is open."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE c.relname = 'tracking_event' AND l.pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0] > 0


def counted_views() -> int:
    return sum(t.event_counts.get("Product Viewed", 0) for t in Traits.objects.all())


def test_a_worker_killed_mid_batch_is_resumed_without_a_duplicate_or_a_skip(worker_factory):
    backlog()
    total = PEOPLE * EVENTS_EACH
    first = worker_factory()
    celery_app.send_task("tracking.tasks.events_process_task")  # to the broker, not run here
    assert wait_until(lambda: processed() > 0 and batch_in_flight(), timeout=60), "no batch was ever in flight"
    first.kill()
    done_at_kill = processed()
    assert 0 < done_at_kill < total, "the kill must land while work remains"
    assert counted_views() == done_at_kill, "what was committed is counted exactly once"

    worker_factory()
    celery_app.send_task("tracking.tasks.events_process_task")
    assert wait_until(lambda: processed() == total, timeout=120)
    assert counted_views() == total
    per_person = {t.event_counts["Product Viewed"] for t in Traits.objects.all()}
    assert per_person == {EVENTS_EACH}
    assert Traits.objects.count() == PEOPLE
