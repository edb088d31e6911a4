"""Many rows in one statement (`core.db`): what is written is what bulk_create and
bulk_update would write, value for value, and `any_of` selects what `__in` selects."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from core.db import rows_insert_new, rows_update, rows_upsert
from personalization.models import Customer, SegmentCheck, SegmentMembership, Traits
from tests.factories import CustomerFactory, SegmentFactory, SegmentMembershipFactory, TraitsFactory

pytestmark = pytest.mark.django_db

LAST_ORDER = datetime(2026, 11, 30, 8, 15, 30, 123456, tzinfo=UTC)
UPDATED = ["order_count", "revenue", "last_order_at", "last_viewed", "category_weights", "engagement_log"]


def traits_of(customer, **values) -> Traits:
    return Traits(customer_id=customer.pk, **values)


def test_an_upsert_inserts_rows_that_do_not_exist_with_their_defaults():
    customer = CustomerFactory()

    rows_upsert(Traits, [traits_of(customer, order_count=2)], unique_fields=["customer"], update_fields=UPDATED)

    stored = Traits.objects.get(customer=customer)
    assert (stored.order_count, stored.revenue, stored.event_counts, stored.cart) == (2, Decimal("0.00"), {}, [])


def test_an_upsert_updates_only_the_named_fields_of_rows_that_exist():
    customer = CustomerFactory()
    TraitsFactory(customer=customer, order_count=1, email_opens_30d=7)

    rows_upsert(Traits, [traits_of(customer, order_count=5, email_opens_30d=0)], unique_fields=["customer"],
                update_fields=UPDATED)  # fmt: skip

    stored = Traits.objects.get(customer=customer)
    assert (stored.order_count, stored.email_opens_30d) == (5, 7)


def test_an_upsert_keeps_every_kind_of_value_exactly():
    customer = CustomerFactory()
    viewed = [{"sku": "BOOT", "at": "2026-11-30T08:00:00+00:00", "tags": ["new", "ünïcode"]}]
    written = traits_of(customer, revenue=Decimal("12345678.91"), last_order_at=LAST_ORDER, last_viewed=viewed,
                        category_weights={"Shoes": 2.5}, engagement_log=1 / 3)  # fmt: skip

    rows_upsert(Traits, [written], unique_fields=["customer"], update_fields=UPDATED)

    stored = Traits.objects.get(customer=customer)
    assert (stored.revenue, stored.last_order_at, stored.last_viewed, stored.category_weights,
            stored.engagement_log) == (Decimal("12345678.91"), LAST_ORDER, viewed, {"Shoes": 2.5}, 1 / 3)  # fmt: skip


def test_an_upsert_writes_nulls_as_nulls():
    customer = CustomerFactory()
    TraitsFactory(customer=customer, last_order_at=LAST_ORDER, engagement_log=2.0)

    rows_upsert(Traits, [traits_of(customer, last_order_at=None, engagement_log=None)], unique_fields=["customer"],
                update_fields=UPDATED)  # fmt: skip

    stored = Traits.objects.get(customer=customer)
    assert (stored.last_order_at, stored.engagement_log) == (None, None)


def test_an_upsert_stamps_auto_now_fields():
    customer = CustomerFactory()
    TraitsFactory(customer=customer)
    Traits.objects.filter(customer=customer).update(updated_at=LAST_ORDER)

    rows_upsert(Traits, [traits_of(customer)], unique_fields=["customer"], update_fields=["updated_at"])

    assert Traits.objects.get(customer=customer).updated_at > LAST_ORDER


def test_an_update_writes_the_named_fields_of_each_row_by_primary_key():
    ana, bo = CustomerFactory(first_name="Ana", locale="en-US"), CustomerFactory(first_name="Bo")
    ana.first_name, ana.locale, ana.last_seen_at = "Anna", "de-DE", LAST_ORDER
    bo.first_name, bo.attributes = "Bob", {"vip": True, "size": 42}

    rows_update(Customer, [ana, bo], fields=["first_name", "locale", "last_seen_at", "attributes"])

    assert list(Customer.objects.order_by("pk").values_list("first_name", "locale", "last_seen_at", "attributes")) == [
        ("Anna", "de-DE", LAST_ORDER, {}), ("Bob", "en-US", None, {"vip": True, "size": 42}),
    ]  # fmt: skip


def test_an_update_leaves_the_fields_not_named_as_they_are_stored():
    ana = CustomerFactory(first_name="Ana", last_name="Lee")
    ana.last_name = "changed in memory only"
    ana.first_name = "Anna"

    rows_update(Customer, [ana], fields=["first_name"])

    assert Customer.objects.values_list("first_name", "last_name").get() == ("Anna", "Lee")


def test_an_update_stamps_auto_now_fields_it_names():
    ana = CustomerFactory()
    Customer.objects.filter(pk=ana.pk).update(updated_at=LAST_ORDER - timedelta(days=1))

    rows_update(Customer, [ana], fields=["updated_at"])

    assert Customer.objects.get(pk=ana.pk).updated_at > LAST_ORDER


def test_any_of_selects_what_in_selects():
    customers = CustomerFactory.create_batch(4)
    ids = [customers[0].pk, customers[2].pk, customers[3].pk + 1000]

    assert sorted(Customer.objects.filter(pk__any_of=ids).values_list("pk", flat=True)) == sorted(
        Customer.objects.filter(pk__in=ids).values_list("pk", flat=True)
    )


def test_any_of_an_empty_list_selects_nothing():
    CustomerFactory()

    assert not Customer.objects.filter(pk__any_of=[]).exists()


def test_any_of_works_through_a_foreign_key_and_its_column():
    segment, ana, bo = SegmentFactory(), CustomerFactory(), CustomerFactory()
    SegmentMembershipFactory(segment=segment, customer=ana)
    SegmentMembershipFactory(segment=segment, customer=bo)

    by_key = SegmentMembership.objects.filter(customer__any_of={ana.pk}).values_list("customer_id", flat=True)
    by_column = SegmentMembership.objects.filter(customer_id__any_of={bo.pk}).values_list("customer_id", flat=True)

    assert (list(by_key), list(by_column)) == ([ana.pk], [bo.pk])


def test_inserting_new_rows_leaves_out_those_already_there_and_keeps_the_rest():
    segment, ana, bo = SegmentFactory(), CustomerFactory(), CustomerFactory()
    SegmentCheck.objects.create(segment=segment, customer=ana, due_at=LAST_ORDER)

    rows_insert_new(SegmentCheck, [SegmentCheck(segment=segment, customer=ana, due_at=LAST_ORDER),
                                   SegmentCheck(segment=segment, customer=bo, due_at=LAST_ORDER)])  # fmt: skip

    assert sorted(SegmentCheck.objects.values_list("customer_id", flat=True)) == sorted([ana.pk, bo.pk])
