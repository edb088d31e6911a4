"""What ESPs report about sent email, through django-anymail's tracking webhooks."""

import base64
import json
from datetime import UTC, datetime, timedelta

import factory
import pytest
from django.utils import timezone

from campaigns.models import Message, MessageKind, MessageStatus
from consent.models import ConsentSource, Purpose, Suppression, SuppressionReason
from consent.selectors import can_email, is_suppressed
from consent.services import consent_grant
from tests.factories import CustomerFactory
from tracking.models import Event
from tracking.services import events_process

pytestmark = [
    pytest.mark.django_db,
    # Anymail warns on every SendGrid request that it no longer supports SendGrid officially.
    pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning"),
]

SECRET = "hook:secret"
SENT_AT = 1_793_527_200  # 2026-11-01 10:00 UTC


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    customer = factory.SubFactory(CustomerFactory)
    kind = MessageKind.MARKETING
    status = MessageStatus.SENT
    esp_message_id = factory.Sequence(lambda n: f"anymail-id-{n}")
    sent_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}


@pytest.fixture
def message():
    return MessageFactory()


def basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


def post(client, esp: str, body, *, auth: str | None = SECRET):
    headers = {"HTTP_AUTHORIZATION": basic(auth)} if auth else {}
    return client.post(f"/anymail/{esp}/tracking/", data=json.dumps(body), content_type="application/json", **headers)


def sendgrid_event(event: str, message, **fields) -> dict:
    """One event of SendGrid's event webhook; Tailor's custom args sit at the top level."""
    return {
        "email": message.customer.email,
        "timestamp": SENT_AT + 60,
        "event": event,
        "sg_event_id": f"sg-{event}-{message.pk}",
        "sg_message_id": f"sg-message-{message.pk}.filter0001",
        "message": str(message.pk),
        **fields,
    }


def postmark_delivery(message) -> dict:
    return {
        "RecordType": "Delivery",
        "ServerID": 23,
        "MessageStream": "outbound",
        "MessageID": message.esp_message_id,
        "Recipient": message.customer.email,
        "Tag": "newsletter",
        "DeliveredAt": "2026-11-01T10:01:00.000Z",
        "Details": "Test delivery webhook details",
        "Metadata": {"message": str(message.pk)},
    }


# --- only the ESP may post ----------------------------------------------------------------


def test_a_webhook_without_basic_auth_is_refused_and_stores_nothing(client, message):
    response = post(client, "sendgrid", [sendgrid_event("delivered", message)], auth=None)

    assert response.status_code == 400
    assert not Event.objects.exists()


def test_a_webhook_with_the_wrong_secret_is_refused_and_stores_nothing(client, message):
    response = post(client, "sendgrid", [sendgrid_event("bounce", message)], auth="hook:guess")

    assert response.status_code == 400
    assert not Event.objects.exists()


# --- events are stored ----------------------------------------------------------------------


def test_sendgrid_events_are_stored_as_email_events_of_the_message_and_its_customer(client, message):
    response = post(
        client,
        "sendgrid",
        [
            sendgrid_event("delivered", message, response="250 OK"),
            sendgrid_event("open", message, useragent="Mozilla/5.0"),
            sendgrid_event("click", message, url="https://shop.example/sale"),
            sendgrid_event("spamreport", message),
        ],
    )

    assert response.status_code == 200
    events = Event.objects.order_by("id")
    assert [e.type for e in events] == ["Email Delivered", "Email Opened", "Email Link Clicked", "Email Marked as Spam"]
    assert {(e.email_message_id, e.customer_id) for e in events} == {(message.pk, message.customer_id)}
    assert events[2].properties["url"] == "https://shop.example/sale"


def test_a_sendgrid_bounce_is_stored_as_a_hard_bounce_with_its_recipient(client, message):
    post(client, "sendgrid", [sendgrid_event("bounce", message, reason="550 5.1.1 no such user", type="bounce")])

    event = Event.objects.get()
    assert event.type == "Email Bounced"
    assert event.properties["bounce_type"] == "hard"
    assert event.properties["recipient"] == message.customer.email
    assert (event.properties["esp"], event.properties["esp_event_id"]) == ("SendGrid", f"sg-bounce-{message.pk}")
    assert event.occurred_at == datetime(2026, 11, 1, 10, 1, tzinfo=UTC)


def test_an_event_without_tailors_metadata_is_linked_by_the_esp_message_id(client, message):
    event = sendgrid_event("delivered", message, anymail_id=message.esp_message_id)
    del event["message"]

    post(client, "sendgrid", [event])

    assert Event.objects.get().email_message == message


def test_events_that_tell_tailor_nothing_are_not_stored(client, message):
    response = post(client, "sendgrid", [sendgrid_event("processed", message)])

    assert response.status_code == 200
    assert not Event.objects.exists()


def test_the_same_sendgrid_event_posted_twice_is_stored_once(client, message):
    body = [sendgrid_event("delivered", message), sendgrid_event("open", message)]

    post(client, "sendgrid", body)
    response = post(client, "sendgrid", body)

    assert response.status_code == 200
    assert sorted(Event.objects.values_list("type", flat=True)) == ["Email Delivered", "Email Opened"]


def test_a_postmark_event_without_an_event_id_delivered_twice_is_stored_once(client, message):
    post(client, "postmark", postmark_delivery(message))
    response = post(client, "postmark", postmark_delivery(message))

    assert response.status_code == 200
    event = Event.objects.get()
    assert (event.type, event.email_message) == ("Email Delivered", message)


# --- what processing does with them ---------------------------------------------------------


def test_a_processed_hard_bounce_suppresses_the_address(client, message):
    post(client, "sendgrid", [sendgrid_event("bounce", message, type="bounce")])
    events_process()

    assert is_suppressed(message.customer.email)
    assert Suppression.objects.get().reason == SuppressionReason.HARD_BOUNCE


def test_a_processed_hard_bounce_for_an_unknown_message_still_suppresses_the_address(client):
    unknown = {"email": "Stranger@Example.com", "timestamp": SENT_AT, "event": "bounce", "sg_event_id": "sg-x"}

    post(client, "sendgrid", [unknown])
    events_process()

    assert is_suppressed("stranger@example.com")


@pytest.fixture
def subscriber(message):
    customer = message.customer
    consent_grant(customer=customer, purpose=Purpose.EMAIL_MARKETING, source=ConsentSource.API, actor="tests")
    assert can_email(customer)
    return customer


def test_a_processed_spam_report_stops_marketing_email(client, message, subscriber):
    post(client, "sendgrid", [sendgrid_event("spamreport", message)])
    events_process()

    assert not can_email(subscriber)
    assert Suppression.objects.get().reason == SuppressionReason.COMPLAINT


def test_a_processed_spam_report_withdraws_consent_on_the_ledger_of_a_customer_known_only_by_email(client):
    # People who subscribed through a form or an import have no id from the shop.
    message = MessageFactory(customer=CustomerFactory(external_id=None))
    consent_grant(customer=message.customer, purpose=Purpose.EMAIL_MARKETING, source=ConsentSource.API, actor="t")

    post(client, "sendgrid", [sendgrid_event("spamreport", message)])
    events_process()

    latest = message.customer.consent_records.filter(purpose=Purpose.EMAIL_MARKETING).first()
    assert (latest.decision, latest.source) == ("withdrawn", ConsentSource.ESP_COMPLAINT)
    assert Event.objects.get().customer == message.customer
