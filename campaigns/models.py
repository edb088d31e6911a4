from django.db import models

from core.models import BaseModel
from personalization.models import Customer


class MessageKind(models.TextChoices):
    TRANSACTIONAL = "transactional", "Transactional (e.g. opt-in confirmation)"
    MARKETING = "marketing", "Marketing"


class MessageStatus(models.TextChoices):
    CLAIMED = "claimed", "Claimed, being sent"
    SENT = "sent", "Handed to the ESP"
    FAILED = "failed", "Failed"


class Message(BaseModel):
    """One email to one person: the sending ledger. Links are registered here when it
    is sent, so that a click can only ever redirect to one of them."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=20, choices=MessageKind.choices)
    status = models.CharField(max_length=10, choices=MessageStatus.choices, default=MessageStatus.CLAIMED)
    subject = models.CharField(max_length=500, blank=True)
    esp_message_id = models.CharField(max_length=255, blank=True, db_index=True)
    links = models.JSONField(default=list, blank=True, help_text="The tracked links, in order.")
    sent_at = models.DateTimeField(null=True, blank=True)
    failure = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} to customer {self.customer_id}"
