"""What a campaign earned, per variant and against its holdout, from what came back: the
ESP's webhooks (one ESP, SendGrid, naming each message by Tailor's metadata), the open
pixel and the click redirect, the shop's orders and the one-click unsubscribes."""

import base64
import itertools
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign, Message, MessageStatus
from campaigns.results import HOLDOUT, campaign_results
from tests.campaigns.support import campaign_to, cast, mime, outbox_for, send
from tests.factories import EventFactory
from tracking.models import EventType
from tracking.services import events_process

pytestmark = [
    pytest.mark.django_db,
    # Anymail warns on every SendGrid request that it no longer supports SendGrid officially.
    pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning"),
]

SECRET = "hook:secret"
A_PERSON = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4"
APPLE_PROXY = "17.58.63.12"
WINDOW = timedelta(hours=120)  # the campaign's attribution window
event_ids = itertools.count()


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}


def local(url: str) -> str:
    return url.removeprefix(settings.TAILOR_BASE_URL)


class Shop:
    """A campaign of two variants and a holdout, sent two hours ago, and what came back."""

    def __init__(self, client):
        self.client = client
        self.campaign = campaign_to([], variants={"A": 1, "B": 1}, holdout_percent=30, attribution_hours=120)
        people = cast(self.campaign, {"A": 4, "B": 4, HOLDOUT: 3}, tracking=True)
        self.a, self.b, self.holdout = people["A"], people["B"], people[HOLDOUT]
        self.campaign = send(self.campaign)
        assert self.campaign.state == "sent"
        # As if it went out two hours ago: engagement is dated from then.
        self.sent_at = timezone.now() - timedelta(hours=2)
        Message.objects.filter(campaign=self.campaign, status=MessageStatus.SENT).update(sent_at=self.sent_at)
        Campaign.objects.filter(pk=self.campaign.pk).update(started_at=self.sent_at)
        self.messages = {row.customer_id: row for row in Message.objects.filter(campaign=self.campaign)}

    def webhook(self, event: str, customer, after: timedelta = timedelta(minutes=1), **fields):
        message = self.messages[customer.pk]
        body = [{
            "email": customer.email, "timestamp": int((self.sent_at + after).timestamp()), "event": event,
            "sg_event_id": f"sg-{event}-{next(event_ids)}", "sg_message_id": f"sg-{message.pk}.filter0001",
            "message": str(message.pk), **fields,
        }]  # fmt: skip
        credentials = "Basic " + base64.b64encode(SECRET.encode()).decode()
        response = self.client.post("/anymail/sendgrid/tracking/", data=json.dumps(body),
                                    content_type="application/json", HTTP_AUTHORIZATION=credentials)  # fmt: skip
        assert response.status_code == 200

    def pixel(self, customer, ip: str, user_agent: str = A_PERSON):
        [message] = outbox_for(customer)
        html = mime(message).get_body(preferencelist=("html",)).get_content()
        pixel = html.split('<img src="')[-1].split('"')[0]
        assert self.client.get(local(pixel), REMOTE_ADDR=ip, HTTP_USER_AGENT=user_agent).status_code == 200

    def click_by_a_scanner(self, customer):
        [message] = outbox_for(customer)
        html = mime(message).get_body(preferencelist=("html",)).get_content()
        click = next(part.split('"')[0] for part in html.split('href="')[1:] if "/t/c/" in part.split('"')[0])
        response = self.client.get(local(click), HTTP_USER_AGENT="Barracuda Sentinel (EE)")
        assert response.status_code == 302

    def order(self, customer, after: timedelta, revenue: str):
        EventFactory(customer=customer, type=EventType.ORDER_COMPLETED, occurred_at=self.sent_at + after,
                     properties={"order_id": f"order-{next(event_ids)}", "revenue": revenue})  # fmt: skip

    def one_click_unsubscribe(self, customer):
        [message] = outbox_for(customer)
        url = mime(message)["List-Unsubscribe"].strip().strip("<>")
        mailbox_provider = Client(enforce_csrf_checks=True)
        assert mailbox_provider.post(local(url), {"List-Unsubscribe": "One-Click"}).status_code == 200

    def results(self):
        events_process()
        results = campaign_results(campaign=Campaign.objects.get(pk=self.campaign.pk))
        return results, {arm.name: arm for arm in results.arms}


@pytest.fixture
def shop(client):
    return Shop(client)


def test_each_variant_counts_what_it_sent_and_the_esp_delivered_bounced_and_was_complained_about(shop):
    a1, a2, a3, a4 = shop.a
    for customer in [a1, a2, a3, *shop.b]:
        shop.webhook("delivered", customer, response="250 OK")
    shop.webhook("bounce", a4, type="bounce", reason="550 5.1.1 no such user")
    shop.webhook("spamreport", a3, after=timedelta(hours=1))

    _, arms = shop.results()

    counts = {name: (arm.recipients, arm.delivered, arm.bounced, arm.complaints) for name, arm in arms.items()}
    assert counts == {"A": (4, 3, 1, 1), "B": (4, 4, 0, 0), HOLDOUT: (3, 0, 0, 0)}


def test_opens_are_unique_people_and_privacy_proxy_opens_are_counted_apart(shop):
    a1, a2, _, _ = shop.a
    b1, b2, _, _ = shop.b
    shop.webhook("open", b1, useragent=A_PERSON)
    shop.webhook("open", b1, after=timedelta(minutes=30), useragent=A_PERSON)  # the same person again
    shop.webhook("open", b2, useragent=A_PERSON)
    shop.pixel(b1, ip=APPLE_PROXY)  # someone who opened for real is a person's open, not a proxy's
    shop.pixel(a1, ip="198.51.100.7")
    shop.pixel(a2, ip=APPLE_PROXY)

    _, arms = shop.results()

    assert (arms["A"].opens, arms["A"].proxy_opens) == (1, 1)
    assert (arms["B"].opens, arms["B"].proxy_opens) == (2, 0)


def test_clicks_are_unique_people_and_a_scanners_click_is_not_one(shop):
    a1, *_ = shop.a
    b1, b2, *_ = shop.b
    shop.webhook("click", b1, after=timedelta(minutes=10), url="https://shop.example.com/sale")
    shop.webhook("click", b1, after=timedelta(minutes=12), url="https://shop.example.com/sale")
    shop.webhook("click", b2, after=timedelta(minutes=10), url="https://shop.example.com/sale")
    shop.click_by_a_scanner(a1)

    _, arms = shop.results()

    assert (arms["A"].clicks, arms["B"].clicks) == (0, 2)


def test_an_order_within_the_window_after_a_click_converts_and_one_after_the_window_does_not(shop):
    b1, b2, b3, _ = shop.b
    clicked = timedelta(minutes=10)
    for customer in (b1, b2):
        shop.webhook("click", customer, after=clicked, url="https://shop.example.com/sale")
    shop.order(b1, after=clicked + timedelta(minutes=30), revenue="50.00")
    # The window is what counts, not the clock: this order is dated past it.
    shop.order(b2, after=clicked + WINDOW + timedelta(hours=1), revenue="80.00")
    shop.order(b3, after=timedelta(hours=1), revenue="20.00")  # bought, but never clicked

    _, arms = shop.results()

    assert (arms["B"].conversions, arms["B"].revenue) == (1, Decimal("50.00"))
    assert (arms["A"].conversions, arms["A"].revenue) == (0, Decimal("0"))


def test_an_order_before_the_click_does_not_convert(shop):
    b1, *_ = shop.b
    shop.order(b1, after=timedelta(minutes=5), revenue="35.00")
    shop.webhook("click", b1, after=timedelta(minutes=10), url="https://shop.example.com/sale")

    _, arms = shop.results()

    assert arms["B"].conversions == 0


def test_a_one_click_unsubscribe_through_list_unsubscribe_counts_for_its_variant(shop):
    _, _, _, b4 = shop.b

    shop.one_click_unsubscribe(b4)

    _, arms = shop.results()
    assert (arms["B"].unsubscribes, arms[HOLDOUT].unsubscribes) == (1, 0)


def test_the_lift_against_the_holdout_is_orders_within_the_window_after_the_send(shop):
    b1, b2, b3, _ = shop.b
    h1, _, _ = shop.holdout
    shop.order(b1, after=timedelta(hours=1), revenue="50.00")
    shop.order(b3, after=timedelta(hours=3), revenue="20.00")
    shop.order(b2, after=WINDOW + timedelta(hours=1), revenue="80.00")  # past the window
    shop.order(h1, after=timedelta(hours=2), revenue="30.00")

    results, arms = shop.results()

    assert (arms["B"].orders, arms["B"].order_revenue) == (2, Decimal("70.00"))
    assert (arms[HOLDOUT].orders, arms[HOLDOUT].order_revenue) == (1, Decimal("30.00"))
    lifts = {c.metric: c.lift for c in results.against_holdout["B"]}
    assert lifts["orders"] == pytest.approx((2 / 4 - 1 / 3) / (1 / 3))  # +50%
    assert lifts["order_revenue"] == pytest.approx((70 / 4 - 30 / 3) / (30 / 3))  # +75%
    assert {c.metric: c.lift for c in results.against_holdout["A"]}["orders"] == pytest.approx(-1.0)


def test_variants_are_compared_with_control(shop):
    shop.webhook("open", shop.a[0], useragent=A_PERSON)
    for customer in shop.b[:2]:
        shop.webhook("open", customer, useragent=A_PERSON)

    results, _ = shop.results()

    assert set(results.against_control) == {"B"}
    opens = next(c for c in results.against_control["B"] if c.metric == "opens")
    assert opens.lift == pytest.approx(1.0)  # 2 of 4 against 1 of 4
    assert opens.test.difference == pytest.approx(0.25)
    assert 0.5 < opens.probability_to_beat < 1
