"""Sources in the admin: write keys, install snippet, counts, and the live view of events."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from django.utils.html import escape

from tracking.consumers import LiveEventsConsumer
from tracking.models import Event, Source
from tracking.services import EventDraft, events_process, events_store, live, source_counts_add

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'


@pytest.fixture
def root(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", "pw-123456789")


@pytest.fixture
def admin_client(client, root):
    client.force_login(root)
    return client


@pytest.fixture
def source(db):
    return Source.objects.create(name="Web shop")


def draft(message_id: str, **fields) -> EventDraft:
    values = {"message_id": message_id, "type": "Product Viewed", "occurred_at": WHEN, "user_id": "shop-1"}
    return EventDraft(**{**values, **fields})


# --- sources and their write keys ---------------------------------------------------------


def test_the_add_form_creates_a_source_with_a_write_key(admin_client):
    response = admin_client.post(
        "/admin/tracking/source/add/",
        {
            "name": "Mobile app",
            "is_active": "on",
            "consent_mode": "upstream",
            "events_per_second": "200",
            "allowed_origins": "*",
            "_save": "Save",
        },
    )

    assert response.status_code == 302
    source = Source.objects.get(name="Mobile app")
    assert source.write_key.startswith("wk_")
    assert len(source.write_key) > 30
    assert (source.consent_mode, source.events_per_second) == ("upstream", 200)


def test_the_change_page_shows_the_install_snippet_with_the_write_key(admin_client, source):
    html = admin_client.get(f"/admin/tracking/source/{source.pk}/change/").content.decode()

    snippet = (
        f'<script src="http://testserver/static/tailor/tailor.js" data-write-key="{source.write_key}" async></script>'
    )
    assert escape(snippet) in html  # shown as text to copy, not run on the admin page
    assert snippet not in html


def test_the_change_page_shows_the_counts_of_the_last_seven_days(admin_client, source):
    source_counts_add(counts={source.pk: Counter(stored=12, duplicate=3, refused=2, not_consented=1)})
    today = timezone.now().date()

    html = admin_client.get(f"/admin/tracking/source/{source.pk}/change/").content.decode()

    assert "<tr><th>day</th><th>stored</th><th>duplicate</th><th>refused</th><th>not consented</th></tr>" in html
    assert f"<tr><td>{today}</td><td>12</td><td>3</td><td>2</td><td>1</td></tr>" in html
    for days_ago in range(1, 7):
        assert f"<tr><td>{today - timedelta(days=days_ago)}</td><td>0</td><td>0</td><td>0</td><td>0</td></tr>" in html
    assert str(today - timedelta(days=7)) not in html


def test_the_changelist_shows_each_sources_counts_of_today(admin_client, source):
    other = Source.objects.create(name="Mobile app")
    source_counts_add(counts={source.pk: Counter(stored=12, duplicate=3), other.pk: Counter(stored=5, refused=4)})

    html = admin_client.get("/admin/tracking/source/").content.decode()

    web_row, app_row = _row(html, "Web shop"), _row(html, "Mobile app")
    assert '<td class="field-stored">12</td>' in web_row
    assert '<td class="field-duplicate">3</td>' in web_row
    assert '<td class="field-refused">0</td>' in web_row
    assert '<td class="field-stored">5</td>' in app_row
    assert '<td class="field-refused">4</td>' in app_row


def _row(html: str, name: str) -> str:
    start = html.index(f">{name}</a>")
    return html[start : html.index("</tr>", start)]


# --- the live view --------------------------------------------------------------------------


def test_the_live_page_lists_recent_events_with_their_source(admin_client, source):
    events_store(
        drafts=[
            draft("m-1", source_id=source.pk, product_sku="RUN-1"),
            draft("m-2", type="Order Completed", user_id="", anonymous_id="anon-9"),
        ]
    )

    response = admin_client.get("/admin/tracking/source/live/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "<td>Web shop</td><td>Product Viewed</td>" in html
    assert "<td>shop-1</td><td>RUN-1</td>" in html
    assert "<td>—</td><td>Order Completed</td>" in html
    assert "<td>anon-9</td>" in html


def test_a_signed_in_user_who_is_not_staff_is_sent_to_the_login_page(client, db):
    client.force_login(get_user_model().objects.create_user("shopper", password="pw-123456789"))

    response = client.get("/admin/tracking/source/live/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/admin/tracking/source/live/"


# --- attacker-controlled event fields are shown as text ----------------------------------------


@pytest.fixture
def hostile_events(source):
    """Events whose every field a visitor chose: a type, ids, a product id, properties and traits."""
    user_id = f"{IMG}user"
    events_store(
        drafts=[
            draft(
                "hostile-1",
                type=f"Viewed {SCRIPT}",
                user_id=user_id,
                anonymous_id=f"{SCRIPT}anon",
                product_sku=IMG,
                source_id=source.pk,
                properties={"name": SCRIPT, SCRIPT: IMG},
            ),
            draft(
                "hostile-2",
                type="Identify",
                user_id=user_id,
                source_id=source.pk,
                properties={"firstName": SCRIPT, "lastName": IMG, "bio": SCRIPT},
            ),
        ]
    )
    events_process()
    return Event.objects.get(message_id="hostile-1")


def assert_escaped(html: str, *shown: str) -> None:
    assert "<script>alert(1)" not in html
    assert "<img src=x" not in html
    for text in shown:
        assert escape(text) in html


def test_hostile_event_fields_are_escaped_on_the_live_page(admin_client, hostile_events):
    html = admin_client.get("/admin/tracking/source/live/").content.decode()

    assert_escaped(html, f"Viewed {SCRIPT}", f"{IMG}user", IMG)


def test_hostile_event_fields_are_escaped_on_the_event_changelist(admin_client, hostile_events):
    html = admin_client.get("/admin/tracking/event/").content.decode()

    assert_escaped(html, f"{IMG}user", f"{SCRIPT}anon", IMG)


def test_hostile_event_fields_are_escaped_on_the_event_page(admin_client, hostile_events):
    html = admin_client.get(f"/admin/tracking/event/{hostile_events.pk}/change/").content.decode()

    assert_escaped(html, f"{IMG}user", SCRIPT)


def test_hostile_event_fields_are_escaped_on_the_customer_page(admin_client, hostile_events):
    customer = hostile_events.customer
    assert customer is not None

    html = admin_client.get(f"/admin/personalization/customer/{customer.pk}/change/").content.decode()

    assert_escaped(html, f"Viewed {SCRIPT}", f"{IMG}user", SCRIPT)


# --- the live socket --------------------------------------------------------------------------


def _connect_as(user):
    """Open the admin's live socket as `user`; its result and the first message it receives."""

    async def scenario():
        communicator = WebsocketCommunicator(LiveEventsConsumer.as_asgi(), "/ws/admin/events")
        communicator.scope["user"] = user
        connected, code = await communicator.connect()
        received = None
        if connected:
            live._last_published = 0.0
            await sync_to_async(live.live_events_publish)(
                [draft("m-1", product_sku="RUN-1"), draft("m-2", user_id="", anonymous_id="anon-9")]
            )
            received = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return connected, code, received

    return async_to_sync(scenario)()


def test_the_live_socket_refuses_an_anonymous_user():
    connected, code, _ = _connect_as(AnonymousUser())

    assert (connected, code) == (False, 4401)


def test_the_live_socket_refuses_a_signed_in_user_who_is_not_staff(db):
    shopper = get_user_model().objects.create_user("shopper", password="pw-123456789")

    connected, code, _ = _connect_as(shopper)

    assert (connected, code) == (False, 4401)


def test_a_staff_member_on_the_live_socket_receives_published_events(root):
    connected, _, received = _connect_as(root)

    assert connected
    assert received == {
        "events": [
            {"at": WHEN.isoformat(), "type": "Product Viewed", "source": None, "person": "shop-1", "product": "RUN-1"},
            {"at": WHEN.isoformat(), "type": "Product Viewed", "source": None, "person": "anon-9", "product": ""},
        ]
    }
