from celery import shared_task

from consent import services


@shared_task
def subscription_confirmation_send_task(opt_in_id: int) -> None:
    services.subscription_confirmation_send(opt_in_id=opt_in_id)


@shared_task
def data_request_run_task(request_id: int) -> None:
    services.data_request_run(request_id=request_id)


@shared_task
def retention_purge_task() -> None:
    services.retention_purge()
