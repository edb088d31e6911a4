from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from consent.models import ConsentRecord
from personalization.demo_store import DemoConfig, DemoStore
from personalization.models import Customer, Product
from tracking.models import Event, EventType

UNTIL = datetime(2026, 11, 1, tzinfo=UTC)
SMALL = DemoConfig(customers=300, products=120, categories=12, events=12_000, days=90, seed=7, until=UNTIL)


@pytest.fixture(scope="module")
def store() -> DemoStore:
    store = DemoStore(SMALL)
    store.simulate()
    return store


def fingerprint(store: DemoStore) -> list[tuple]:
    return [(e.message_id, e.type, e.occurred_at, e.user_id, e.product_sku) for e in store.events()]


def test_the_same_seed_gives_the_same_store_event_for_event(store):
    again = DemoStore(SMALL)
    again.simulate()
    assert fingerprint(again) == fingerprint(store)
    assert again.ground_truth() == store.ground_truth()
    assert [p.sku for p in again.catalog] == [p.sku for p in store.catalog]


def test_another_seed_gives_another_store(store):
    other = DemoStore(DemoConfig(**{**SMALL.__dict__, "seed": 8}))
    other.simulate()
    assert fingerprint(other) != fingerprint(store)


def test_the_store_has_about_the_requested_number_of_events(store):
    assert abs(len(fingerprint(store)) - SMALL.events) / SMALL.events < 0.15


def test_the_catalog_spreads_products_over_the_categories(store):
    counts = Counter(p.category for p in store.catalog)
    assert len(counts) == 12
    assert set(counts.values()) == {10}


def test_sessions_follow_the_funnel_from_views_to_carts_to_orders(store):
    types = Counter(e.type for e in store.events())
    assert types[EventType.PRODUCT_VIEWED] > types[EventType.PRODUCT_ADDED] > types[EventType.ORDER_COMPLETED] > 0
    assert types[EventType.CHECKOUT_STARTED] == types[EventType.ORDER_COMPLETED]


def test_some_carts_were_abandoned_in_the_last_day(store):
    last_day = [e for e in store.events() if e.occurred_at > UNTIL - timedelta(days=1)]
    adders = {e.user_id for e in last_day if e.type == EventType.PRODUCT_ADDED}
    buyers = {e.user_id for e in last_day if e.type == EventType.ORDER_COMPLETED}
    assert len(adders - buyers) >= 3


def test_newcomers_browse_anonymously_then_identify(store):
    newcomer = next(p for p in store.people if p.lifecycle == "new")
    first, *rest = sorted(newcomer.events, key=lambda e: e.occurred_at)
    assert first.user_id == "" and first.anonymous_id
    identify = next(e for e in rest if e.type == EventType.IDENTIFY)
    assert identify.user_id == newcomer.external_id
    assert identify.anonymous_id == first.anonymous_id


def test_lapsing_customers_have_not_ordered_for_a_month(store):
    for person in (p for p in store.people if p.lifecycle == "lapsing"):
        orders = [e for e in person.events if e.type == EventType.ORDER_COMPLETED]
        assert all(e.occurred_at < UNTIL - timedelta(days=29) for e in orders)


def test_people_shop_more_in_the_evening_than_at_night(store):
    hours = Counter(e.occurred_at.astimezone(ZoneInfo(p.timezone)).hour for p in store.people for e in p.events)
    assert sum(hours[h] for h in (19, 20, 21)) > 5 * sum(hours[h] for h in (2, 3, 4))


def test_people_mostly_view_their_preferred_categories(store):
    hits = total = 0
    for person in store.people:
        views = [e for e in person.events if e.type == EventType.PRODUCT_VIEWED]
        if len(views) >= 15:
            top = Counter(e.properties["category"] for e in views).most_common(1)[0][0]
            hits += top in person.preferred_categories
            total += 1
    assert total > 20
    assert hits / total > 0.85


def test_the_ground_truth_names_tastes_and_future_buyers(store):
    truth = store.ground_truth()
    assert truth["seed"] == 7 and truth["horizon_days"] == 30
    person = store.people[0]
    entry = truth["customers"][person.external_id]
    assert entry["preferred_categories"] == person.preferred_categories
    buyers = [c for c in truth["customers"].values() if c["will_buy_next_30d"]]
    lapsing_buyers = [c for c in buyers if c["lifecycle"] == "lapsing"]
    assert 0 < len(buyers) < len(truth["customers"])
    assert not lapsing_buyers


@pytest.mark.django_db
def test_seed_demo_writes_through_the_durable_path_and_a_rerun_stores_nothing_new(tmp_path, capsys):
    args = ["--customers=60", "--products=24", "--events=1500", "--seed=3", "--until=2026-11-01"]
    call_command("seed_demo", *args, f"--ground-truth={tmp_path / 'truth.json'}")
    events = Event.objects.count()
    assert events > 1000
    assert Customer.objects.count() == 60 and Product.objects.count() == 24
    assert (tmp_path / "truth.json").exists()
    identified = Event.objects.exclude(user_id="")
    assert identified.filter(customer__isnull=True).count() == 0

    decisions = ConsentRecord.objects.count()
    assert decisions > 60

    call_command("seed_demo", *args, f"--ground-truth={tmp_path / 'truth.json'}")
    assert Event.objects.count() == events
    assert ConsentRecord.objects.count() == decisions
    assert f"0 events stored ({events} already there)" in capsys.readouterr().out


def test_most_people_agreed_to_email_and_a_few_unsubscribed_since(store):
    rows = store.consent_rows()
    subscribers = {r.email for r in rows if r.purpose == "email_marketing" and not r.topic and r.decision == "granted"}
    leavers = {r.email for r in rows if r.decision == "withdrawn"}
    assert 0.6 < len(subscribers) / len(store.people) < 0.85
    assert leavers and leavers < subscribers
    assert all(r.topic in ("", "newsletter", "offers", "product-updates") for r in rows)


@pytest.mark.django_db
def test_seed_demo_if_empty_leaves_a_filled_database_alone(tmp_path, capsys):
    Customer.objects.create(external_id="already-here")
    call_command("seed_demo", "--if-empty", "--events=100", f"--ground-truth={tmp_path / 't.json'}")
    assert Customer.objects.count() == 1
    assert "leaving it as it is" in capsys.readouterr().out
