"""Adapters from other apps' signals and hooks to personalization's services."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from consent.signals import consent_changed
from personalization.models import Product
from personalization.propensity.conditions import SCORED
from personalization.propensity.training import SCORE_TRIGGERS, scores_write
from personalization.recommendations.interactions import WEIGHTS
from personalization.recommendations.serving import (
    recommendations_catalog_changed,
    recommendations_follow_events,
    recommendations_forget,
)
from personalization.segments.clustering import clusters_follow_events
from personalization.segments.services import segments_follow_consent, segments_follow_events
from tracking.hooks import ProcessedBatch, events_processed_subscribe


def _segments(batch: ProcessedBatch) -> None:
    segments_follow_events(batch=batch)


def _clusters(batch: ProcessedBatch) -> None:
    clusters_follow_events(batch=batch)


def _recommendations(batch: ProcessedBatch) -> None:
    touched = {f.customer_id for f in batch.facts if f.customer_id is not None and f.type in WEIGHTS}
    if touched:
        recommendations_follow_events(customer_ids=touched)


def _scores(batch: ProcessedBatch) -> None:
    touched = {f.customer_id for f in batch.facts if f.customer_id is not None and f.type in SCORE_TRIGGERS}
    if touched:
        for kind in SCORED:
            scores_write(kind=kind, customer_ids=touched)


events_processed_subscribe("scores", _scores)  # before segments, which may use the scores
events_processed_subscribe("segments", _segments)
events_processed_subscribe("recommendations", _recommendations)
events_processed_subscribe("clusters", _clusters)


@receiver(post_save, sender=Product)
@receiver(post_delete, sender=Product)
def _product_changed(sender, **kwargs) -> None:
    recommendations_catalog_changed()


@receiver(consent_changed)
def _consent_changed(sender, *, customer_ids, **kwargs) -> None:
    # Lists and scores were made under the old decision: a withdrawal stops them at once.
    recommendations_forget(customer_ids=customer_ids)
    for kind in SCORED:
        scores_write(kind=kind, customer_ids=customer_ids)
    segments_follow_consent(customer_ids=customer_ids)
