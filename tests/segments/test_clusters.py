"""Clusters: K-means over recency, orders, spend and engagement, each cluster a segment
named in plain words; between runs, customers whose orders change move to the nearest
stored centroid as their events are processed."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from personalization.models import Clustering, RefreshStatus, Segment, SegmentKind, SegmentMembership
from personalization.segments.clustering import FEATURES, clustering_run
from personalization.segments.selectors import segment_member_ids
from personalization.services.traits import engagement_add
from tests.factories import ClusteringFactory, CustomerFactory, TraitsFactory
from tracking.models import Event, EventType
from tracking.services import EventDraft, events_process, events_store

pytestmark = pytest.mark.django_db


@pytest.fixture
def now():
    # Real time: between runs, processing places customers with the clock of the moment.
    return timezone.now()


@pytest.fixture
def groups(now) -> dict[str, set[int]]:
    """Three clearly separate groups of five: big recent spenders, small lapsed buyers, browsers."""

    def five(*, orders: int, spend: int, days_ago: int | None, engagement: float) -> set[int]:
        ids = set()
        for n in range(5):
            traits = TraitsFactory(
                order_count=orders + n % 2,
                revenue=Decimal(spend + 10 * n),
                last_order_at=now - timedelta(days=days_ago + n) if days_ago is not None else None,
                engagement_log=engagement_add(None, engagement + n, now) if engagement else None,
            )
            ids.add(traits.customer_id)
        return ids

    return {
        "vip": five(orders=12, spend=5000, days_ago=2, engagement=60),
        "lapsed": five(orders=2, spend=120, days_ago=300, engagement=1),
        "browsers": five(orders=0, spend=0, days_ago=None, engagement=0),
    }


@pytest.fixture
def clustering() -> Clustering:
    return ClusteringFactory(clusters=3)


def cluster_segments(clustering: Clustering) -> list[Segment]:
    return sorted(Segment.objects.filter(clustering=clustering), key=lambda s: s.centroid["index"])


def cluster_of(clustering: Clustering, customer_id: int) -> Segment:
    return SegmentMembership.objects.get(
        segment__clustering=clustering, customer_id=customer_id, exited_at__isnull=True
    ).segment


def test_a_run_makes_one_cluster_segment_per_cluster(groups, clustering, now):
    clustering_run(clustering=clustering, now=now)

    segments = cluster_segments(clustering)
    assert len(segments) == 3
    assert all(s.kind == SegmentKind.CLUSTER for s in segments)
    assert [s.centroid["index"] for s in segments] == [0, 1, 2]


def test_each_clearly_separate_group_is_one_cluster(groups, clustering, now):
    clustering_run(clustering=clustering, now=now)

    found = sorted((set(segment_member_ids(segment=s)) for s in cluster_segments(clustering)), key=min)
    assert found == sorted(groups.values(), key=min)


def test_clusters_are_numbered_by_spend(groups, clustering, now):
    clustering_run(clustering=clustering, now=now)

    low, middle, high = (set(segment_member_ids(segment=s)) for s in cluster_segments(clustering))
    assert (low, middle, high) == (groups["browsers"], groups["lapsed"], groups["vip"])


def test_cluster_names_and_descriptions_say_in_plain_words_what_sets_them_apart(groups, clustering, now):
    clustering_run(clustering=clustering, now=now)

    browsers, _, vip = cluster_segments(clustering)
    for words in ("high spend", "recent", "frequent", "engaged"):
        assert words in vip.name and words in vip.description
    for words in ("low spend", "lapsed", "rare buyers", "unengaged"):
        assert words in browsers.name
    assert vip.name.startswith(f"Cluster 3 of 3 (clustering #{clustering.pk}): ")
    assert vip.description.startswith(f"K-means over {', '.join(FEATURES)}")


def test_members_are_recorded_as_memberships_with_member_counts(groups, clustering, now):
    clustering_run(clustering=clustering, now=now)

    for segment in cluster_segments(clustering):
        assert segment.memberships.filter(exited_at__isnull=True, entered_at=now).count() == 5
        segment.refresh_from_db()
        assert (segment.member_count, segment.refresh_status, segment.refreshed_at) == (5, RefreshStatus.FRESH, now)


def test_every_customer_is_in_exactly_one_cluster(groups, clustering, now):
    clustering_run(clustering=clustering, now=now)

    everyone = set().union(*groups.values())
    for customer_id in everyone:
        assert (
            SegmentMembership.objects.filter(
                segment__clustering=clustering, customer_id=customer_id, exited_at__isnull=True
            ).count()
            == 1
        )


def test_the_first_run_records_entries_as_initial_segment_entered_events(groups, clustering, now):
    clustering_run(clustering=clustering, now=now)

    entered = Event.objects.filter(type=EventType.SEGMENT_ENTERED, customer_id__in=groups["vip"])
    assert entered.count() == 5
    assert all(e.properties["initial"] is True for e in entered)


def test_a_run_is_recorded_with_its_scaler_and_size(groups, clustering, now):
    clustering_run(clustering=clustering, now=now)

    clustering.refresh_from_db()
    assert clustering.refresh_status == RefreshStatus.FRESH and clustering.error == ""
    assert (clustering.customers, clustering.ran_at, clustering.features) == (15, now, FEATURES)
    assert len(clustering.scaler["mean"]) == len(clustering.scaler["scale"]) == len(FEATURES)
    assert clustering.inertia is not None


def test_a_second_run_keeps_the_segments_and_membership_that_did_not_change(groups, clustering, now):
    clustering_run(clustering=clustering, now=now)
    first = [s.pk for s in cluster_segments(clustering)]

    clustering_run(clustering=clustering, now=now + timedelta(hours=1))

    assert [s.pk for s in cluster_segments(clustering)] == first
    assert not SegmentMembership.objects.filter(segment__clustering=clustering, exited_at__isnull=False).exists()


def test_a_run_with_fewer_customers_than_clusters_is_recorded_as_failed(now):
    TraitsFactory(order_count=1, revenue=Decimal(10), last_order_at=now)
    TraitsFactory()
    clustering = ClusteringFactory(clusters=3)

    result = clustering_run(clustering=clustering, now=now)

    assert result.refresh_status == RefreshStatus.FAILED
    assert "2 customers with activity cannot make 3 clusters" in result.error
    assert result.ran_at is None
    assert not Segment.objects.filter(clustering=clustering).exists()


def test_a_failed_run_keeps_the_clusters_of_the_last_good_one(groups, clustering, now):
    clustering_run(clustering=clustering, now=now)
    Clustering.objects.filter(pk=clustering.pk).update(clusters=40)
    clustering.refresh_from_db()

    result = clustering_run(clustering=clustering, now=now + timedelta(days=1))

    assert result.refresh_status == RefreshStatus.FAILED
    assert result.ran_at == now
    assert len(cluster_segments(clustering)) == 3


def test_merged_profiles_are_left_out_of_clustering(groups, clustering, now):
    survivor = CustomerFactory()
    merged = TraitsFactory(order_count=3, revenue=Decimal(300), last_order_at=now).customer
    merged.merged_into = survivor
    merged.save()

    clustering_run(clustering=clustering, now=now)

    assert not SegmentMembership.objects.filter(customer=merged).exists()


# --- between runs --------------------------------------------------------------------------------


@pytest.fixture
def process(django_capture_on_commit_callbacks):
    """Store events and process them in one batch, as the worker would (the hook runs on commit)."""

    def process(*drafts: EventDraft) -> None:
        assert events_store(drafts=drafts).stored == len(drafts)
        with django_capture_on_commit_callbacks(execute=True):
            events_process()

    return process


def order(customer_id: int, revenue: int) -> EventDraft:
    return EventDraft(message_id=str(uuid.uuid4()), type="Order Completed", occurred_at=timezone.now(),
                      customer_id=customer_id, properties={"revenue": revenue})  # fmt: skip


def test_a_customer_whose_orders_changed_moves_to_the_nearest_cluster(groups, clustering, now, process):
    clustering_run(clustering=clustering, now=now)
    browsers, _, vip = cluster_segments(clustering)
    mover = min(groups["browsers"])

    process(*(order(mover, 450) for _ in range(12)))

    assert cluster_of(clustering, mover) == vip
    left = SegmentMembership.objects.get(segment=browsers, customer_id=mover)
    assert left.exited_at is not None


def test_a_move_between_clusters_is_recorded_as_exit_and_entry_events(groups, clustering, now, process):
    clustering_run(clustering=clustering, now=now)
    browsers, _, vip = cluster_segments(clustering)
    mover = min(groups["browsers"])

    process(*(order(mover, 450) for _ in range(12)))

    exited = Event.objects.get(type=EventType.SEGMENT_EXITED, customer_id=mover)
    entered = Event.objects.filter(type=EventType.SEGMENT_ENTERED, customer_id=mover, properties__segment_id=vip.pk)
    assert exited.properties["segment_id"] == browsers.pk
    assert entered.count() == 1 and "initial" not in entered.get().properties


def test_member_counts_follow_a_move(groups, clustering, now, process):
    clustering_run(clustering=clustering, now=now)
    mover = min(groups["browsers"])

    process(*(order(mover, 450) for _ in range(12)))

    counts = [s.member_count for s in cluster_segments(clustering)]
    assert counts == [4, 5, 6]


def test_a_customer_still_nearest_their_cluster_stays_in_it(groups, clustering, now, process):
    clustering_run(clustering=clustering, now=now)
    vip_customer = min(groups["vip"])
    before = cluster_of(clustering, vip_customer)

    process(order(vip_customer, 400))

    assert cluster_of(clustering, vip_customer) == before
    assert SegmentMembership.objects.filter(segment__clustering=clustering, customer_id=vip_customer).count() == 1


def test_a_customer_new_since_the_run_is_placed_once_they_order(groups, clustering, now, process):
    clustering_run(clustering=clustering, now=now)
    _, _, vip = cluster_segments(clustering)
    newcomer = CustomerFactory()

    process(*(order(newcomer.pk, 450) for _ in range(12)))

    assert cluster_of(clustering, newcomer.pk) == vip


def test_events_that_change_neither_orders_nor_engagement_move_nobody(groups, clustering, now, process):
    clustering_run(clustering=clustering, now=now)
    mover = min(groups["browsers"])
    coupon = EventDraft(message_id=str(uuid.uuid4()), type="Coupon Entered", occurred_at=timezone.now(),
                        customer_id=mover)  # fmt: skip

    process(coupon)

    assert SegmentMembership.objects.filter(segment__clustering=clustering, customer_id=mover).count() == 1
