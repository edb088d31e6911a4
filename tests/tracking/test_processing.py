"""Processing: stored events are resolved to people and folded into their profiles."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.forms.models import model_to_dict

from consent.models import ConsentRecord, ConsentSource, Decision, Purpose, Suppression, SuppressionReason
from consent.selectors import can_email, is_suppressed
from consent.services import consent_grant, consent_withdraw
from personalization.models import Customer, Identity, IdentityKind, Traits
from tracking import hooks
from tracking.hooks import ProcessedBatch, events_processed_subscribe
from tracking.models import Event
from tracking.selectors import events_waiting
from tracking.services import EventDraft, events_process, events_process_batch, events_store

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return WHEN + timedelta(minutes=minutes)


def store(event_type: str, *, minutes: int = 0, **fields) -> str:
    """Store one event the way every sender does; return its message id."""
    message_id = str(uuid.uuid4())
    result = events_store(
        drafts=[EventDraft(message_id=message_id, type=event_type, occurred_at=at(minutes), **fields)]
    )
    assert result.stored == 1, result.rejected
    return message_id


def customer_of(user_id: str) -> Customer:
    return Identity.objects.get(kind=IdentityKind.USER_ID, value=user_id).customer


def traits_of(user_id: str) -> Traits:
    return Traits.objects.get(customer=customer_of(user_id))


def identify(user_id: str, minutes: int = 0, anonymous_id: str = "", **traits) -> str:
    return store("Identify", minutes=minutes, user_id=user_id, anonymous_id=anonymous_id, properties=traits)


# --- who an event is about ----------------------------------------------------------


def test_a_new_user_id_gets_a_customer_with_a_user_id_identity():
    message_id = store("Product Viewed", user_id="shop-1", product_sku="SKU-1")

    assert events_process() == 1

    customer = Customer.objects.get(external_id="shop-1")
    assert Identity.objects.get(kind=IdentityKind.USER_ID, value="shop-1").customer == customer
    event = Event.objects.get(message_id=message_id)
    assert event.customer == customer
    assert not events_waiting().exists()


@pytest.fixture
def anonymous_history():
    """A visitor browsed anonymously (processed, belonging to nobody), then identified."""
    viewed = store("Product Viewed", minutes=0, anonymous_id="anon-1", product_sku="SKU-1")
    events_process()
    assert Event.objects.get(message_id=viewed).customer is None
    identify("shop-1", minutes=10, anonymous_id="anon-1")
    events_process()
    return Event.objects.get(message_id=viewed)


def test_an_identify_links_the_anonymous_id_to_the_user(anonymous_history):
    assert Identity.objects.get(kind=IdentityKind.ANONYMOUS_ID, value="anon-1").customer == customer_of("shop-1")


def test_an_identify_puts_the_anonymous_history_already_processed_on_the_customer(anonymous_history):
    assert anonymous_history.customer == customer_of("shop-1")
    assert not events_waiting().exists()


def test_the_linked_anonymous_history_is_folded_into_the_customers_traits(anonymous_history):
    traits = traits_of("shop-1")
    assert traits.event_counts == {"Product Viewed": 1, "Identify": 1}
    assert traits.last_viewed == [{"sku": "SKU-1", "at": at(0).isoformat()}]
    assert customer_of("shop-1").first_seen_at == at(0)


# --- alias: two known profiles are one person ------------------------------------------


@pytest.fixture
def merged():
    """Two profiles with their own history, then an alias saying they are one person."""
    identify("old-id", minutes=0, anonymous_id="anon-old", email="old@example.com")
    store("Product Viewed", minutes=1, user_id="old-id", product_sku="SKU-A")
    store("Product Viewed", minutes=2, user_id="old-id", product_sku="SKU-A")
    store("Order Completed", minutes=3, user_id="old-id", properties={"revenue": "10.00"})
    identify("new-id", minutes=4, email="new@example.com")
    store("Product Viewed", minutes=5, user_id="new-id", product_sku="SKU-B")
    store("Order Completed", minutes=6, user_id="new-id", properties={"revenue": "5.50"})
    events_process()
    gone, survivor = customer_of("old-id"), customer_of("new-id")
    assert gone != survivor

    def alias():
        store("Alias", minutes=10, user_id="new-id", properties={"previousId": "old-id"})
        events_process()
        gone.refresh_from_db()
        survivor.refresh_from_db()

    return gone, survivor, alias


def test_an_alias_moves_the_identities_of_the_merged_profile_to_the_survivor(merged):
    gone, survivor, alias = merged
    alias()
    assert set(Identity.objects.filter(customer=survivor).values_list("kind", "value")) == {
        (IdentityKind.USER_ID, "old-id"),
        (IdentityKind.ANONYMOUS_ID, "anon-old"),
        (IdentityKind.USER_ID, "new-id"),
    }
    assert not Identity.objects.filter(customer=gone).exists()


def test_an_alias_moves_the_events_of_the_merged_profile_to_the_survivor(merged):
    gone, survivor, alias = merged
    alias()
    assert not Event.objects.filter(customer=gone).exists()
    assert Event.objects.filter(user_id="old-id", customer=survivor).count() == 4


def test_the_merged_profile_stays_as_a_tombstone_without_email_or_external_id(merged):
    gone, survivor, alias = merged
    alias()
    assert gone.merged_into == survivor
    assert (gone.email, gone.external_id) == ("", None)
    assert (survivor.email, survivor.external_id) == ("new@example.com", "new-id")


def test_the_traits_of_merged_profiles_add_up(merged):
    gone, survivor, alias = merged
    alias()
    traits = Traits.objects.get(customer=survivor)
    assert traits.event_counts == {"Identify": 2, "Product Viewed": 3, "Order Completed": 2, "Alias": 1}
    assert (traits.order_count, traits.revenue) == (2, Decimal("15.50"))
    assert (traits.first_order_at, traits.last_order_at) == (at(3), at(6))
    assert [item["sku"] for item in traits.last_viewed] == ["SKU-B", "SKU-A"]
    assert not Traits.objects.filter(customer=gone).exists()


def _decide(customer, decision: str, minutes: int) -> ConsentRecord:
    record = consent_grant if decision == Decision.GRANTED else consent_withdraw
    return record(
        customer=customer,
        purpose=Purpose.EMAIL_MARKETING,
        source=ConsentSource.API,
        actor="api-key:tests",
        recorded_at=at(minutes),
    )


def test_a_consent_decision_of_the_merged_profile_newer_than_the_survivors_is_copied(merged):
    gone, survivor, alias = merged
    _decide(survivor, Decision.WITHDRAWN, minutes=1)
    theirs = _decide(gone, Decision.GRANTED, minutes=2)

    alias()

    latest = ConsentRecord.objects.filter(customer=survivor, purpose=Purpose.EMAIL_MARKETING).first()
    assert (latest.decision, latest.source, latest.recorded_at) == (
        Decision.GRANTED,
        ConsentSource.PROFILE_MERGE,
        theirs.recorded_at,
    )
    assert latest.proof["record"] == theirs.pk
    assert list(ConsentRecord.objects.filter(customer=gone)) == [theirs]  # evidence stays where it was made


def test_a_consent_decision_of_the_merged_profile_older_than_the_survivors_is_not_copied(merged):
    gone, survivor, alias = merged
    _decide(gone, Decision.GRANTED, minutes=1)
    ours = _decide(survivor, Decision.WITHDRAWN, minutes=2)

    alias()

    assert list(ConsentRecord.objects.filter(customer=survivor)) == [ours]


def test_an_alias_with_an_unknown_previous_id_makes_both_kinds_of_identity_point_to_the_user():
    store("Product Viewed", user_id="shop-1", product_sku="SKU-1")
    store("Alias", minutes=1, user_id="shop-1", properties={"previousId": "legacy-7"})

    events_process()

    assert set(Identity.objects.filter(value="legacy-7").values_list("kind", "customer")) == {
        (IdentityKind.USER_ID, customer_of("shop-1").pk),
        (IdentityKind.ANONYMOUS_ID, customer_of("shop-1").pk),
    }


# --- what profiles learn from events -----------------------------------------------------


def test_events_are_counted_per_type():
    for minutes, event_type in enumerate(["Product Viewed", "Page Viewed", "Product Viewed", "Size Guide Opened"]):
        store(event_type, minutes=minutes, user_id="shop-1", product_sku="SKU-1")
    events_process()
    store("Product Viewed", minutes=9, user_id="shop-1", product_sku="SKU-2")
    events_process()

    assert traits_of("shop-1").event_counts == {"Product Viewed": 3, "Page Viewed": 1, "Size Guide Opened": 1}


@pytest.mark.parametrize(
    ("properties", "value"),
    [
        ({"revenue": 30.5, "total": 99, "products": [{"price": 1, "quantity": 1}]}, Decimal("30.50")),
        ({"total": "20", "products": [{"price": 1, "quantity": 1}]}, Decimal("20.00")),
        ({"products": [{"price": 10, "quantity": 2}, {"price": "5.25"}]}, Decimal("25.25")),
    ],
    ids=["revenue", "else-total", "else-products-price-times-quantity"],
)
def test_an_orders_value_is_its_revenue_else_its_total_else_its_products(properties, value):
    store("Order Completed", user_id="shop-1", properties=properties)
    events_process()

    traits = traits_of("shop-1")
    assert (traits.order_count, traits.revenue) == (1, value)


def test_orders_add_up_to_the_order_count_and_revenue():
    store("Order Completed", minutes=0, user_id="shop-1", properties={"revenue": "30.50"})
    store("Order Completed", minutes=1, user_id="shop-1", properties={"total": 20})
    events_process()
    store("Order Completed", minutes=2, user_id="shop-1", properties={"products": [{"price": 12.5, "quantity": 2}]})
    events_process()

    traits = traits_of("shop-1")
    assert (traits.order_count, traits.revenue) == (3, Decimal("75.50"))


def test_first_and_last_order_hold_whatever_order_the_orders_arrive_in():
    store("Order Completed", minutes=20, user_id="shop-1", properties={"total": 1})
    events_process()
    store("Order Completed", minutes=10, user_id="shop-1", properties={"total": 1})
    store("Order Completed", minutes=30, user_id="shop-1", properties={"total": 1})
    store("Order Completed", minutes=15, user_id="shop-1", properties={"total": 1})
    events_process()

    traits = traits_of("shop-1")
    assert (traits.first_order_at, traits.last_order_at) == (at(10), at(30))


def test_last_viewed_is_newest_first_one_entry_per_product_and_at_most_twenty():
    for n in range(25):
        store("Product Viewed", minutes=n, user_id="shop-1", product_sku=f"SKU-{n:02d}")
    events_process()
    store("Product Viewed", minutes=30, user_id="shop-1", product_sku="SKU-03")
    events_process()

    last_viewed = traits_of("shop-1").last_viewed
    assert [item["sku"] for item in last_viewed] == ["SKU-03"] + [f"SKU-{n:02d}" for n in range(24, 5, -1)]
    assert last_viewed[0]["at"] == at(30).isoformat()


def test_the_cart_holds_what_was_added_and_not_removed():
    runner = {"name": "Runner", "price": 10, "quantity": 2}
    store("Product Added", minutes=0, user_id="shop-1", product_sku="RUN-1", properties=runner)
    store("Product Added", minutes=1, user_id="shop-1", product_sku="SOCK-1", properties={"price": 3})
    events_process()
    store("Product Added", minutes=2, user_id="shop-1", product_sku="RUN-1", properties={**runner, "quantity": 1})
    store("Product Removed", minutes=3, user_id="shop-1", product_sku="SOCK-1")
    events_process()

    traits = traits_of("shop-1")
    assert traits.cart == [
        {"sku": "RUN-1", "name": "Runner", "price": 10.0, "quantity": 3, "added_at": at(0).isoformat()}
    ]
    assert traits.cart_updated_at == at(3)


def test_an_order_clears_what_was_added_to_the_cart_before_it():
    store("Product Added", minutes=0, user_id="shop-1", product_sku="RUN-1")
    store("Order Completed", minutes=5, user_id="shop-1", properties={"total": 10})
    store("Product Added", minutes=10, user_id="shop-1", product_sku="SOCK-1")
    events_process()

    assert [item["sku"] for item in traits_of("shop-1").cart] == ["SOCK-1"]


def test_a_product_added_before_the_last_order_but_arriving_after_it_does_not_come_back():
    store("Order Completed", minutes=20, user_id="shop-1", properties={"total": 10})
    events_process()
    store("Product Added", minutes=10, user_id="shop-1", product_sku="RUN-1")  # late: it was bought
    store("Product Added", minutes=30, user_id="shop-1", product_sku="SOCK-1")
    events_process()

    assert [item["sku"] for item in traits_of("shop-1").cart] == ["SOCK-1"]


def test_first_and_last_seen_are_the_earliest_and_latest_event_times_whatever_the_arrival_order():
    store("Page Viewed", minutes=30, user_id="shop-1")
    events_process()
    store("Page Viewed", minutes=10, user_id="shop-1")
    events_process()

    customer = customer_of("shop-1")
    assert (customer.first_seen_at, customer.last_seen_at) == (at(10), at(30))


# --- identify traits -------------------------------------------------------------------------


def test_identify_traits_set_the_normalized_email_names_and_timezone():
    identify(
        "shop-1",
        email="  Ada.Lovelace@Example.COM ",
        firstName="Ada",
        lastName="Lovelace",
        timezone="Europe/London",
    )
    events_process()

    customer = customer_of("shop-1")
    assert (customer.email, customer.first_name, customer.last_name, customer.timezone) == (
        "ada.lovelace@example.com",
        "Ada",
        "Lovelace",
        "Europe/London",
    )


def test_an_invalid_timezone_in_identify_traits_is_ignored():
    identify("shop-1", minutes=0, timezone="Europe/Paris")
    identify("shop-1", minutes=1, timezone="Mars/Olympus_Mons")
    events_process()

    customer = customer_of("shop-1")
    assert customer.timezone == "Europe/Paris"
    assert "timezone" not in customer.attributes


def test_identify_traits_without_a_column_of_their_own_go_to_attributes():
    identify("shop-1", minutes=0, email="ada@example.com", plan="gold", shoe_size=38)
    identify("shop-1", minutes=1, plan="platinum", vip=True)
    events_process()

    assert customer_of("shop-1").attributes == {"plan": "platinum", "shoe_size": 38, "vip": True}


# --- processing is idempotent ---------------------------------------------------------------


def test_processing_again_processes_nothing_and_changes_no_traits():
    identify("shop-1", minutes=0, anonymous_id="anon-1", email="ada@example.com")
    store("Product Added", minutes=1, user_id="shop-1", product_sku="RUN-1", properties={"price": 10})
    store("Order Completed", minutes=2, user_id="shop-1", properties={"total": 10})
    store("Product Viewed", minutes=3, anonymous_id="anon-1", product_sku="SOCK-1")
    assert events_process() == 4
    before = model_to_dict(traits_of("shop-1"))

    assert events_process() == 0
    assert events_process_batch() == 0
    assert model_to_dict(traits_of("shop-1")) == before


# --- what ESPs say about addresses -----------------------------------------------------------


def test_a_hard_bounce_suppresses_the_address():
    store("Email Bounced", user_id="shop-1", properties={"bounce_type": "hard", "recipient": "Ada@Example.com"})
    events_process()

    assert is_suppressed("ada@example.com")
    assert Suppression.objects.get().reason == SuppressionReason.HARD_BOUNCE


def test_a_soft_bounce_does_not_suppress_the_address():
    store("Email Bounced", user_id="shop-1", properties={"bounce_type": "soft", "recipient": "ada@example.com"})
    events_process()

    assert not is_suppressed("ada@example.com")


def test_a_spam_complaint_stops_marketing_email_for_the_customer():
    identify("shop-1", email="ada@example.com")
    events_process()
    customer = customer_of("shop-1")
    consent_grant(customer=customer, purpose=Purpose.EMAIL_MARKETING, source=ConsentSource.API, actor="tests")
    assert can_email(customer)

    store("Email Marked as Spam", minutes=5, user_id="shop-1", properties={"recipient": "ada@example.com"})
    events_process()

    assert not can_email(customer)
    latest = ConsentRecord.objects.filter(customer=customer, purpose=Purpose.EMAIL_MARKETING).first()
    assert (latest.decision, latest.source) == (Decision.WITHDRAWN, ConsentSource.ESP_COMPLAINT)
    assert Suppression.objects.get().reason == SuppressionReason.COMPLAINT


# --- the "events processed" hook -------------------------------------------------------------


@pytest.fixture
def subscribe():
    """Register hook handlers for one test; they are gone afterwards."""
    names = []

    def register(name, handler):
        names.append(name)
        events_processed_subscribe(name, handler)

    yield register
    for name in names:
        hooks._subscribers.pop(name, None)


def test_a_subscriber_receives_the_customers_and_event_types_of_a_batch_after_commit(
    subscribe, django_capture_on_commit_callbacks
):
    received: list[ProcessedBatch] = []
    subscribe("tests-recorder", received.append)
    store("Product Viewed", minutes=0, user_id="shop-1", product_sku="SKU-1")
    store("Order Completed", minutes=1, user_id="shop-2", properties={"total": 5})

    with django_capture_on_commit_callbacks(execute=True):
        events_process()
        assert received == []  # not before the batch is committed

    [batch] = received
    assert batch.customer_ids == {customer_of("shop-1").pk, customer_of("shop-2").pk}
    assert batch.event_types == {"Product Viewed", "Order Completed"}


def test_a_failing_subscriber_stops_neither_the_other_subscribers_nor_the_processing(
    subscribe, django_capture_on_commit_callbacks, caplog
):
    def failing(batch):
        raise RuntimeError("subscriber bug")

    received: list[ProcessedBatch] = []
    subscribe("tests-failing", failing)
    subscribe("tests-recorder", received.append)
    store("Product Viewed", user_id="shop-1", product_sku="SKU-1")

    with django_capture_on_commit_callbacks(execute=True):
        assert events_process() == 1

    assert [batch.event_types for batch in received] == [{"Product Viewed"}]
    assert not events_waiting().exists()
    assert traits_of("shop-1").event_counts == {"Product Viewed": 1}
    assert "'tests-failing' subscriber failed" in caplog.text
