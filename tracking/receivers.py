from anymail.signals import tracking
from django.dispatch import receiver

from tracking.services import esp_event_store


@receiver(tracking, dispatch_uid="tailor-esp-tracking")
def esp_tracking_event_received(sender, event, esp_name, **kwargs):
    esp_event_store(esp_name=esp_name, event=event)
