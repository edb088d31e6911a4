"""Reads of the campaigns app."""

from django.db.models import Count, Q

from campaigns.models import Campaign, Message, MessageStatus, ScheduleMode
from core.errors import NotFound


def message_get(*, message_id: int) -> Message | None:
    return Message.objects.select_related("customer").filter(pk=message_id).first()


def message_for_esp(*, metadata_id, esp_message_id: str) -> Message | None:
    """The message an ESP reports on: by the id Tailor put in its metadata, else by the ESP's own id."""
    if str(metadata_id or "").isdigit():
        found = message_get(message_id=int(metadata_id))
        if found is not None:
            return found
    if esp_message_id:
        named = Message.objects.exclude(esp_message_id="")  # as the index has them: rows an ESP named
        return named.select_related("customer").filter(esp_message_id=esp_message_id).first()
    return None


def campaign_progress_group(campaign_id: int) -> str:
    return f"tailor-campaign-{campaign_id}"


def campaign_progress(*, campaign: Campaign) -> dict:
    """Where a campaign stands: its state and how many of its rows are in each state."""
    counts = campaign_counts(campaign=campaign)
    return {
        "campaign": campaign.pk,
        "state": campaign.state,
        "planned": sum(counts.values()),
        "counts": counts,
        "left_out": campaign.left_out,
        "winner": campaign.winner.name if campaign.winner_id else None,
        "winner_decision": campaign.winner_decision,
    }


def campaign_get(*, campaign_id: int) -> Campaign:
    campaign = Campaign.objects.select_related("topic", "winner").filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFound(f"No campaign has id {campaign_id}.", details={"campaign_id": campaign_id})
    return campaign


def campaign_list():
    return Campaign.objects.select_related("topic", "winner").prefetch_related("variants", "segments")


def campaign_counts(*, campaign: Campaign) -> dict[str, int]:
    """How many of the campaign's ledger rows are in each state."""
    return dict(Message.objects.filter(campaign=campaign).values_list("status").annotate(Count("id")))


def campaign_due_count(*, campaign: Campaign, now) -> int:
    due = Q(send_after__isnull=True) | Q(send_after__lte=now)
    return Message.objects.filter(campaign=campaign, status=MessageStatus.PLANNED).filter(due).count()


def campaign_waits_for_its_time(*, campaign: Campaign, now) -> bool:
    """A campaign sent for a time still to come (the others start as soon as a worker can)."""
    return campaign.schedule_mode == ScheduleMode.AT and campaign.send_at is not None and campaign.send_at > now
