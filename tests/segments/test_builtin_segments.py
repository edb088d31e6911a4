"""The segments Tailor ships: made at migrate, each selecting the people its name promises."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from personalization.models import Customer, Segment, SegmentKind
from personalization.segments.builtins import BUILT_IN, segments_builtin_ensure
from personalization.segments.selectors import segment_member_ids
from personalization.segments.services import segment_refresh, segment_rules_validate
from personalization.services.traits import engagement_add
from tests.factories import CustomerFactory, EventFactory, TraitsFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def built_in(key: str) -> Segment:
    return Segment.objects.get(built_in=key)


def members_at_now(key: str) -> set[int]:
    """Refresh the built-in segment at NOW and return its members."""
    segment = segment_refresh(segment=built_in(key), now=NOW)
    return set(segment_member_ids(segment=segment))


def did(customer, event_type: str, ago: timedelta, **properties) -> None:
    EventFactory(customer=customer, type=event_type, occurred_at=NOW - ago, properties=properties)


def engaged(score: float, at: datetime = NOW) -> float:
    """The stored form of an engagement score of `score` at `at`."""
    return engagement_add(None, score, at)


def ordered(count: int, *, last_ago: timedelta, spend: int = 100):
    return TraitsFactory(order_count=count, revenue=Decimal(spend), last_order_at=NOW - last_ago).customer


# --- they exist ---------------------------------------------------------------------------


def test_the_six_built_in_segments_exist_as_rule_segments():
    shipped = Segment.objects.filter(built_in__in=BUILT_IN)

    assert sorted(shipped.values_list("built_in", flat=True)) == sorted(BUILT_IN)
    assert len(BUILT_IN) == 6
    for segment in shipped:
        name, description, rules = BUILT_IN[segment.built_in]
        assert (segment.name, segment.description, segment.rules) == (name, description, rules)
        assert segment.kind == SegmentKind.RULES and segment.is_active


@pytest.mark.parametrize("key", sorted(BUILT_IN))
def test_the_rules_of_each_built_in_segment_are_valid(key):
    segment_rules_validate(rules=BUILT_IN[key][2], segment_id=built_in(key).pk)


def test_a_deleted_built_in_segment_is_made_again_and_none_is_doubled():
    built_in("lapsing").delete()

    segments_builtin_ensure()
    segments_builtin_ensure()

    assert Segment.objects.filter(built_in__in=BUILT_IN).count() == 6
    assert Segment.objects.filter(built_in="lapsing").count() == 1


def test_a_built_in_segment_a_marketer_changed_is_left_as_it_is():
    Segment.objects.filter(built_in="recent_viewers").update(rules={"type": "event", "event": "Product Viewed"})

    segments_builtin_ensure()

    assert built_in("recent_viewers").rules == {"type": "event", "event": "Product Viewed"}


# --- cart abandoners: added in the last 24 h, at least an hour ago, no order since ---------


def test_cart_abandoners_added_to_cart_more_than_an_hour_ago_and_ordered_nothing_since():
    abandoner, ordered_before_adding = CustomerFactory(), CustomerFactory()
    did(abandoner, "Product Added", timedelta(hours=3))
    did(ordered_before_adding, "Order Completed", timedelta(hours=5))
    did(ordered_before_adding, "Product Added", timedelta(hours=3))

    assert members_at_now("cart_abandoners") == {abandoner.pk, ordered_before_adding.pk}


def test_cart_abandoners_leave_out_who_added_too_recently_too_long_ago_or_ordered_since():
    just_added, long_ago, bought = CustomerFactory(), CustomerFactory(), CustomerFactory()
    did(just_added, "Product Added", timedelta(minutes=30))
    did(long_ago, "Product Added", timedelta(hours=25))
    did(bought, "Product Added", timedelta(hours=3))
    did(bought, "Order Completed", timedelta(hours=2))

    assert members_at_now("cart_abandoners") == set()


# --- recent viewers: viewed a product in the last 10 minutes ----------------------------------


def test_recent_viewers_viewed_a_product_in_the_last_ten_minutes():
    now_viewing, earlier, only_added = CustomerFactory(), CustomerFactory(), CustomerFactory()
    did(now_viewing, "Product Viewed", timedelta(minutes=5))
    did(earlier, "Product Viewed", timedelta(minutes=11))
    did(only_added, "Product Added", timedelta(minutes=2))

    assert members_at_now("recent_viewers") == {now_viewing.pk}


# --- high-value engaged: RFM monetary 4 or 5 and engagement score at least 5 ------------------


def test_high_value_engaged_spend_in_the_top_two_fifths_and_are_still_engaged():
    top = TraitsFactory(rfm_monetary=5, engagement_log=engaged(6)).customer
    fourth = TraitsFactory(rfm_monetary=4, engagement_log=engaged(5)).customer

    assert members_at_now("high_value_engaged") == {top.pk, fourth.pk}


def test_high_value_engaged_leave_out_lower_spenders_and_the_disengaged():
    TraitsFactory(rfm_monetary=3, engagement_log=engaged(50))  # engaged, middle spend
    TraitsFactory(rfm_monetary=5, engagement_log=engaged(4.9))  # big spender, engagement just short
    TraitsFactory(rfm_monetary=5, engagement_log=None)  # big spender, no activity counted
    # Four weeks are two half-lives: 16 points then are 4 at NOW.
    TraitsFactory(rfm_monetary=5, engagement_log=engaged(16, NOW - timedelta(days=28)))
    TraitsFactory(rfm_monetary=None, engagement_log=engaged(50))  # never ordered

    assert members_at_now("high_value_engaged") == set()


def test_high_value_engaged_count_the_engagement_score_as_decayed_to_now():
    decayed_to_six = TraitsFactory(rfm_monetary=5, engagement_log=engaged(24, NOW - timedelta(days=28))).customer

    assert members_at_now("high_value_engaged") == {decayed_to_six.pk}


# --- lapsing: two orders or more, the last 60 days to a year ago ------------------------------


def test_lapsing_customers_ordered_twice_or_more_but_not_in_60_days():
    lapsing = ordered(2, last_ago=timedelta(days=90))
    just_lapsing = ordered(5, last_ago=timedelta(days=60))
    almost_a_year = ordered(3, last_ago=timedelta(days=364))

    assert members_at_now("lapsing") == {lapsing.pk, just_lapsing.pk, almost_a_year.pk}


def test_lapsing_leaves_out_one_time_buyers_recent_buyers_and_the_long_gone():
    ordered(1, last_ago=timedelta(days=90))
    ordered(4, last_ago=timedelta(days=59))
    ordered(2, last_ago=timedelta(days=365))
    CustomerFactory()

    assert members_at_now("lapsing") == set()


# --- new sign-ups: first seen less than 7 days ago ----------------------------------------------


def test_new_signups_were_first_seen_in_the_last_seven_days():
    new, six_days, old, never = CustomerFactory(), CustomerFactory(), CustomerFactory(), CustomerFactory()
    Customer.objects.filter(pk=new.pk).update(first_seen_at=NOW - timedelta(days=2))
    Customer.objects.filter(pk=six_days.pk).update(first_seen_at=NOW - timedelta(days=6, hours=23))
    Customer.objects.filter(pk=old.pk).update(first_seen_at=NOW - timedelta(days=7))
    Customer.objects.filter(pk=never.pk).update(first_seen_at=None)

    assert members_at_now("new_signups") == {new.pk, six_days.pk}


def test_a_profile_made_today_for_someone_seen_months_ago_is_not_a_new_signup():
    imported = CustomerFactory()  # created now, by an import, say
    Customer.objects.filter(pk=imported.pk).update(first_seen_at=NOW - timedelta(days=90))

    assert members_at_now("new_signups") == set()


# --- unengaged: an address, and no human open or click in 90 days -------------------------------


def test_unengaged_have_an_address_and_neither_opened_nor_clicked_in_90_days():
    quiet, opened_long_ago, clicked_long_ago = CustomerFactory(), CustomerFactory(), CustomerFactory()
    did(opened_long_ago, "Email Opened", timedelta(days=91))
    did(clicked_long_ago, "Email Link Clicked", timedelta(days=120))

    assert members_at_now("unengaged") == {quiet.pk, opened_long_ago.pk, clicked_long_ago.pk}


def test_unengaged_leave_out_who_opened_or_clicked_recently_and_who_have_no_address():
    opener, clicker = CustomerFactory(), CustomerFactory()
    CustomerFactory(email="")
    did(opener, "Email Opened", timedelta(days=10))
    did(clicker, "Email Link Clicked", timedelta(days=89))

    assert members_at_now("unengaged") == set()


def test_opens_and_clicks_by_link_scanners_do_not_count_as_engagement():
    scanned = CustomerFactory()
    did(scanned, "Email Opened", timedelta(days=1), bot="link-scanner")
    did(scanned, "Email Link Clicked", timedelta(days=1), bot="too-fast-after-sending")

    assert members_at_now("unengaged") == {scanned.pk}


def test_a_human_open_counts_even_next_to_a_scanner_open():
    person = CustomerFactory()
    did(person, "Email Opened", timedelta(days=1), bot="link-scanner")
    did(person, "Email Opened", timedelta(days=1))

    assert members_at_now("unengaged") == set()
