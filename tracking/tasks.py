from celery import shared_task
from django.core.cache import cache

from tracking.services import events_process
from tracking.services.ingest import PROCESSING_FLAG


@shared_task
def events_process_task() -> int:
    # Cleared first: events stored from now on schedule another run.
    cache.delete(PROCESSING_FLAG)
    return events_process()
