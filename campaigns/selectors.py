"""Reads of the campaigns app."""

from campaigns.models import Message


def message_get(*, message_id: int) -> Message | None:
    return Message.objects.select_related("customer").filter(pk=message_id).first()


def message_for_esp(*, metadata_id, esp_message_id: str) -> Message | None:
    """The message an ESP reports on: by the id Tailor put in its metadata, else by the ESP's own id."""
    if str(metadata_id or "").isdigit():
        found = message_get(message_id=int(metadata_id))
        if found is not None:
            return found
    if esp_message_id:
        return Message.objects.select_related("customer").filter(esp_message_id=esp_message_id).first()
    return None
