"""Celery entry points of personalization: thin adapters over its services."""

import logging

from celery import shared_task

from personalization.models import Clustering, Segment, SegmentKind
from personalization.segments.clustering import clustering_run
from personalization.segments.services import segment_checks_run, segment_refresh
from personalization.services.traits import traits_recompute

logger = logging.getLogger(__name__)


@shared_task
def segment_refresh_task(segment_id: int) -> None:
    segment = Segment.objects.filter(pk=segment_id, is_active=True, kind=SegmentKind.RULES).first()
    if segment is not None:
        segment_refresh(segment=segment)


@shared_task
def segments_refresh_task() -> None:
    """Every active rule-based segment in full, each on its own: one failing does not stop the rest."""
    for segment_id in Segment.objects.filter(is_active=True, kind=SegmentKind.RULES).values_list("pk", flat=True):
        segment_refresh_task.delay(segment_id)


@shared_task
def segment_checks_task() -> int:
    return segment_checks_run()


@shared_task
def traits_recompute_task() -> None:
    traits_recompute()


@shared_task
def clusterings_run_task() -> None:
    for clustering in Clustering.objects.all():
        clustering_run(clustering=clustering)


@shared_task
def recommender_train_task() -> int:
    from personalization.recommendations.training import recommender_train

    return recommender_train().pk


@shared_task
def propensity_train_task(kind: str) -> int:
    from personalization.propensity.training import propensity_train

    return propensity_train(kind=kind).pk
