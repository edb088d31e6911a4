"""K-means clusters over RFM and engagement, each one a segment described in plain
words by its centroid ("frequent, recent, high spend").

A run fits the scaler and the centroids and rewrites each cluster's membership in
full; between runs, customers whose orders or engagement change are assigned to the
nearest stored centroid as their events are processed.
"""

import math
from datetime import datetime

import numpy as np
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from personalization.models import Clustering, Customer, RefreshStatus, Segment, SegmentKind, Traits
from personalization.segments.rules import Explanation
from personalization.services.traits import ENGAGEMENT_EVENTS, engagement_now
from tracking.hooks import ProcessedBatch

FEATURES = ["days_since_last_order", "orders", "revenue", "engagement"]
NO_ORDER_DAYS = 730  # people who never ordered sit as far away as two years
# The words for a centroid well above (+) or below (-) the average of a feature.
WORDS = {
    "days_since_last_order": ("lapsed", "recent"),
    "orders": ("frequent", "rare buyers"),
    "revenue": ("high spend", "low spend"),
    "engagement": ("engaged", "unengaged"),
}
NOTABLE = 0.5  # standard deviations from the average before a feature is worth a word
TRIGGERS = ENGAGEMENT_EVENTS | {"Order Completed"}


def _features(traits: Traits, now: datetime) -> list[float]:
    days = (now - traits.last_order_at).days if traits.last_order_at else NO_ORDER_DAYS
    return [
        float(min(days, NO_ORDER_DAYS)),
        math.log1p(traits.order_count),
        math.log1p(float(traits.revenue)),
        math.log1p(engagement_now(traits.engagement_log, now)),
    ]


def _people() -> QuerySet[Traits]:
    return Traits.objects.filter(customer__merged_into__isnull=True).only(
        "customer_id", "last_order_at", "order_count", "revenue", "engagement_log"
    )


def centroid_describe(centroid_scaled: list[float]) -> str:
    words = [
        WORDS[name][0] if value > NOTABLE else WORDS[name][1]
        for name, value in zip(FEATURES, centroid_scaled, strict=True)
        if abs(value) > NOTABLE
    ]
    return ", ".join(words) if words else "average on every count"


def clustering_run(*, clustering: Clustering, now: datetime | None = None) -> Clustering:
    """Fit K-means on everyone's traits and make each cluster's segment membership exact."""
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    from personalization.segments.services import segment_memberships_replace

    now = now or timezone.now()
    try:
        people = list(_people())
        if len(people) < clustering.clusters:
            raise ValueError(f"{len(people)} customers with activity cannot make {clustering.clusters} clusters.")
        matrix = np.array([_features(t, now) for t in people])
        scaler = StandardScaler().fit(matrix)
        scaled = scaler.transform(matrix)
        model = KMeans(n_clusters=clustering.clusters, n_init=10, random_state=0).fit(scaled)
        # Ordered by spend, so that cluster numbers mean the same from one run to the next.
        order = np.argsort(model.cluster_centers_[:, FEATURES.index("revenue")])
        rank = {int(old): new for new, old in enumerate(order)}
        with transaction.atomic():
            segments = _cluster_segments(clustering, model.cluster_centers_[order])
            members: dict[int, set[int]] = {i: set() for i in range(clustering.clusters)}
            for traits, label in zip(people, model.labels_, strict=True):
                members[rank[int(label)]].add(traits.customer_id)
            for index, segment in enumerate(segments):
                segment_memberships_replace(segment=segment, customer_ids=members[index], now=now)
            clustering.features = FEATURES
            clustering.scaler = {"mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist()}
            clustering.customers, clustering.inertia, clustering.ran_at = len(people), float(model.inertia_), now
            clustering.refresh_status, clustering.error = RefreshStatus.FRESH, ""
            clustering.save()
    except Exception as error:
        Clustering.objects.filter(pk=clustering.pk).update(refresh_status=RefreshStatus.FAILED, error=str(error))
        clustering.refresh_from_db()
    return clustering


def _cluster_segments(clustering: Clustering, centroids) -> list[Segment]:
    from personalization.segments.services import segment_memberships_replace

    segments = {s.centroid.get("index"): s for s in clustering.segments.all()}
    kept = []
    for index, centroid in enumerate(centroids):
        description = centroid_describe(centroid.tolist())
        segment = segments.pop(index, None) or Segment(kind=SegmentKind.CLUSTER, clustering=clustering)
        segment.name = f"Cluster {index + 1} of {clustering.clusters} (clustering #{clustering.pk}): {description}"
        segment.description = f"K-means over {', '.join(FEATURES)}: {description}."
        segment.centroid = {"index": index, "scaled": centroid.tolist()}
        segment.save()
        kept.append(segment)
    for stale in segments.values():  # fewer clusters than last time: their members leave first
        segment_memberships_replace(segment=stale, customer_ids=set(), now=timezone.now())
        stale.delete()
    return kept


def _nearest(clustering: Clustering, segments: list[Segment], traits: Traits, now: datetime) -> Segment:
    mean, scale = np.array(clustering.scaler["mean"]), np.array(clustering.scaler["scale"])
    point = (np.array(_features(traits, now)) - mean) / scale
    return min(segments, key=lambda s: float(np.sum((point - np.array(s.centroid["scaled"])) ** 2)))


def clusters_follow_events(*, batch: ProcessedBatch, now: datetime | None = None) -> None:
    """Assign customers whose orders or engagement changed to their nearest cluster."""
    from personalization.segments.services import segment_evaluate_assigned

    touched = {f.customer_id for f in batch.facts if f.customer_id is not None and f.type in TRIGGERS}
    if not touched:
        return
    now = now or timezone.now()
    for clustering in Clustering.objects.filter(ran_at__isnull=False):
        segments = list(clustering.segments.filter(is_active=True))
        if not segments:
            continue
        assigned: dict[int, set[int]] = {s.pk: set() for s in segments}
        for traits in _people().filter(customer_id__any_of=touched):
            assigned[_nearest(clustering, segments, traits, now).pk].add(traits.customer_id)
        for segment in segments:
            segment_evaluate_assigned(segment=segment, matching=assigned[segment.pk], scope=touched, now=now)


def cluster_explain(*, segment: Segment, customer: Customer) -> Explanation:
    """A cluster has no conditions: say which cluster is nearest and why."""
    now = timezone.now()
    traits = Traits.objects.filter(customer=customer).first()
    clustering = segment.clustering
    if traits is None or clustering is None or clustering.ran_at is None:
        return Explanation({}, "No activity to place this customer in a cluster", False)
    nearest = _nearest(clustering, list(clustering.segments.all()), traits, now)
    features = dict(zip(FEATURES, _features(traits, now), strict=True))
    observed = ", ".join(f"{name} {value:.2f}" for name, value in features.items())
    return Explanation({}, f"Nearest cluster: {nearest.name}", nearest.pk == segment.pk, observed)
