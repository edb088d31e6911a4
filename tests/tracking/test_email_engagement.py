"""The open pixel and the click redirect of the email Tailor sends."""

import json
import zlib
from datetime import timedelta

import factory
import pytest
from django.conf import settings
from django.core import signing
from django.utils import timezone

from campaigns.models import Message, MessageKind, MessageStatus
from tests.factories import CustomerFactory
from tracking.models import Event
from tracking.selectors import click_url, open_pixel_url

pytestmark = pytest.mark.django_db

A_PERSON = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4"
LINKS = ["https://shop.example/new-shoes?utm_source=tailor", "https://shop.example/sale"]


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    customer = factory.SubFactory(CustomerFactory)
    kind = MessageKind.MARKETING
    status = MessageStatus.SENT
    subject = "New shoes"
    links = factory.LazyFunction(lambda: list(LINKS))
    sent_at = factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=10))


@pytest.fixture
def message():
    return MessageFactory()


def local(url: str) -> str:
    assert url.startswith(settings.TAILOR_BASE_URL + "/")
    return url.removeprefix(settings.TAILOR_BASE_URL)


def pixel_path(message) -> str:
    return local(open_pixel_url(message_id=message.pk))


def click_path(message, link_index: int = 0) -> str:
    return local(click_url(message_id=message.pk, link_index=link_index))


def open_(client, message, **headers):
    return client.get(pixel_path(message), HTTP_USER_AGENT=headers.pop("user_agent", A_PERSON), **headers)


def click(client, message, link_index: int = 0, **headers):
    return client.get(click_path(message, link_index), HTTP_USER_AGENT=headers.pop("user_agent", A_PERSON), **headers)


def tampered(path: str) -> str:
    return path[:-1] + ("A" if path[-1] != "A" else "B")


# --- the open pixel -----------------------------------------------------------------


def test_the_open_pixel_answers_a_gif(client, message):
    response = open_(client, message)

    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    assert response.content.startswith(b"GIF89a")


def test_an_open_is_stored_as_email_opened_of_the_message_and_its_customer(client, message):
    open_(client, message)

    event = Event.objects.get()
    assert (event.type, event.email_message, event.customer) == ("Email Opened", message, message.customer)


def test_an_open_by_a_customer_the_shop_gave_no_id_stays_linked_to_them(client):
    # People who subscribed through a form or an import are known by their address only.
    message = MessageFactory(customer=CustomerFactory(external_id=None))

    open_(client, message)

    event = Event.objects.get()
    assert (event.type, event.customer) == ("Email Opened", message.customer)


def test_a_tampered_pixel_token_is_a_404_and_stores_nothing(client, message):
    response = client.get(tampered(pixel_path(message).removesuffix(".gif")) + ".gif")

    assert response.status_code == 404
    assert not Event.objects.exists()


# --- the click redirect ----------------------------------------------------------------


def test_a_click_redirects_to_exactly_the_registered_link(client, message):
    response = click(client, message, link_index=1)

    assert response.status_code == 302
    assert response["Location"] == LINKS[1]


def test_a_click_is_stored_as_email_link_clicked_with_the_url(client, message):
    click(client, message, link_index=0)

    event = Event.objects.get()
    assert (event.type, event.email_message, event.customer) == ("Email Link Clicked", message, message.customer)
    assert event.properties["url"] == LINKS[0]


def test_a_tampered_click_token_is_a_404_and_stores_nothing(client, message):
    response = client.get(tampered(click_path(message)), HTTP_USER_AGENT=A_PERSON)

    assert response.status_code == 404
    assert not Event.objects.exists()


def test_a_link_index_past_the_registered_links_is_a_404_and_stores_nothing(client, message):
    response = click(client, message, link_index=len(LINKS))

    assert response.status_code == 404
    assert not Event.objects.exists()


def test_a_pixel_token_used_as_a_click_token_is_a_404(client, message):
    token = pixel_path(message).removeprefix("/t/o/").removesuffix(".gif")

    response = client.get(f"/t/c/{token}", HTTP_USER_AGENT=A_PERSON)

    assert response.status_code == 404
    assert not Event.objects.exists()


def test_a_click_token_holds_the_message_and_link_ids_and_no_url(message):
    token = click_path(message, link_index=1).removeprefix("/t/c/")
    payload_part = token.split(":")[0]  # readable by anyone: it is signed, not encrypted

    data = signing.b64_decode(payload_part.removeprefix(".").encode())
    if payload_part.startswith("."):  # compressed when that is shorter
        data = zlib.decompress(data)
    assert json.loads(data) == {"m": message.pk, "l": 1}


def test_a_target_added_to_the_click_address_is_ignored(client, message):
    response = client.get(click_path(message) + "?url=https://evil.example/&next=https://evil.example/")

    assert response["Location"] == LINKS[0]


# --- opens and clicks that were not a person ------------------------------------------------


def test_an_open_from_apples_network_is_flagged_as_a_privacy_proxy(client, message):
    open_(client, message, REMOTE_ADDR="17.58.63.12")

    assert Event.objects.get().properties["privacy_proxy"] == "apple-mail-privacy-protection"


def test_an_open_with_the_bare_mozilla_user_agent_is_flagged_as_a_privacy_proxy(client, message):
    open_(client, message, user_agent="Mozilla/5.0")

    assert Event.objects.get().properties["privacy_proxy"] == "apple-mail-privacy-protection"


def test_an_open_by_a_person_is_not_flagged(client, message):
    open_(client, message, REMOTE_ADDR="198.51.100.7")

    properties = Event.objects.get().properties
    assert "privacy_proxy" not in properties
    assert "bot" not in properties


def test_a_click_by_a_link_scanner_is_flagged_as_a_bot(client, message):
    response = click(client, message, user_agent="Barracuda Sentinel (EE)")

    assert response.status_code == 302
    assert Event.objects.get().properties["bot"] == "link-scanner"


def test_a_head_request_on_a_link_is_flagged_as_a_bot(client, message):
    response = client.head(click_path(message), HTTP_USER_AGENT=A_PERSON)

    assert response.status_code == 302
    assert Event.objects.get().properties["bot"] == "link-scanner"


def test_a_click_one_second_after_sending_is_flagged_as_a_bot(client):
    message = MessageFactory(sent_at=timezone.now() - timedelta(seconds=1))

    click(client, message)

    assert Event.objects.get().properties["bot"] == "too-fast-after-sending"


def test_a_click_by_a_person_minutes_after_sending_has_no_flags(client, message):
    click(client, message, REMOTE_ADDR="198.51.100.7")

    assert Event.objects.get().properties == {"url": LINKS[0], "link_index": 0}
