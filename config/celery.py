"""The Celery application: broker and schedules come from Django settings (CELERY_*)."""

import os

from celery import Celery
from celery.signals import beat_init, celeryd_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("tailor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@celeryd_init.connect
@beat_init.connect
def _announce_mode(**kwargs) -> None:
    # A worker or beat that cannot reach its services should say so in one line
    # and stop, instead of retrying in a loop of tracebacks.
    from core.runtime import runtime_announce

    runtime_announce(process="worker" if "instance" in kwargs else "beat")
