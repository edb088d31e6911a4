"""WebSocket consumers of the campaigns app: a campaign's progress, live, for staff."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from campaigns.models import Campaign
from campaigns.selectors import campaign_progress, campaign_progress_group
from tracking.consumers import CLOSE_UNAUTHENTICATED

CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404


def _may_view(user) -> bool:
    return user.has_perm("campaigns.view_campaign")


def _progress_of(campaign_id: int) -> dict | None:
    campaign = Campaign.objects.select_related("winner").filter(pk=campaign_id).first()
    return campaign_progress(campaign=campaign) if campaign is not None else None


class CampaignProgressConsumer(AsyncJsonWebsocketConsumer):
    """/ws/campaigns/<id>/progress: where the campaign stands when the socket opens, then
    each change the senders publish (campaigns.services.campaign_progress_publish), as
    {"progress": {...}} (campaigns.selectors.campaign_progress)."""

    group = None

    async def connect(self):
        user = self.scope.get("user")
        if not (user and user.is_authenticated and user.is_staff):
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not await database_sync_to_async(_may_view)(user):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        campaign_id = self.scope["url_route"]["kwargs"]["campaign_id"]
        # Joined before reading, so that no change between the read and the join is missed.
        group = campaign_progress_group(campaign_id)
        await self.channel_layer.group_add(group, self.channel_name)
        progress = await database_sync_to_async(_progress_of)(campaign_id)
        if progress is None:
            await self.channel_layer.group_discard(group, self.channel_name)
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.group = group
        await self.accept()
        await self.send_json({"progress": progress})

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def campaign_progress(self, message):
        await self.send_json({"progress": message["progress"]})
