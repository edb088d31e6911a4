"""A campaign's live progress (/ws/campaigns/<id>/progress): staff who may view campaigns
get where it stands on connecting, then each change the services publish; others are
refused with a close code that says why."""

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Permission
from django.test import Client

from campaigns.consumers import CLOSE_FORBIDDEN, CLOSE_NOT_FOUND, CampaignProgressConsumer
from campaigns.models import Campaign, CampaignState, Message, MessageKind, MessageStatus, Variant
from campaigns.selectors import campaign_progress
from campaigns.services import campaign_pause, campaign_progress_publish
from config.routing import websocket_urlpatterns
from tests.factories import CustomerFactory
from tests.templates.support import version_of
from tracking.consumers import CLOSE_UNAUTHENTICATED

# The routes' origin check reads ALLOWED_HOSTS when config.routing is imported, as here:
# before the test run adds "testserver".
OWN_ORIGIN = f"http://{next(host for host in settings.ALLOWED_HOSTS if '*' not in host)}".encode()

# Channels closes "old" database connections around what it runs, which would close the
# connection holding a test transaction: these tests commit for real.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def root(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", "pw-123456789")


@pytest.fixture
def campaign(db) -> Campaign:
    """Sending: three planned, one sent, one held out."""
    campaign = Campaign.objects.create(name="Spring sale", state=CampaignState.SENDING, left_out={"no_consent": 2})
    variant = Variant.objects.create(campaign=campaign, name="A", template_version=version_of("<p>Hi</p>"))
    for status in [MessageStatus.PLANNED] * 3 + [MessageStatus.SENT, MessageStatus.HELD_OUT]:
        held = status == MessageStatus.HELD_OUT
        Message.objects.create(campaign=campaign, customer=CustomerFactory(), kind=MessageKind.MARKETING,
                               status=status, variant=None if held else variant)  # fmt: skip
    return campaign


def path_of(campaign_id: int) -> str:
    return f"/ws/campaigns/{campaign_id}/progress"


def watch(user, campaign_id: int, *, then=None) -> tuple[bool, int | None, list[dict]]:
    """Connect to the consumer as `user`; (accepted, close code, messages received), with
    `then` (a sync callable) run once connected, and what it made the consumer send."""

    async def scenario():
        communicator = WebsocketCommunicator(CampaignProgressConsumer.as_asgi(), path_of(campaign_id))
        communicator.scope["user"] = user
        communicator.scope["url_route"] = {"args": (), "kwargs": {"campaign_id": campaign_id}}
        connected, code = await communicator.connect(timeout=10)
        received = []
        if connected:
            received.append(await communicator.receive_json_from(timeout=10))
            if then is not None:
                await sync_to_async(then)()
                received.append(await communicator.receive_json_from(timeout=10))
            assert await communicator.receive_nothing(timeout=0.2)
            await communicator.disconnect()
        return connected, (None if connected else code), received

    return async_to_sync(scenario)()


def test_staff_get_where_the_campaign_stands_on_connecting(root, campaign):
    connected, _, [first] = watch(root, campaign.pk)

    assert connected
    assert first == {
        "progress": {
            "campaign": campaign.pk,
            "state": "sending",
            "planned": 5,
            "counts": {"planned": 3, "sent": 1, "held_out": 1},
            "left_out": {"no_consent": 2},
            "winner": None,
            "winner_decision": "",
        }
    }


def test_a_change_the_services_publish_is_relayed(root, campaign):
    connected, _, [first, paused] = watch(root, campaign.pk, then=lambda: campaign_pause(campaign=campaign))

    assert connected
    assert first["progress"]["state"] == "sending"
    assert paused["progress"] == {**first["progress"], "state": "paused"}


def test_a_progress_published_for_another_campaign_is_not_relayed(root, campaign):
    other = Campaign.objects.create(name="Other", state=CampaignState.SENDING)

    def both():
        campaign_progress_publish(campaign=other)
        Message.objects.filter(campaign=campaign, status=MessageStatus.PLANNED).update(status=MessageStatus.SENT)
        campaign_progress_publish(campaign=campaign)

    _, _, [_, update] = watch(root, campaign.pk, then=both)

    assert update["progress"]["campaign"] == campaign.pk
    assert update["progress"]["counts"] == {"sent": 4, "held_out": 1}


def test_an_anonymous_visitor_is_refused(campaign):
    assert watch(AnonymousUser(), campaign.pk)[:2] == (False, CLOSE_UNAUTHENTICATED)


def test_a_signed_in_user_who_is_not_staff_is_refused(campaign):
    shopper = get_user_model().objects.create_user("shopper", password="pw-123456789")

    assert watch(shopper, campaign.pk)[:2] == (False, 4401)


def test_staff_who_may_not_view_campaigns_are_refused(campaign):
    staff = get_user_model().objects.create_user("support", password="pw-123456789", is_staff=True)

    assert watch(staff, campaign.pk)[:2] == (False, CLOSE_FORBIDDEN)

    staff.user_permissions.add(Permission.objects.get(codename="view_campaign"))
    staff = get_user_model().objects.get(pk=staff.pk)  # permissions are cached on the instance
    assert watch(staff, campaign.pk)[0] is True


def test_an_unknown_campaign_is_refused_with_4404(root, campaign):
    assert watch(root, campaign.pk + 1000)[:2] == (False, CLOSE_NOT_FOUND)
    assert CLOSE_NOT_FOUND == 4404


# --- through the routing, as the browser connects -----------------------------------------------


def through_routing(campaign_id: int, headers: list[tuple[bytes, bytes]]) -> tuple[bool, dict | None]:
    async def scenario():
        communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path_of(campaign_id), headers=headers)
        connected, _ = await communicator.connect(timeout=10)
        received = await communicator.receive_json_from(timeout=10) if connected else None
        if connected:
            await communicator.disconnect()
        return connected, received

    return async_to_sync(scenario)()


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


def test_the_route_takes_a_staff_session_from_tailors_own_pages(root, campaign):
    connected, received = through_routing(campaign.pk, [(b"origin", OWN_ORIGIN), (b"cookie", session_cookie(root))])

    assert connected
    assert received == {"progress": campaign_progress(campaign=campaign)}


def test_the_route_refuses_another_sites_page_and_a_missing_session(root, campaign):
    cookie = session_cookie(root)

    assert through_routing(campaign.pk, [(b"origin", b"https://evil.example"), (b"cookie", cookie)])[0] is False
    assert through_routing(campaign.pk, [(b"origin", OWN_ORIGIN)])[0] is False
