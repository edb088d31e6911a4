from celery import shared_task
from django.utils import timezone

from campaigns import services
from campaigns.selectors import campaign_get
from campaigns.sending.batches import TransientSendError


@shared_task
def campaign_start_task(campaign_id: int) -> None:
    services.campaign_start(campaign=campaign_get(campaign_id=campaign_id), now=timezone.now())


@shared_task(bind=True, max_retries=12)
def campaign_send_task(self, campaign_id: int) -> int:
    try:
        return services.campaign_batches_send(campaign_id=campaign_id)
    except TransientSendError as error:
        # The ESP said wait: back off 5 s, 10 s, 20 s … up to 10 minutes.
        raise self.retry(exc=error, countdown=min(600, 5 * 2**self.request.retries)) from error


@shared_task
def campaigns_due_task() -> None:
    services.campaigns_due_run()
